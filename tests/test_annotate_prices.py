"""What a run costs: `--dry-run` prices each stage and provider live and through the Batch API
from the providers file's price table; `status` adds up the spend from the usage each reply
recorded, batch answers at the batch price, in a folder that mixes live and batch answers."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from annotate_support import answer, write_providers
from openai_script_server import completion

from critic.cli import main

LIVE = {"alpha": (2.0, 8.0), "beta": (1.0, 4.0)}
"""USD per million tokens in and out, as annotate_support.write_providers writes them."""


def run_args(world: Path, out: str, *extra: str) -> list[str]:
    return ["annotate", "run", "--paintings", str(world / "paintings.csv"), "--images", str(world / "images"),
            "--out", str(world / out), "--providers", str(world / "providers.toml"), "--test-count", "2",
            "--backoff", "0.001", "--no-progress", *extra]


def plan_rows(text: str) -> dict[str, list[list[str]]]:
    """The dry run's table: per stage, its own row then its providers' rows (cells after the label)."""
    stages: dict[str, list[list[str]]] = {}
    current = None
    for line in text.splitlines():
        cells = re.split(r"\s{2,}", line.strip())
        if len(cells) != 7 or cells[0] == "stage":
            continue
        if not line.startswith("  "):
            current = cells[0]
            stages[current] = []
        stages[current].append(cells)
    return stages


def usd(cell: str) -> float:
    return float(cell.replace("\u2264", "").replace("$", "").replace(",", "").strip())


def test_dry_run_prices_each_stage_and_provider_live_and_batch(world, server, capsys):
    text = (world / "providers.toml").read_text()  # alpha gets batch prices of its own
    text = text.replace('name = "alpha"\n', 'name = "alpha"\nbatch_price_in = 0.5\nbatch_price_out = 1.0\n')
    (world / "providers.toml").write_text(text)
    assert main(run_args(world, "out", "--dry-run")) == 0
    stages = plan_rows(capsys.readouterr().out)
    assert list(stages) == ["knowledge filter", "overall analyses", "perspective picks", "perspective analyses"]
    batch_prices = {"alpha": (0.5, 1.0), "beta": (0.5, 2.0)}  # beta: half its live price
    for label, (stage_row, *provider_rows) in stages.items():
        assert [row[0] for row in provider_rows] == (["alpha"] if label == "knowledge filter" else ["alpha", "beta"])
        for name, stored, to_send, tokens_in, tokens_out, live, batch in provider_rows:
            t_in, t_out = int(tokens_in.replace(",", "")), int(tokens_out.replace(",", ""))
            assert t_in > 0 and t_out > 0 and stored == "0"
            assert usd(live) == pytest.approx((t_in * LIVE[name][0] + t_out * LIVE[name][1]) / 1e6, abs=6e-5)
            assert usd(batch) == pytest.approx((t_in * batch_prices[name][0] + t_out * batch_prices[name][1]) / 1e6,
                                               abs=6e-5)
        assert usd(stage_row[5]) == pytest.approx(sum(usd(row[5]) for row in provider_rows), abs=2e-4)
        sent = sum(int(row[2].replace("\u2264", "")) for row in provider_rows)
        assert int(stage_row[2].replace("\u2264", "")) == sent
    assert server.log == [] and server.batch_api.calls == []


def usage_cost(body: dict, text: str, price: tuple[float, float]) -> float:
    usage = completion(body, text)["usage"]
    return (usage["prompt_tokens"] * price[0] + usage["completion_tokens"] * price[1]) / 1e6


def test_status_spend_counts_live_and_batch_answers_at_their_prices(world, server, capsys):
    # the first two paintings live, then the rest of the run through batches, in one folder
    assert main(run_args(world, "mixed", "--limit", "2")) == 0
    assert main(run_args(world, "mixed", "--batch", "--poll", "0.01")) == 0
    expected = {"alpha": 0.0, "beta": 0.0}
    for entry in server.log:
        name = entry.body["model"].split("-")[0]
        expected[name] += usage_cost(entry.body, answer(entry.body), LIVE[name])
    fake = server.batch_api
    bodies = {line["custom_id"]: line["body"] for upload in fake.uploaded for line in upload.lines()}
    for upload in fake.files.values():
        if upload.purpose == "batch_output":
            for line in upload.lines():
                body = bodies[line["custom_id"]]
                name = body["model"].split("-")[0]
                text = line["response"]["body"]["choices"][0]["message"]["content"]
                expected[name] += usage_cost(body, text, tuple(p / 2 for p in LIVE[name]))
    assert server.log and fake.uploaded
    capsys.readouterr()
    assert main(["annotate", "status", str(world / "mixed")]) == 0
    shown = capsys.readouterr().out
    for name in ("alpha", "beta"):
        line = next(line for line in shown.splitlines() if line.startswith(f"{name}:"))
        assert usd(re.search(r"\$[\d.,]+ spent", line).group(0).split()[0]) == pytest.approx(expected[name], abs=1e-4)
        assert "through batches" in line
    assert "batches: 7, 0 not collected" in shown

    # and the mixed folder exports what an all-live run does
    write_providers(world / "providers.toml", server.url)
    assert main(run_args(world, "live")) == 0
    for name in ("train.json", "test.json"):
        assert json.loads((world / "mixed" / name).read_text()) == json.loads((world / "live" / name).read_text())

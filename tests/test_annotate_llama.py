"""One end-to-end run of every annotate stage against a real OpenAI-compatible server:
`python -m llama_cpp.server` serving the tiny model on loopback.

The tiny model's words are noise (random weights); what is real is the HTTP path, the JSON
grammar the server builds from our schemas, and every stage from ingest to export.
"""

from __future__ import annotations

import json

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("uvicorn")  # the llama_cpp.server extra

from annotate_support import PAINTINGS, make_images, write_paintings  # noqa: E402

from critic.annotate.answer_store import AnswerStore  # noqa: E402
from critic.annotate.job import RunConfig, execute  # noqa: E402


def test_every_stage_against_llama_cpp_server(llama_server, tmp_path):
    url = llama_server() + "/v1"
    make_images(tmp_path / "images")
    write_paintings(tmp_path / "paintings.csv")
    providers = tmp_path / "providers.toml"
    providers.write_text(
        '[roles]\nknowledge = "local-a"\nanalysts = ["local-a", "local-b"]\n'
        + "".join(
            f'\n[[provider]]\nname = "{name}"\nbase_url = "{url}"\nmodel = "tiny"\n'
            'concurrency = 1\ntimeout = 120\nresponse_format = "json_object"\n'
            for name in ("local-a", "local-b")
        ),
        encoding="utf-8",
    )
    config = RunConfig(str(tmp_path / "paintings.csv"), str(tmp_path / "images"), str(tmp_path / "out"),
                       str(providers), test_count=1, retries=1, leak_retries=1, invalid_retries=0,
                       backoff=0.01, max_tokens=24, seed=0)
    stats = execute(config)
    out = tmp_path / "out"

    # the knowledge filter read a grammar-bound JSON answer for every painting
    knowledge = stats["stages"]["knowledge"]
    assert knowledge["asked"] == len(PAINTINGS) and knowledge["failed"] == 0
    assert knowledge["kept"] + knowledge["unknown"] == len(PAINTINGS)
    known = knowledge["kept"]
    # greedy decoding makes this fixed for a given tiny model; with none known, the later
    # stages would go untested (add paintings to the list if the model changes so)
    assert known >= 1
    # every later stage asked once per known painting and analyst, and picks parsed
    assert stats["stages"]["overall"]["asked"] == 2 * known
    assert stats["stages"]["picks"]["asked"] == known and stats["stages"]["picks"]["failed"] == 0
    # both analysts are the same greedy model, so they agree on at least one perspective
    sizes = {int(k): v for k, v in stats["intersection_sizes"].items()}
    assert sum(sizes.values()) == known and 0 not in sizes
    assert stats["stages"]["perspective"]["asked"] == 2 * sum(size * n for size, n in sizes.items())

    # 24 tokens of noise are no analysis: every one is rejected, none exported
    for stage in ("overall", "perspective"):
        rejected = stats["rejections"][stage]
        assert sum(rejected["by_reason"].values()) == rejected["dropped"] == stats["stages"][stage]["asked"]
        assert stats["stages"][stage]["kept"] == 0
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())
    kept = stats["stages"]["overall"]["kept"] + stats["stages"]["perspective"]["kept"]
    assert len(train) + sum(len(p["references"]) for p in test) == kept
    for record in train:
        assert record["conversations"][0]["value"].startswith("<image>\n")
        assert record["conversations"][1]["value"].strip()
    assert stats["split"]["test_paintings"] == min(1, stats["split"]["paintings"])
    with AnswerStore(out, readonly=True) as store:
        rows = list(store.rows())
    assert sum(r["tokens_out"] for r in rows) > 0  # usage came back from the server

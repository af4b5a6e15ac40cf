"""One end-to-end run of every annotate stage against a real OpenAI-compatible server:
`python -m llama_cpp.server` serving the tiny model on loopback.

The tiny model's words are noise (random weights); what is real is the HTTP path, the JSON
grammar the server builds from our schemas, and every stage from ingest to export.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp")
pytest.importorskip("uvicorn")  # the llama_cpp.server extra

from annotate.answers import AnswerStore  # noqa: E402
from annotate.run import RunConfig, execute  # noqa: E402
from annotate_support import PAINTINGS, make_images, write_paintings  # noqa: E402


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _model_files(folder: Path) -> tuple[Path, Path]:
    manifest = json.loads((folder / "critic.json").read_text())
    files = manifest["files"]
    return folder / files["llm"]["path"], folder / files["mmproj"]["path"]


@pytest.fixture
def llama_server(request, tmp_path):
    """The tiny model behind `python -m llama_cpp.server`; its base URL."""
    try:
        folder = Path(request.getfixturevalue("tiny_gguf"))
    except pytest.FixtureLookupError:
        pytest.skip("no tiny_gguf fixture: the tiny model is not built in this checkout")
    llm, mmproj = _model_files(folder)
    port = _free_port()
    log = open(tmp_path / "llama-server.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "llama_cpp.server", "--model", str(llm), "--clip_model_path", str(mmproj),
         "--chat_format", "llava-1-5", "--host", "127.0.0.1", "--port", str(port), "--n_ctx", "2048"],
        stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            assert process.poll() is None, (tmp_path / "llama-server.log").read_text(errors="replace")[-2000:]
            try:
                with urllib.request.urlopen(f"{url}/models", timeout=2) as reply:
                    if reply.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not come up"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_every_stage_against_llama_cpp_server(llama_server, tmp_path):
    make_images(tmp_path / "images")
    write_paintings(tmp_path / "paintings.csv")
    providers = tmp_path / "providers.toml"
    providers.write_text(
        '[roles]\nknowledge = "local-a"\nanalysts = ["local-a", "local-b"]\n'
        + "".join(
            f'\n[[provider]]\nname = "{name}"\nbase_url = "{llama_server}"\nmodel = "tiny"\n'
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

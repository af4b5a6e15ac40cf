"""--kv-cache q8_0 on the real llama.cpp: half the cache, held to the parity gates against transformers."""

from __future__ import annotations

import json

import pytest

from critic.engine.base import Settings
from critic.engine.llama import LlamaEngine
from critic.engine.prefix_cache import PrefixCache


def _answer(engine, painting) -> int:
    """Ask about `painting`; how many times it was encoded."""
    session = engine.open_session(painting)
    "".join(session.ask("What is here?", Settings(max_tokens=16)))
    session.close()
    return session.image_encodes


def test_a_q8_0_cache_keeps_entries_of_its_own_about_half_the_size(tiny256_gguf, painting, tmp_path):
    sizes = {}
    for kind in ("f16", "q8_0", "f16"):
        engine = LlamaEngine.from_folder(tiny256_gguf, n_ctx=2048, threads=1, kv_cache=kind,
                                         cache=PrefixCache(tmp_path / "cache", limit=1 << 30))
        try:
            before = set(PrefixCache(tmp_path / "cache").entries())
            encodes = _answer(engine, painting)
            new = set(PrefixCache(tmp_path / "cache").entries()) - before
            if kind in sizes:  # the f16 entry again: restored, not rebuilt, and the q8_0 one did not replace it
                assert new == set() and encodes == 0
            else:
                (entry,) = new
                sizes[kind] = entry.stat().st_size
                assert encodes == 1
            assert engine.runtime["kv_cache"] == kind
        finally:
            engine.close()
    # K and V of every position: 34 bytes per 32 values against 64 (the tail's logits are the same on both)
    assert 0.5 < sizes["q8_0"] / sizes["f16"] < 0.6


def test_a_q8_0_cache_holds_to_the_gates_against_transformers(tiny256_gguf, tiny256):
    from critic.convert.verify import verify

    report = verify(tiny256_gguf, tiny256 / "base", tiny256 / "vision-tower", tiny256 / "lora", kv_cache="q8_0")
    print(json.dumps(report.image))
    assert report.kv_cache == "q8_0" and report.failures == []
    assert report.image["image_tokens_exact"] == report.image["image_tokens"]


def test_the_flag_reaches_the_record_and_what_cannot_work_is_refused(installed_model, tiny256_gguf, painting,
                                                                     capsys):
    from critic.cli import main
    from critic.engine import registry

    # the tiny model's heads are 16 wide: llama.cpp would only fail to make its context
    assert main(["analyze", str(painting), "--max-tokens", "4", "--kv-cache", "q8_0"]) == 2
    assert "--kv-cache q8_0: this model's attention heads are 16 wide" in capsys.readouterr().err
    with pytest.raises(SystemExit) as refused:
        main(["analyze", str(painting), "--kv-cache", "q4"])
    assert refused.value.code == 2 and "invalid choice: 'q4'" in capsys.readouterr().err

    registry.add_folder(tiny256_gguf)
    common = ["analyze", str(painting), "--model", "tiny256", "--max-tokens", "4", "--no-facts", "--threads", "1",
              "--kv-cache", "q8_0"]
    assert main([*common, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["runtime"]["kv_cache"] == "q8_0"
    assert main([*common, "--format", "markdown"]) == 0
    assert "1 threads (1 for the prompt), q8_0 KV cache" in capsys.readouterr().out

"""The persistent prefix cache on the real llama.cpp: same answers, damaged entries rebuilt, bounded, bypassable."""

from __future__ import annotations

import json

import pytest

from critic.cli import main
from critic.engine import open_engine
from critic.engine.base import Settings, TurnRecord
from critic.engine.prefix_cache import PrefixCache

QUESTION = "What is here?"


def _answer(engine, painting, question=QUESTION):
    session = engine.open_session(painting)
    text = "".join(session.ask(question, Settings(max_tokens=24)))
    session.close()
    return text, session.turns[-1].timings, session.image_encodes


def test_a_painting_seen_before_is_restored_and_answers_the_same(installed_model, painting):
    plain = open_engine(threads=1, cache=False)
    try:
        reference, _, _ = _answer(plain, painting)
        follow, _, _ = _answer(plain, painting, "Where is the light?")
    finally:
        plain.close()
    assert list(PrefixCache().entries()) == []  # --no-cache keeps nothing

    engine = open_engine(threads=1)
    try:
        first, timings, encodes = _answer(engine, painting)
        assert encodes == 1 and timings.prefix_restore == 0 and len(PrefixCache().entries()) == 1
        again, timings, encodes = _answer(engine, painting)
        assert encodes == 0 and timings.image_encode == 0 and timings.prefix_restore > 0
        other, _, _ = _answer(engine, painting, "Where is the light?")
    finally:
        engine.close()
    assert first == again == reference and other == follow


def _header(entry) -> dict:
    from critic.engine.prefix_cache import MAGIC

    data = entry.read_bytes()
    return json.loads(data[len(MAGIC):].split(b"\n", 1)[0])


def test_the_same_question_again_reads_nothing_and_another_is_read_after_the_painting(installed_model, painting):
    other = "Where is the light?"
    plain = open_engine(threads=1, cache=False)
    try:
        reference = {q: _answer(plain, painting, q)[0] for q in (QUESTION, other)}
    finally:
        plain.close()
    engine = open_engine(threads=1)
    try:
        _, timings, _ = _answer(engine, painting)
        (entry,) = PrefixCache().entries()
        first = _header(entry)
        assert first["tail"] > 0 and first["n_logits"] == engine.llama.n_vocab() and timings.prefill > 0
        text, timings, encodes = _answer(engine, painting)
        # restored whole: no CLIP encode, not a token read, the first token sampled from the kept logits
        assert (text, encodes, timings.prefill) == (reference[QUESTION], 0, 0)
        assert timings.prompt_tokens == first["n_tokens"]
        text, timings, encodes = _answer(engine, painting, other)
        assert (text, encodes) == (reference[other], 0) and timings.prefill > 0  # the tail dropped, the question read
        newest = _header(entry)
        assert newest["prefix"] == first["prefix"] and newest["crc32"] != first["crc32"]  # it keeps the newest
        text, timings, _ = _answer(engine, painting, other)
        assert (text, timings.prefill) == (reference[other], 0)
    finally:
        engine.close()


def test_a_resumed_conversation_answers_as_without_the_cache(installed_model, painting):
    """A cached tail is dropped when earlier turns follow the painting; follow-ups read after them."""
    def resumed(engine) -> tuple[str, str]:
        first = _answer(engine, painting)[0]  # keeps an entry with this question as its tail (when caching)
        session = engine.open_session(painting)
        session.restore([TurnRecord(QUESTION, answer=first)])
        text = "".join(session.ask(QUESTION, Settings(max_tokens=24)))
        session.close()
        return first, text

    plain = open_engine(threads=1, cache=False)
    try:
        reference = resumed(plain)
    finally:
        plain.close()
    engine = open_engine(threads=1)
    try:
        assert resumed(engine) == reference
    finally:
        engine.close()


def test_damaged_entries_are_rebuilt_never_loaded(installed_model, painting):
    engine = open_engine(threads=1)
    try:
        reference, _, _ = _answer(engine, painting)
        (entry,) = PrefixCache().entries()
        data = bytearray(entry.read_bytes())
        for damage in (lambda d: d[: len(d) // 2], lambda d: d[:-10] + bytes(10), lambda d: b"junk" + d[4:]):
            entry.write_bytes(bytes(damage(data)))
            text, timings, encodes = _answer(engine, painting)
            assert encodes == 1 and timings.prefix_restore == 0 and text == reference
            assert entry.read_bytes() == bytes(data)  # rebuilt whole
    finally:
        engine.close()


def test_another_context_size_is_another_entry(installed_model, painting):
    for n_ctx in (2048, 4096):
        engine = open_engine(threads=1, n_ctx=n_ctx)
        try:
            _, _, encodes = _answer(engine, painting)
            assert encodes == 1
        finally:
            engine.close()
    assert len(PrefixCache().entries()) == 2


def test_the_cache_is_bounded_least_recently_used_first(tmp_path):
    cache = PrefixCache(tmp_path, limit=2500)
    for key in ("a", "b", "c"):
        cache.store(key, bytes(1000), 10)
        assert cache.load("a") is not None or key == "c"  # "a" kept fresh while there is room
    assert cache.load("a") is not None and cache.load("b") is None and cache.load("c") is not None
    assert cache.load("c").n_tokens == 10


def test_cache_verb_shows_bounds_and_clears(installed_model, painting, capsys):
    assert main(["analyze", str(painting), "--format", "json", "--max-tokens", "4", "--threads", "1"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert main(["analyze", str(painting), "--format", "json", "--max-tokens", "4", "--threads", "1"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert first["timings"]["prefix_restore"] == 0 and second["timings"]["prefix_restore"] > 0
    assert second["analysis"] == first["analysis"]
    assert main(["cache", "info"]) == 0
    assert "1 painting prefix(es)" in capsys.readouterr().out
    assert main(["cache", "limit", "0"]) == 0
    assert "removed 1" in capsys.readouterr().out
    assert main(["cache", "limit", "2"]) == 0 and main(["cache", "clear"]) == 0
    assert "removed 0" in capsys.readouterr().out.splitlines()[-1]
    with pytest.raises(SystemExit):
        main(["cache", "frobnicate"])


def test_a_batch_restores_but_keeps_nothing_new(installed_model, painting, tmp_path, capsys):
    other = tmp_path / "other.jpg"
    other.write_bytes(painting.read_bytes() + b"\0")  # another file, another sha256
    assert main(["analyze", str(painting), str(other), "--format", "json", "--max-tokens", "2", "--threads", "1"]) == 0
    assert PrefixCache().entries() == []
    assert main(["analyze", str(painting), "--format", "json", "--max-tokens", "2", "--threads", "1"]) == 0
    assert len(PrefixCache().entries()) == 1
    capsys.readouterr()
    assert main(["analyze", str(painting), str(other), "--format", "json", "--max-tokens", "2", "--threads", "1"]) == 0
    restored = [json.loads(line)["timings"]["prefix_restore"] > 0 for line in capsys.readouterr().out.splitlines()]
    assert restored == [True, False] and len(PrefixCache().entries()) == 1

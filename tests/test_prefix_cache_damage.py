"""Damaged prefix-cache entries are deleted, recomputed and said in one line, on the real llama.cpp: nothing
in an entry is trusted (its header's fields, its size, both checksums, the positions its state holds)."""

from __future__ import annotations

import json
import zlib

import pytest

from critic.cli import main
from critic.engine.base import Settings
from critic.engine.llama import LlamaEngine
from critic.engine.prefix_cache import MAGIC, PrefixCache

QUESTION = "What is here?"


def _answer(engine, painting):
    session = engine.open_session(painting)
    text = "".join(session.ask(QUESTION, Settings(max_tokens=16)))
    session.close()
    return text, session.image_encodes, session.notices


def _entry_parts(entry) -> tuple[dict, bytes]:
    data = entry.read_bytes()
    assert data.startswith(MAGIC)
    line, payload = data[len(MAGIC):].split(b"\n", 1)
    return json.loads(line), payload


def _with_header(header: dict, payload: bytes, recheck: bool) -> bytes:
    """An entry with `header`; `recheck`: its own checksum (CRC-32 of the JSON of its other fields, keys
    sorted) made to match, as a crafted file would."""
    if recheck:
        rest = {k: v for k, v in header.items() if k != "check"}
        header = {**rest, "check": zlib.crc32(json.dumps(rest, sort_keys=True).encode())}
    return MAGIC + json.dumps(header).encode() + b"\n" + payload


def _crafted_tail(header: dict, payload: bytes, ids: bytes, logits: bytes) -> bytes:
    """The entry with its tail's ids and logits replaced and every count and checksum made to match."""
    state = payload[4 * (header["tail"] + header["n_logits"]):]
    tail = len(ids) // 4
    crafted = {**header, "tail": tail, "n_tokens": header["prefix"] + tail, "n_logits": len(logits) // 4,
               "size": len(ids) + len(logits) + len(state), "crc32": zlib.crc32(ids + logits + state)}
    return _with_header(crafted, ids + logits + state, True)


def test_damaged_cache_entries_are_deleted_recomputed_and_said(installed_model, painting):
    engine = LlamaEngine.from_folder(installed_model.folder, threads=1, cache=PrefixCache())
    try:
        reference, encodes, _ = _answer(engine, painting)
        (entry,) = PrefixCache().entries()
        header, payload = _entry_parts(entry)
        n = header["n_tokens"]
        ids, logits = payload[:4 * header["tail"]], payload[4 * header["tail"]: 4 * (header["tail"] + header["n_logits"])]
        assert header["tail"] > 0 and len(logits) == 4 * engine.llama.n_vocab()
        flipped = bytearray(payload)
        flipped[len(flipped) // 3] ^= 0x04
        damages = {
            "a bit flipped in the position count": _with_header({**header, "n_tokens": n ^ 2}, payload, False),
            "a smaller position count, checksum made to match": _with_header({**header, "n_tokens": n - 2}, payload, True),
            "a larger position count, checksum made to match": _with_header({**header, "n_tokens": n + 64}, payload, True),
            "an absurd position count, checksum made to match": _with_header({**header, "n_tokens": 10 ** 9}, payload,
                                                                              True),
            "a huge size, checksum made to match": _with_header({**header, "size": 1 << 45}, payload, True),
            "a size of the wrong type": _with_header({**header, "size": "big"}, payload, True),
            "a bit flipped in the state": MAGIC + entry.read_bytes()[len(MAGIC):].split(b"\n", 1)[0] + b"\n"
                                          + bytes(flipped),
            "a header line that never ends": MAGIC + b"{" * 100_000,
            "a logit short, every checksum made to match": _crafted_tail(header, payload, ids, logits[:-4]),
            "a tail id past the vocabulary, every checksum made to match":
                _crafted_tail(header, payload, (10 ** 6).to_bytes(4, "little") + ids[4:], logits),
            "a tail with no logits, every checksum made to match": _crafted_tail(header, payload, ids, b""),
            "a folder in its place": None,
        }
        for what, damaged in damages.items():
            entry.unlink()
            if damaged is None:
                entry.mkdir()
                (entry / "x").write_text("x")
            else:
                entry.write_bytes(damaged)
            text, encodes, notices = _answer(engine, painting)
            assert text == reference and encodes == 1, what  # encoded again, and the same answer
            assert len(notices) == 1 and "damaged prefix cache entry" in notices[0] and "\n" not in notices[0], what
            assert entry.is_file() and _entry_parts(entry) == (header, payload), what  # rebuilt whole
            again, encodes, notices = _answer(engine, painting)
            assert again == reference and encodes == 0 and notices == [], what
    finally:
        engine.close()


def test_a_damaged_cache_entry_is_one_note_on_the_command_line(installed_model, painting, capsys):
    args = ["analyze", str(painting), "--format", "json", "--max-tokens", "4", "--threads", "1"]
    assert main(args) == 0
    reference = json.loads(capsys.readouterr().out)["analysis"]
    (entry,) = PrefixCache().entries()
    header, payload = _entry_parts(entry)
    entry.write_bytes(_with_header({**header, "n_tokens": 10 ** 9}, payload, True))
    assert main(args) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["analysis"] == reference
    notes = [line for line in captured.err.splitlines() if "prefix cache" in line]
    assert notes == ["critic: note: a damaged prefix cache entry (it records 1000000000 positions, and the context "
                     "holds 4096) was deleted: the painting is encoded again"]


def test_the_cache_reader_allocates_only_what_the_file_holds(tmp_path):
    cache = PrefixCache(tmp_path)
    cache.store("k", bytes(1000), 10)
    (entry,) = cache.entries()
    header, payload = _entry_parts(entry)
    entry.write_bytes(_with_header({**header, "size": 1 << 50}, payload, True))
    with pytest.raises(Exception) as refused:  # it used to allocate the 2^50 bytes the header promised
        cache.load("k")
    assert type(refused.value).__name__ == "DamagedEntry"
    assert "promises 1125899906842624 bytes of state, the file holds 1000" in str(refused.value)
    assert not entry.exists() and cache.load("k") is None

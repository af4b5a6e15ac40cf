"""File names with control characters, terminal escapes, bidirectional overrides or bytes that are not
UTF-8 reach no output raw: terminal, error lines, Markdown and text documents, reports, transcripts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from critic.cli import main
from critic.core.names import safe_name

NEWLINE = "a\n# Model: evil.jpg"
ESCAPES = "b\x1b[2J\x1b]0;pwned\x07.jpg"
RAW = ("\x1b", "\x07", "\n# Model: evil", "\u202e")


def _raw(text: str) -> list[str]:
    return [r for r in RAW if r in text]


def test_safe_name_escapes_what_a_terminal_or_markdown_would_act_on():
    cases = {
        NEWLINE: "a\\n# Model: evil.jpg",
        ESCAPES: "b\\x1b[2J\\x1b]0;pwned\\x07.jpg",
        "tab\there\r": "tab\\there\\r",
        "c1 \x9b31m": "c1 \\x9b31m",
        "gnp.\u202eexe.jpg": "gnp.\\u202eexe.jpg",
        "not-utf8-\udcff.jpg": "not-utf8-\\xff.jpg",  # the byte 0xff, as os.fsdecode gives it
        "Études, 日本, C:\\paintings\\x.jpg": "Études, 日本, C:\\paintings\\x.jpg",
    }
    for name, shown in cases.items():
        assert safe_name(name) == shown
    assert safe_name(Path("/tmp") / ESCAPES) == "/tmp/b\\x1b[2J\\x1b]0;pwned\\x07.jpg"


@pytest.fixture
def named(painting, tmp_path):
    paths = []
    for number, name in enumerate((NEWLINE, ESCAPES)):
        paths.append(tmp_path / name)
        paths[-1].write_bytes(painting.read_bytes() + bytes(number))  # another painting for each
    return paths


def test_analyze_prints_and_writes_names_escaped(installed_model, named, tmp_path, capsys):
    for number, path in enumerate(named):
        assert main(["analyze", str(path), "--format", "markdown", "--max-tokens", "3", "--threads", "1"]) == 0
        out = capsys.readouterr().out
        assert not _raw(out) and f"# Formal analysis — {safe_name(path.name)}" in out
        assert f"## Measured facts — {safe_name(path.name)}" in out
        document = tmp_path / f"handout{number}.md"
        assert main(["analyze", str(path), "--out", str(document), "--max-tokens", "3", "--threads", "1"]) == 0
        assert not _raw(document.read_text()) and not _raw(capsys.readouterr().err)
        text = tmp_path / f"handout{number}.txt"
        assert main(["analyze", str(path), "--out", str(text), "--max-tokens", "3", "--threads", "1"]) == 0
        assert not _raw(text.read_text())
        assert main(["analyze", str(path) + "-missing", "--max-tokens", "2"]) == 1
        err = capsys.readouterr().err
        assert not _raw(err) and f"{safe_name(path)}-missing: no such file" in err


def test_the_terminal_gets_no_raw_escape_from_facts_errors_or_a_name_that_is_not_utf8(painting, tmp_path):
    undecodable = tmp_path / os.fsdecode(b"c\xff.jpg")
    undecodable.write_bytes(painting.read_bytes())
    escapes = tmp_path / ESCAPES
    escapes.write_bytes(painting.read_bytes())
    code = "import sys; from critic.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    for argv in (["facts", str(escapes)], ["facts", str(undecodable)], ["analyze", str(escapes) + "x"],
                 ["facts", str(escapes), "--format", "json"]):
        child = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, env=env, timeout=120)
        out, err = child.stdout.decode("utf-8"), child.stderr.decode("utf-8")
        assert "Traceback" not in err and not _raw(out) and not _raw(err), argv
        if argv[1] == str(undecodable):
            assert child.returncode == 0 and "c\\xff.jpg" in out


def test_history_listing_transcripts_and_reports_escape_names(critic_home, named, capsys):
    from critic.cli.chat import print_history
    from critic.engine.base import TurnRecord
    from critic.history import History, Provenance
    from critic.report.build import records_report
    from critic.tui.transcript import to_markdown

    history = History()
    for path in named:
        history.create(path, "0" * 64, "tiny")
    print_history(history)
    assert not _raw(capsys.readouterr().out)
    for path in named:
        transcript = to_markdown(Provenance(str(path), "0" * 64, "tiny"), [TurnRecord("q", answer="a")])
        assert not _raw(transcript) and safe_name(path.name) in transcript
    records = [{"key": "k", "status": "ok", "image": {"path": str(path), "sha256": ""}, "question": "q",
                "analysis": "a"} for path in named]
    html, shown, _ = records_report(records)
    assert shown == 2 and not _raw(html) and safe_name(named[1].name) in html
    from critic.gallery.catalog import Entry

    assert [Entry(path).name for path in named] == [safe_name(path.name) for path in named]  # the gallery's tiles
    assert json.dumps(safe_name(named[0].name))  # plain text, fit for any output

"""`critic analyze` shows what the claim checker found, in every format, beside the measurement.

The answers come from the scripted OpenAI-compatible server on loopback (`--server`), since the
tiny model writes nothing a measurement could contradict.
"""

from __future__ import annotations

import json

import pytest
from openai_script_server import ScriptServer
from PIL import Image

from critic.cli import main

WRONG = "The canvas is a single field of colour. The palette is dominated by fiery reds. The mood is calm."
RIGHT = "The canvas is a single field of colour. Cool blues fill it from edge to edge."


@pytest.fixture()
def blue_field(tmp_path):
    path = tmp_path / "blue.png"
    Image.new("RGB", (120, 90), (30, 60, 160)).save(path)
    return path


def _analyze(blue_field, answer, fmt, capsys):
    with ScriptServer(lambda body: answer) as server:
        assert main(["analyze", str(blue_field), "--server", server.url, "--format", fmt, "--no-facts"]) == 0
    return capsys.readouterr().out


def test_text_shows_the_sentence_and_its_measurement(blue_field, capsys):
    out = _analyze(blue_field, WRONG, "text", capsys)
    assert out.count("The palette is dominated by fiery reds.") == 2  # the answer, then the note
    notes = out[out.index("Contradicted by the measurements:"):]
    assert "“The palette is dominated by fiery reds.”" in notes
    assert "reds cover only 0.0% of the canvas" in notes


def test_markdown_lists_each_contradicted_sentence(blue_field, capsys):
    out = _analyze(blue_field, WRONG, "markdown", capsys)
    section = out[out.index("## Claims the measurements contradict"):]
    assert "- “The palette is dominated by fiery reds.” — reds cover only 0.0% of the canvas" in section


def test_json_carries_the_flags(blue_field, capsys):
    record = json.loads(_analyze(blue_field, WRONG, "json", capsys))
    (flag,) = record["flags"]
    assert flag["kind"] == "colour" and flag["sentence"] == "The palette is dominated by fiery reds."
    assert record["analysis"][flag["start"]:flag["end"]] == flag["sentence"]
    assert "reds cover only" in flag["measurement"]


@pytest.mark.parametrize("fmt", ["text", "markdown"])
def test_an_accurate_analysis_gets_no_note(blue_field, capsys, fmt):
    out = _analyze(blue_field, RIGHT, fmt, capsys)
    assert "Cool blues fill it" in out and "contradict" not in out.lower()

"""The command line explains itself: help with examples everywhere, suggestions for slips, plain errors."""

from __future__ import annotations

import argparse

import pytest

from critic.cli import build_parser, main
from critic.cli.examples import sub_parsers


def test_critic_alone_prints_the_help_with_examples(capsys):
    assert main([]) == 0
    out = capsys.readouterr().out
    assert "analyze" in out and "examples:" in out and "critic chat painting.jpg" in out


def test_every_help_has_examples_and_every_option_says_what_it_does():
    for path, parser in sub_parsers(build_parser()):
        text = parser.format_help()
        examples = [line for line in text.splitlines() if line.startswith("  critic ")]
        assert "examples:" in text and len(examples) >= 2, f"`critic {path} --help` has no examples"
        for action in parser._actions:
            if isinstance(action, (argparse._HelpAction, argparse._VersionAction, argparse._SubParsersAction)):
                continue
            assert action.help, f"`critic {path}`: {action.option_strings or action.dest} says nothing"


def test_chat_help_lists_every_key_and_analyze_help_the_aspects():
    from critic.core.perspectives import PERSPECTIVES
    from critic.tui.app import ChatApp

    parsers = dict(sub_parsers(build_parser()))
    chat = " ".join(parsers["chat"].format_help().split())
    for binding in ChatApp.BINDINGS:
        assert binding.key.replace("escape", "Escape").replace("f", "F", 1 if binding.key[:1] == "f" else 0) in chat
    analyze = " ".join(parsers["analyze"].format_help().split())
    assert all(p.key in analyze for p in PERSPECTIVES)


def test_slips_get_a_suggestion(tmp_path, capsys, installed_model):
    painting = tmp_path / "starry_night.jpg"
    from PIL import Image

    Image.new("RGB", (64, 48), (30, 60, 140)).save(painting)
    assert main(["analyze", str(tmp_path / "stary_night.jpg")]) != 0
    assert "did you mean 'starry_night.jpg'?" in capsys.readouterr().err
    assert main(["analyze", str(painting), "--aspect", "compositon"]) == 2
    assert "did you mean 'composition'?" in capsys.readouterr().err
    assert main(["analyze", str(painting), "--model", "tinny"]) == 3
    assert "did you mean 'tiny'?" in capsys.readouterr().err


def test_numbers_name_perspectives_as_in_chat():
    from critic.core.perspectives import PERSPECTIVES, perspective

    assert perspective("3") == PERSPECTIVES[2]
    with pytest.raises(Exception, match="1-9"):
        perspective("10")


def test_a_pdf_gets_a_plain_error_with_what_to_do(tmp_path, capsys):
    pdf = tmp_path / "catalogue.pdf"
    pdf.write_bytes(b"%PDF-1.4 not a picture")
    assert main(["facts", str(pdf)]) != 0
    err = capsys.readouterr().err
    assert "not a picture file critic can read" in err and "export the page as an image" in err

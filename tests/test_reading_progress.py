"""Before the first word: which part of reading the prompt runs and how far (a 7B's first answer on a CPU takes
a minute), from the real engine on the tiny model to the CLI's status line and the chat's answer box."""

from __future__ import annotations

from critic.engine.base import Settings
from critic.engine.llama import ENCODING, READING_IMAGE, READING_TEXT


def test_the_engine_says_each_part_in_order(engine, painting):
    steps = []
    session = engine.open_session(painting)
    session.on_progress = lambda part, done, total: steps.append((part, done, total))
    "".join(session.ask("Describe it.", Settings(max_tokens=3)))
    image_tokens = session.turns[-1].timings.prompt_tokens  # at least the painting's positions
    assert steps[:2] == [(ENCODING, 0, 2), (ENCODING, 1, 2)]  # the exact layout's two encodes
    reading = [s for s in steps if s[0] == READING_IMAGE]
    positions = reading[-1][2]
    assert reading[0] == (READING_IMAGE, 0, positions) and reading[-1] == (READING_IMAGE, positions, positions)
    assert [s[1] for s in reading] == sorted(s[1] for s in reading) and 0 < positions < image_tokens
    assert steps[-1][0] == READING_TEXT
    steps.clear()
    "".join(session.ask("And the light?", Settings(max_tokens=3)))
    assert [s[0] for s in steps] == [READING_TEXT]  # a follow-up reads only its own text


def test_the_status_line_shows_on_a_terminal_and_goes(installed_model, painting, capsys, monkeypatch):
    import sys

    from critic.cli import main
    from critic.core.progress import ReadingStatus

    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    parts = []
    real = ReadingStatus.update
    monkeypatch.setattr(ReadingStatus, "update", lambda self, *step: (parts.append(step[0]), real(self, *step)))
    assert main(["analyze", str(painting), "--max-tokens", "3", "--no-facts", "--threads", "1"]) == 0
    captured = capsys.readouterr()
    assert parts[0] == ENCODING and READING_IMAGE in parts and parts[-1] == READING_TEXT
    assert "reading the question" in captured.err  # the line rich drew last, then cleared (\x1b[2K)
    assert "reading" not in captured.out


async def test_the_answer_box_shows_the_part_until_the_first_word():
    from textual.app import App
    from textual.widgets import Static

    from critic.tui.messages import AnswerItem

    class One(App):
        def compose(self):
            yield AnswerItem("tiny")

    app = One()
    async with app.run_test() as pilot:
        item = app.query_one(AnswerItem)
        item.reading(READING_IMAGE, 128, 576)
        await pilot.pause()
        note = item.query_one(".answer-note", Static)
        assert note.display and "reading the painting into the model 128/576" in str(note.render())
        await item.write("The")
        await pilot.pause()
        assert not note.display
        item.reading(READING_TEXT, 0, 9)  # late news is ignored once the answer has begun
        await pilot.pause()
        assert not note.display

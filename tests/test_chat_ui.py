"""Interface logic of `critic chat` with a scripted engine, the transcript format, and SVG snapshots.

The model's own behaviour (streaming, stopping, prefix reuse, resume) is tested against the
real tiny model in test_chat.py; here the engine is scripted so that the text and the
numbers on screen are fixed.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import pytest
from test_chat_support import ScriptedEngine, make_painting, wait_until
from textual.widgets import Input
from textual_image.widget import HalfcellImage

from critic.core.perspectives import BRIEF_SUFFIX, DEFAULT_QUESTION, PERSPECTIVES
from critic.engine.base import Settings, Timings, TurnRecord
from critic.facts.check import Flag
from critic.history import History, Provenance
from critic.tui.app import ChatApp
from critic.tui.dialogs import PerspectiveScreen, RegenerateScreen
from critic.tui.messages import AnswerItem, QuestionItem
from critic.tui.status import status_text
from critic.tui.transcript import PARTIAL_NOTE, mark_flags, printable, to_markdown

SIZE = (120, 40)
WRONG = "The palette is dominated by reds."
ANSWER = (f"{WRONG} A **yellow disc** sits left of centre, above a dark band.\n\n"
          "- the blue field fills most of the canvas\n- the band closes the bottom edge")


@pytest.fixture
def picture(tmp_path) -> Path:
    folder = tmp_path / "art"
    folder.mkdir()
    return make_painting(folder / "painting.png")


def scripted_app(picture: Path | None, script: list[str] | None = None, fail: str | None = None, **kwargs) -> ChatApp:
    def load():
        if fail:
            from critic.core.errors import ModelNotFound

            raise ModelNotFound(fail)
        return ScriptedEngine(script)

    return ChatApp(load, picture, settings=Settings(max_tokens=64), history=History(), image_widget=HalfcellImage,
                   **kwargs)


async def ready(pilot, app: ChatApp) -> None:
    await wait_until(pilot, lambda: app.engine is not None and app.conversation is not None, "ready")


async def answered(pilot, app: ChatApp, turns: int) -> None:
    await wait_until(pilot, lambda: not app.answering and len(app.conversation.turns) == turns, "the answer")


# -- pure parts ----------------------------------------------------------------------------------

def test_markdown_transcript_records_everything_needed_to_reproduce():
    header = Provenance("/art/painting.png", "ab" * 32, "gallerygpt", "Q4_K_M", "cd" * 32,
                        {"max_tokens": 512, "temperature": 0.0})
    turns = [TurnRecord("What is here?", "A sea.\x1b[31m", timings=Timings()),
             TurnRecord("And\nthe sky?", "Grey and", partial=True)]
    text = to_markdown(header, turns, 7, datetime(2025, 1, 2, 3, 4, 5, tzinfo=timezone.utc))
    assert text.splitlines()[:9] == [
        "# Conversation about painting.png", "",
        "- Painting: `/art/painting.png`", f"- Painting sha256: `{'ab' * 32}`",
        "- Model: gallerygpt (Q4_K_M)", f"- Model sha256: `{'cd' * 32}`",
        "- Settings: max_tokens 512, temperature 0.0",
        "- Conversation: 7 (`critic chat --resume 7`)", "- Saved: 2025-01-02T03:04:05+00:00",
    ]
    assert "## 1. Question\n\n> What is here?\n\n### Answer\n\nA sea.[31m\n" in text
    assert "> And\n> the sky?" in text and f"Grey and\n\n*({PARTIAL_NOTE})*" in text
    assert "\x1b" not in text


def test_mark_flags_bolds_and_numbers_each_contradicted_sentence():
    text = "Calm sea. The palette is dominated by reds. Soft light."
    flag = Flag("colour", WRONG, "dominated by red", "reds cover 0%", 10, 43)
    marked, notes = mark_flags(text, [flag, flag])
    assert marked == "Calm sea. **The palette is dominated by reds.** [1] Soft light."
    assert notes == ["[1] colour: “dominated by red”; measured: reds cover 0%"] * 2
    assert mark_flags(text, []) == (text, [])
    starred = "A *very* red painting."
    assert mark_flags(starred, [Flag("colour", starred, "x", "y", 0, len(starred))])[0] == starred + " [1]"


def test_printable_keeps_text_and_drops_controls():
    assert printable("a\tb\nc\x00\x07\x1b[0m\x9bd é") == "a\tb\nc[0md é"


def test_status_line_words():
    assert status_text("tiny", "F16", 12.34, 300, 4096, True, "answering…") == \
        "tiny F16 · 12.3 tok/s · context 300/4096 · brief · answering…"
    assert status_text("", "", None, 0, 0, False, "") == "no model · – tok/s · context –"


# -- the interface with a scripted engine -----------------------------------------------------------

async def test_flagged_sentences_are_highlighted_after_the_answer(picture):
    app = scripted_app(picture, [ANSWER])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f2")
        await answered(pilot, app, 1)
        item = app.chat.query(AnswerItem).last()
        assert item.markdown.source.startswith(f"**{WRONG}** [1] A **yellow disc**")
        note = item.query_one(".answer-note").visual.plain
        assert note.startswith("[1] colour: “dominated by red”; measured: reds cover only 0.0%")
        assert app.conversation.turns[-1].answer == ANSWER  # the record keeps the model's own words


async def test_perspective_picker_brief_toggle_and_palette_commands(picture):
    app = scripted_app(picture)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PerspectiveScreen), "the picker")
        await pilot.press("3")
        await answered(pilot, app, 1)
        assert app.conversation.turns[-1].question == PERSPECTIVES[2].question

        await pilot.press("f4")
        assert app.brief and "brief" in app.status.render()
        await pilot.press("f2")
        await answered(pilot, app, 2)
        assert app.conversation.turns[-1].question == DEFAULT_QUESTION + BRIEF_SUFFIX

        await pilot.press("ctrl+p")
        await wait_until(pilot, lambda: app.screen.query("CommandInput"), "the command palette")
        await pilot.press(*"space and depth")
        await wait_until(pilot, lambda: any("space and depth" in str(option.prompt)
                                            for option in app.screen.query_one("CommandList").options),
                         "the matching command")
        await pilot.press("enter")
        await answered(pilot, app, 3)
        space = next(p for p in PERSPECTIVES if p.key == "space")
        assert app.conversation.turns[-1].question == space.question + BRIEF_SUFFIX


async def test_commands_cover_every_quick_action(picture):
    app = scripted_app(picture)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        titles = [c.title for c in app.get_system_commands(app.screen)]
    for expected in ["Ask: overall formal analysis", *(f"Ask: {p.name}" for p in PERSPECTIVES),
                     "Brief answers on/off", "Regenerate the last answer", "Stop generation", "Open another painting",
                     "New conversation", "Copy the last answer", "Save the conversation as Markdown"]:
        assert expected in titles


async def test_actions_with_nothing_to_act_on_say_so(picture):
    app = scripted_app(picture)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        for key in ("ctrl+r", "ctrl+y", "ctrl+s"):
            await pilot.press(key)
        assert [m for _, m in app.shown[-3:]] == ["nothing to regenerate yet", "no answer to copy yet",
                                                  "nothing to save yet"]
        assert app.clipboard == ""


async def test_asking_before_any_painting_is_refused_politely(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    app = scripted_app(None)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and app.screen.query("#open-path"), "the browser")
        await pilot.press("escape")
        app.query_one("#question", Input).value = "Anything?"
        await pilot.press("enter")
        assert app.shown[-1] == ("error", "no painting is open: ctrl+o opens one")
        assert not app.chat.query(QuestionItem)


# -- snapshots ------------------------------------------------------------------------------------

async def test_snapshot_conversation(picture, fixed_cells, svg_snapshot):
    app = scripted_app(picture, [ANSWER, "Long, low and dark, the band holds the composition down."])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f2")
        await answered(pilot, app, 1)
        app.query_one("#question", Input).value = "What holds the bottom edge?"
        await pilot.press("enter")
        await answered(pilot, app, 2)
        await pilot.pause()
        assert svg_snapshot == app.export_screenshot()


async def test_snapshot_perspective_picker(picture, fixed_cells, svg_snapshot):
    app = scripted_app(picture)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f3")
        await wait_until(pilot, lambda: isinstance(app.screen, PerspectiveScreen), "the picker")
        await pilot.pause()
        assert svg_snapshot == app.export_screenshot()


async def test_snapshot_no_model_installed(picture, fixed_cells, svg_snapshot):
    from critic.engine.registry import INSTALL_HINT

    app = scripted_app(picture, fail=INSTALL_HINT)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.engine_error and app.conversation is not None, "the failure")
        await pilot.pause()
        assert svg_snapshot == app.export_screenshot()


async def test_resume_when_the_painting_has_moved_shows_the_turns_and_the_fix(tmp_path):
    from critic.history import SavedTurn

    history = History()
    cid = history.create(tmp_path / "gone.png", "0" * 64, "scripted", "Q4_K_M")
    history.add_turn(cid, SavedTurn("What is here?", "A sea."))
    app = scripted_app(None, resume=cid)
    async with app.run_test(size=SIZE) as pilot:
        notice = app.query_one("#chat-notice")
        await wait_until(pilot, lambda: "brings it back" in notice.visual.plain, "the notice")
        assert [q.question for q in app.chat.query(QuestionItem)] == ["What is here?"]
        assert app.chat.query(AnswerItem).last().text == "A sea."
        assert app.shown[0][0] == "error" and "gone.png: no such file" in app.shown[0][1]
        app.query_one("#question", Input).value = "And now?"
        await pilot.press("enter")
        assert app.shown[-1] == ("error", "no painting is open: ctrl+o opens one")


async def test_a_changed_painting_file_is_reported_on_resume(picture):
    from critic.history import SavedTurn

    history = History()
    cid = history.create(picture, "0" * 64, "scripted", "Q4_K_M")
    history.add_turn(cid, SavedTurn("What is here?", "A sea."))
    app = scripted_app(None, resume=cid)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert any(s == "warning" and "painting.png has changed since this conversation" in t for s, t in app.shown)
        await pilot.press("f2")
        await answered(pilot, app, 2)
    assert [t.question for t in History().get(cid).turns] == ["What is here?", DEFAULT_QUESTION]


async def test_regenerate_after_a_failed_question_redoes_the_last_answered_turn(picture):
    app = scripted_app(picture, ["First answer.", "Second answer."])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f2")
        await answered(pilot, app, 1)

        def overflow(question, settings):  # the fault: this question does not fit the context
            from critic.core.errors import ContextOverflow

            raise ContextOverflow("the question does not fit: ask a shorter question")
            yield  # pragma: no cover

        real_ask = app.conversation.session.ask
        app.conversation.session.ask = overflow
        app.query_one("#question", Input).value = "An overlong question?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.answering and app.chat.query(AnswerItem).last().has_class("-error"))
        app.conversation.session.ask = real_ask

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, RegenerateScreen), "greedy: sample, or the same")
        await pilot.press("a")
        await answered(pilot, app, 1)
        await wait_until(pilot, lambda: app.chat.query(AnswerItem).last().finished, "the new answer shown")
        assert [q.question for q in app.chat.query(QuestionItem)] == [DEFAULT_QUESTION]
        assert [a.text for a in app.chat.query(AnswerItem)] == ["Second answer."]
        assert app.conversation.turns[-1].answer == "Second answer."

"""`critic chat` driven through Textual's pilot against the real tiny model and llama.cpp.

An answer that must be caught mid-way is held by `GatedEngine` after its first piece until
the app cancels it, so nothing here races the model's speed.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_chat_support import GatedEngine, answer_text, make_painting, wait_until
from textual.widgets import Input
from textual_image.widget import HalfcellImage

from critic.cli import main as cli_main
from critic.core.perspectives import DEFAULT_QUESTION
from critic.core.prompt import Turn, layout_tokens
from critic.engine import open_engine, registry
from critic.engine.base import Settings, TurnRecord
from critic.history import History, SavedTurn
from critic.tui.app import SAMPLE_TEMPERATURE, ChatApp
from critic.tui.dialogs import RegenerateScreen
from critic.tui.messages import AnswerItem, QuestionItem
from critic.tui.open_screen import OpenPaintingScreen
from critic.tui.painting import PaintingPane
from critic.tui.transcript import PARTIAL_NOTE, printable

SIZE = (120, 40)


def gated_factory(engines: list, n_ctx: int | None = None):
    """Load the installed tiny model (one thread: the test machine's cores are shared) behind a gate."""
    def load():
        engine = GatedEngine(open_engine(n_ctx=n_ctx, threads=1))
        engines.append(engine)
        return engine
    return load


def chat_app(engines: list, image=None, max_tokens: int = 48, n_ctx: int | None = None, **kwargs) -> ChatApp:
    return ChatApp(gated_factory(engines, n_ctx), image, settings=Settings(max_tokens=max_tokens),
                   history=History(), image_widget=HalfcellImage, **kwargs)


async def ready(pilot, app: ChatApp, ask: str | None = None) -> None:
    """Wait for the model and the painting; with `ask`, then ask that and wait for the answer."""
    await wait_until(pilot, lambda: app.engine is not None and app.conversation is not None, "model and painting")
    if ask:
        await ask_and_wait(pilot, app, ask)


async def open_dialog(pilot, app: ChatApp) -> Input:
    """The open-painting dialog's path box, once the dialog is up."""
    await wait_until(pilot, lambda: isinstance(app.screen, OpenPaintingScreen) and app.screen.query("#open-path"),
                     "the open dialog")
    return app.screen.query_one("#open-path", Input)


async def type_text(pilot, text: str) -> None:
    await pilot.press(*[{" ": "space", "/": "slash", ".": "full_stop", "-": "minus", "_": "underscore",
                         "?": "question_mark"}.get(c, c) for c in text])


async def ask_and_wait(pilot, app: ChatApp, question: str) -> TurnRecord:
    turns = len(app.conversation.turns)
    app.query_one("#question", Input).value = question
    await pilot.press("enter")
    await wait_until(pilot, lambda: not app.answering and len(app.conversation.turns) > turns, "the answer")
    return app.conversation.turns[-1]


@pytest.fixture
def paintings(tmp_path) -> tuple[Path, Path]:
    folder = tmp_path / "paintings"
    folder.mkdir()
    (folder / "notes.txt").write_text("not an image: the file browser leaves it out")
    return make_painting(folder / "first.png"), make_painting(folder / "second.png", (160, 220), seed=1)


async def test_ask_stream_stop_follow_up_regenerate_copy_and_save(installed_model, paintings, tmp_path):
    engines: list[GatedEngine] = []
    app = chat_app(engines, paintings[0])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        assert app.query_one("#file-facts").visual.plain.startswith("first.png\n240×160 px · PNG")

        # The first answer streams into the chat, and Escape stops it half-way.
        engines[0].hold(1)
        await pilot.press("f2")
        await wait_until(pilot, lambda: engines[0].sessions and engines[0].sessions[-1].held, "the first piece")
        item = app.chat.query(AnswerItem).last()
        assert app.answering and not item.finished and item.text
        assert app.query_one(QuestionItem).question == DEFAULT_QUESTION
        await pilot.press("escape")
        await wait_until(pilot, lambda: not app.answering, "the stop")
        first = app.conversation.turns[-1]
        assert first.partial and first.answer
        assert item.partial and item.has_class("-partial")
        assert PARTIAL_NOTE in item.query_one(".answer-note").visual.plain
        assert app.conversation.image_encodes == 1

        # A follow-up reuses the painting's evaluated prefix.
        second = await ask_and_wait(pilot, app, "And the colour?")
        assert not second.partial and second.timings.image_encode == 0
        assert app.conversation.image_encodes == 1
        used, size = app.conversation.context
        assert 0 < used < size and app.status.context_used == used
        assert f"context {used}/{size}" in app.status.render() and "tok/s" in app.status.render()
        assert answer_text(app) == printable(second.answer)

        # Regenerate replaces the last answer (greedy, as chosen: the same text), still without re-encoding.
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, RegenerateScreen), "greedy: sample, or the same")
        await pilot.press("a")
        await wait_until(pilot, lambda: not app.answering and app.conversation.turns[-1] is not second, "regeneration")
        again = app.conversation.turns[-1]
        assert (again.question, again.answer) == (second.question, second.answer)
        assert len(app.conversation.turns) == 2 and app.conversation.image_encodes == 1
        assert len(app.chat.query(AnswerItem)) == 2

        saved = History().get(app.conversation.id)
        assert [(t.question, t.answer, t.partial) for t in saved.turns] == [
            (DEFAULT_QUESTION, first.answer, True), ("And the colour?", again.answer, False)]

        await pilot.press("ctrl+y")
        assert app.clipboard == again.answer

        out = tmp_path / "talk.md"
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen.focused, Input) and app.screen.focused.id == "save-path")
        app.screen.focused.value = ""
        await type_text(pilot, str(out))
        await pilot.press("enter")
        await wait_until(pilot, out.exists, "the saved file")
        text = out.read_text()
        image = app.conversation.painting.image
        for expected in (str(image.path.resolve()), image.sha256, "tiny (F16)", installed_model.manifest.llm.sha256,
                         "max_tokens 48", "temperature 0.0", DEFAULT_QUESTION, "And the colour?", PARTIAL_NOTE,
                         f"critic chat --resume {app.conversation.id}"):
            assert expected in text

        # Or sampled anew, this answer only, with its temperature and drawn seed recorded.
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, RegenerateScreen), "greedy: sample, or the same")
        await pilot.press("s")
        await wait_until(pilot, lambda: not app.answering and app.conversation.turns[-1] is not again, "the sample")
        sampled = app.conversation.turns[-1]
        assert sampled.temperature == SAMPLE_TEMPERATURE and sampled.seed is not None and not sampled.partial
        last = History().get(app.conversation.id).turns[-1]
        assert (last.answer, last.temperature, last.seed) == (sampled.answer, SAMPLE_TEMPERATURE, sampled.seed)
        await pilot.press("ctrl+q")
    assert app.return_code == 0 and engines[0].inner.llama is None  # the model was released


async def test_switch_painting_and_new_conversation_encode_each_painting_once(installed_model, paintings):
    engines: list[GatedEngine] = []
    app = chat_app(engines, paintings[0])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app, ask="What is here?")
        first = app.conversation

        await pilot.press("ctrl+o")
        (await open_dialog(pilot, app)).value = str(paintings[1])
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.conversation is not first, "the second painting")
        assert app.conversation.painting.image.path == paintings[1]
        assert app.query_one("#file-facts").visual.plain.startswith("second.png\n160×220 px")
        assert not app.chat.query(QuestionItem) and not app.conversation.turns

        await ask_and_wait(pilot, app, "What is here?")
        assert app.conversation.image_encodes == 1 and first.image_encodes == 1
        second = app.conversation

        await pilot.press("ctrl+n")
        await wait_until(pilot, lambda: app.conversation is not second, "a new conversation")
        assert app.conversation.painting is second.painting and not app.chat.query(AnswerItem)
        record = await ask_and_wait(pilot, app, "What is here?")
        # a painting seen before: its prefix comes back from the cache, no encode
        assert app.conversation.image_encodes == 0 and record.timings.prefix_restore > 0

    rows = History().list()
    assert len(rows) == 3 and {Path(r.image_path).name for r in rows} == {"first.png", "second.png"}


async def test_open_from_file_browser_when_started_without_image(installed_model, paintings, monkeypatch):
    monkeypatch.chdir(paintings[0].parent)
    engines: list[GatedEngine] = []
    app = chat_app(engines)
    async with app.run_test(size=SIZE) as pilot:
        await open_dialog(pilot, app)
        tree = app.screen.query_one("#open-tree")
        await wait_until(pilot, lambda: len(tree.root.children) == 2, "the folder listing")
        assert sorted(node.data.path.name for node in tree.root.children) == ["first.png", "second.png"]
        tree.focus()
        await pilot.press("down", "enter")
        await ready(pilot, app)
        assert app.conversation.painting.image.path.name in ("first.png", "second.png")


async def test_quit_mid_answer_then_resume_with_the_painting(installed_model, paintings):
    engines: list[GatedEngine] = []
    app = chat_app(engines, paintings[0])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app, ask="What is here?")
        engines[0].hold(1)
        app.query_one("#question", Input).value = "And the light?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: engines[0].sessions[-1].held, "the held answer")
        await pilot.press("ctrl+q")  # mid-answer
    assert app.return_code == 0 and engines[0].inner.llama is None
    conversation_id = app.conversation.id
    saved = History().get(conversation_id)
    assert [t.partial for t in saved.turns] == [False, True]

    resumed = chat_app(engines, resume=conversation_id)
    async with resumed.run_test(size=SIZE) as pilot:
        await ready(pilot, resumed)
        assert resumed.conversation.painting.image.sha256 == saved.image_sha256
        # the saved turns are mounted after the conversation is set: on a busy machine, a moment later
        await wait_until(pilot, lambda: len(resumed.chat.query(QuestionItem)) == 2, "the saved turns shown")
        assert [q.question for q in resumed.chat.query(QuestionItem)] == ["What is here?", "And the light?"]
        assert resumed.chat.query(AnswerItem).last().partial
        record = await ask_and_wait(pilot, resumed, "And the space?")
        session = resumed.conversation.session
        assert [t.question for t in session.turns] == ["What is here?", "And the light?", "And the space?"]
        assert session.image_encodes == 0 and record.timings.prefix_restore > 0  # restored from the prefix cache
    assert [t.question for t in History().get(conversation_id).turns][-1] == "And the space?"


async def test_full_context_drops_the_oldest_turns_and_says_so(installed_model, paintings):
    first_question, second_question = "What is in this painting?", "And here?"
    probe = open_engine(n_ctx=2048, threads=1, cache=False)  # so the app encodes the painting itself
    try:
        session = probe.open_session(paintings[0])
        "".join(session.ask(first_question, Settings(max_tokens=1)))
        prompt = session.turns[-1].timings.prompt_tokens  # system prompt, painting and first question
    finally:
        probe.close()
    # Each answer may take every position the first question leaves: any second question overflows.
    engines: list[GatedEngine] = []
    app = chat_app(engines, paintings[0], max_tokens=2048 - prompt, n_ctx=2048)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        for question in (first_question, second_question):
            engines[0].hold(1)
            app.query_one("#question", Input).value = question
            await pilot.press("enter")
            await wait_until(pilot, lambda: engines[0].sessions[-1].held or not app.answering, "a held answer")
            await pilot.press("escape")
            await wait_until(pilot, lambda: not app.answering, "the stop")
        assert ("warning", "the context was full: dropped the 1 oldest turn(s); the painting is kept") in app.shown
        assert app.conversation.image_encodes == 1  # the painting was kept, not encoded again
        assert [t.question for t in app.conversation.turns] == [first_question, second_question]


async def test_errors_are_notifications_not_tracebacks(installed_model, tmp_path):
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    engines: list[GatedEngine] = []
    app = chat_app(engines, broken, max_tokens=2040, n_ctx=2048)
    async with app.run_test(size=SIZE) as pilot:
        path_box = await open_dialog(pilot, app)
        assert any(s == "error" and str(broken) in t for s, t in app.shown)
        path_box.value = str(make_painting(tmp_path / "ok.png"))
        await pilot.press("enter")
        await ready(pilot, app)
        app.query_one("#question", Input).value = "Too long for the context?"
        await pilot.press("enter")
        await wait_until(pilot, lambda: not app.answering, "the refusal")
        assert any(s == "error" and "do not fit" in t for s, t in app.shown)
        assert app.chat.query(AnswerItem).last().has_class("-error")
        assert app.is_running


async def test_no_model_installed_shows_the_one_line_fix(tmp_path):
    app = ChatApp(lambda: open_engine(threads=1), make_painting(tmp_path / "p.png"),
                  history=History(), image_widget=HalfcellImage)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: app.engine_error is not None, "the load failure")
        assert app.engine_error == registry.INSTALL_HINT
        assert app.query_one("#chat-notice").visual.plain == registry.INSTALL_HINT
        await wait_until(pilot, lambda: app.conversation is not None, "the painting")
        assert app.query_one(PaintingPane).has_class("-empty") is False
        await pilot.press("f2")
        assert app.shown[-1] == ("error", registry.INSTALL_HINT) and app.is_running


# -- the engine's follow-up support, on its own -------------------------------------------------

def test_rewind_then_ask_again_gives_the_same_answer_without_encoding(installed_model, paintings):
    engine = open_engine(threads=1)
    try:
        session = engine.open_session(paintings[0])
        settings = Settings(max_tokens=24)
        "".join(session.ask("What is here?", settings))
        answer = "".join(session.ask("And the colour?", settings))
        used = session.context_used
        session.rewind()
        assert len(session.turns) == 1 and session.context_used < used
        assert "".join(session.ask("And the colour?", settings)) == answer
        assert session.context_used == used and session.image_encodes == 1
    finally:
        engine.close()


def test_restored_turns_are_laid_out_as_in_training(installed_model, paintings, tiny_dir):
    engine = open_engine(threads=1)
    try:
        session = engine.open_session(paintings[0])
        earlier = TurnRecord("What is here?", "A blue field with a yellow disc.")
        session.restore([earlier])
        "".join(session.ask("And the colour?", Settings(max_tokens=1)))
        layout = layout_tokens(engine.tokenize, engine.bos, engine.eos,
                               [Turn(earlier.question, earlier.answer), Turn("And the colour?")], legacy=False)
        ids = engine.llama.input_ids[: session.context_used].tolist()
        generated = session.turns[-1].timings.generated_tokens
        assert ids[: len(layout.before)] == layout.before
        assert ids[len(ids) - generated - len(layout.after): len(ids) - generated] == layout.after
        assert session.image_encodes == 1
    finally:
        engine.close()


# -- the command line --------------------------------------------------------------------------

def test_history_and_resume_on_the_command_line(tmp_path, capsys):
    assert cli_main(["chat", "--history"]) == 0
    assert "no saved conversations" in capsys.readouterr().out
    assert cli_main(["chat", "--resume"]) == 2
    assert "no saved conversations yet" in capsys.readouterr().err
    history = History()
    cid = history.create(tmp_path / "a.png", "a" * 64, "tiny", "F16")
    history.add_turn(cid, SavedTurn("What is here?", "x"))
    assert cli_main(["chat", "--history"]) == 0
    out = capsys.readouterr().out
    assert f"{cid:>5}" in out and "1 turn " in out and "What is here?" in out and str(tmp_path / "a.png") in out
    assert out.splitlines()[0].split() == ["ID", "updated", "(UTC)", "turns", "model", "painting"]
    from critic.core.perspectives import DEFAULT_QUESTION

    other = history.create(tmp_path / "b.png", "b" * 64, "tiny", "F16")
    history.add_turn(other, SavedTurn(DEFAULT_QUESTION, "x"))
    history.add_turn(other, SavedTurn("And the light?", "y"))
    assert cli_main(["chat", "--history"]) == 0
    out = capsys.readouterr().out
    assert "2 turns" in out and "“And the light?”" in out and DEFAULT_QUESTION not in out
    assert cli_main(["chat", "--resume", str(cid + 100)]) == 2
    assert f"no saved conversation {cid + 100}" in capsys.readouterr().err
    assert cli_main(["chat", "--resume", str(cid), "x.png"]) == 2


def test_the_chat_verb_loads_no_heavy_module():
    code = ("import sys, critic.cli; critic.cli.build_parser(); "
            "heavy = [m for m in ('textual', 'llama_cpp', 'torch', 'transformers') if m in sys.modules]; "
            "print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


async def test_resuming_a_conversation_whose_painting_moved_reattaches_it(installed_model, paintings, tmp_path):
    engines: list[GatedEngine] = []
    app = chat_app(engines, paintings[0])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app, ask="What is here?")
        conversation_id = app.conversation.id
    moved = tmp_path / "elsewhere" / "first.png"
    moved.parent.mkdir()
    paintings[0].rename(moved)

    resumed = chat_app(engines, resume=conversation_id)
    async with resumed.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: resumed.conversation is not None and resumed.conversation.turns, "the turns")
        assert resumed.conversation.painting is None
        await pilot.press("ctrl+o")
        (await open_dialog(pilot, resumed)).value = str(paintings[1])  # not its painting: a new conversation
        await pilot.press("enter")
        await wait_until(pilot, lambda: resumed.conversation.painting is not None, "the other painting")
        assert resumed.conversation.id is None and not resumed.conversation.turns
        assert any("is not this conversation's painting" in text for _, text in resumed.shown)

    again = chat_app(engines, resume=conversation_id)
    async with again.run_test(size=SIZE) as pilot:
        await wait_until(pilot, lambda: again.conversation is not None and again.conversation.turns, "the turns")
        await pilot.press("ctrl+o")
        (await open_dialog(pilot, again)).value = str(moved)
        await pilot.press("enter")
        await wait_until(pilot, lambda: again.conversation.painting is not None, "the moved painting")
        assert again.conversation.id == conversation_id and [t.question for t in again.conversation.turns] == \
            ["What is here?"]
        await ask_and_wait(pilot, again, "And the light?")
    saved = History().get(conversation_id)
    assert saved.image_path == str(moved.resolve()) and [t.question for t in saved.turns] == \
        ["What is here?", "And the light?"]

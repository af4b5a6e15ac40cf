"""The chat's small dialogs: the save question fits its box, and ctrl+r in a greedy chat says why and offers to sample.

A scripted engine stands in for the model (the interface alone is tested here); the settings
each answer was asked with are captured from the session.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_chat_support import ScriptedEngine, make_painting, wait_until
from textual.widgets import Label
from textual_image.widget import HalfcellImage

from critic.core.perspectives import DEFAULT_QUESTION
from critic.engine.base import Settings
from critic.history import History
from critic.tui.app import SAMPLE_TEMPERATURE, ChatApp
from critic.tui.dialogs import RegenerateScreen, SaveScreen
from critic.tui.messages import AnswerItem


@pytest.fixture
def picture(tmp_path) -> Path:
    return make_painting(tmp_path / "painting.png")


class Recording(ScriptedEngine):
    """The scripted engine, keeping the settings of every question asked."""

    def __init__(self, script: list[str]) -> None:
        super().__init__(script)
        self.asked: list[Settings] = []

    def open_session(self, image):
        session = super().open_session(image)
        ask = session.ask

        def recorded(question: str, settings: Settings):
            self.asked.append(settings)
            return ask(question, settings)

        session.ask = recorded
        return session


def app_for(picture: Path, engine: ScriptedEngine, settings: Settings) -> ChatApp:
    return ChatApp(lambda: engine, picture, settings=settings, history=History(), image_widget=HalfcellImage)


async def first_answer(pilot, app: ChatApp) -> None:
    await wait_until(pilot, lambda: app.engine is not None and app.conversation is not None, "ready")
    await pilot.press("f2")
    await wait_until(pilot, lambda: not app.answering and len(app.conversation.turns) == 1, "the answer")


async def test_the_save_question_wraps_inside_its_dialog_at_140_columns(picture):
    app = app_for(picture, ScriptedEngine(["An answer."]), Settings(max_tokens=64))
    async with app.run_test(size=(140, 45)) as pilot:
        await first_answer(pilot, app)
        await pilot.press("ctrl+s")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveScreen)
                         and app.screen.query_one(Label).region.height > 0, "the save dialog, laid out")
        box = app.screen.query_one("#save-dialog").content_region
        label = app.screen.query_one(Label)
        assert label.region.right <= box.right and label.region.height >= 2  # wrapped, not cut at the edge
        assert label.visual.plain.endswith("a page with the painting):")


async def test_regenerating_a_greedy_answer_says_why_and_samples_on_request(picture):
    engine = Recording(["The greedy answer.", "The same again.", "A sampled answer."])
    app = app_for(picture, engine, Settings(max_tokens=64, temperature=0.0, seed=0))
    async with app.run_test(size=(140, 45)) as pilot:
        await first_answer(pilot, app)

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, RegenerateScreen), "the question")
        assert "same answer" in app.screen.query_one("#regenerate-why", Label).visual.plain
        await pilot.press("escape")  # nothing asked
        await wait_until(pilot, lambda: not isinstance(app.screen, RegenerateScreen), "the dialog closed")
        assert len(engine.asked) == 1 and app.conversation.turns[-1].answer == "The greedy answer."

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, RegenerateScreen), "the question")
        await pilot.press("a")  # greedy again, as asked
        await wait_until(pilot, lambda: not app.answering and app.conversation.turns[-1].answer == "The same again.")
        assert engine.asked[-1].temperature == 0 and app.conversation.turns[-1].temperature is None

        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: isinstance(app.screen, RegenerateScreen), "the question")
        await pilot.press("s")
        await wait_until(pilot, lambda: not app.answering and app.conversation.turns[-1].answer == "A sampled answer.")
        asked = engine.asked[-1]
        assert asked.temperature == SAMPLE_TEMPERATURE and asked.seed is None  # a seed of its own, drawn
        assert app.settings.temperature == 0  # the next questions stay greedy
        turn = app.conversation.turns[-1]
        assert turn.temperature == SAMPLE_TEMPERATURE and len(app.conversation.turns) == 1
        await wait_until(pilot, lambda: app.chat.query(AnswerItem).last().finished, "the answer shown")
        note = app.chat.query(AnswerItem).last().query_one(".answer-note").visual.plain
        assert f"sampled at temperature {SAMPLE_TEMPERATURE:g}" in note

        saved = History().get(app.conversation.id)
        assert [(t.question, t.answer, t.temperature) for t in saved.turns] == [
            (DEFAULT_QUESTION, "A sampled answer.", SAMPLE_TEMPERATURE)]
        assert f"sampled at temperature {SAMPLE_TEMPERATURE:g}" in app.conversation.markdown()


async def test_regenerating_a_sampled_chat_asks_nothing(picture):
    engine = Recording(["One draw.", "Another draw."])
    app = app_for(picture, engine, Settings(max_tokens=64, temperature=0.7, seed=None))
    async with app.run_test(size=(140, 45)) as pilot:
        await first_answer(pilot, app)
        await pilot.press("ctrl+r")
        await wait_until(pilot, lambda: not app.answering and app.conversation.turns[-1].answer == "Another draw.")
        assert not isinstance(app.screen, RegenerateScreen)
        assert [s.temperature for s in engine.asked] == [0.7, 0.7]
        assert app.conversation.turns[-1].temperature is None  # the conversation's own

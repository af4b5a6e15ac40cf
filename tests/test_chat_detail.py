"""Looking closer in `critic chat`: choosing a detail with the keys and the mouse, the detail's own conversation,
going back, resuming, and the history's record of it.

The interface logic runs on the scripted engine (fixed words, so the screen is fixed); one
test runs the real tiny model to show the detail is a session of its own beside the
painting's. The painting is `quadrants` (tests/conftest.py).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_chat_support import GatedEngine, ScriptedEngine, wait_until
from textual.widgets import Input
from textual_image.widget import HalfcellImage

from critic.core.images import file_sha256
from critic.core.regions import cut_detail, load_whole, parse_region
from critic.engine.base import Settings
from critic.history import History, SavedTurn
from critic.tui.app import ChatApp
from critic.tui.messages import AnswerItem
from critic.tui.painting import PaintingPane
from critic.tui.selection import Selection

SIZE = (120, 40)
REDS = "The palette is dominated by reds."


def scripted(picture: Path | None, script: list[str] | None = None, **kwargs) -> ChatApp:
    return ChatApp(lambda: ScriptedEngine(script), picture, settings=Settings(max_tokens=64), history=History(),
                   image_widget=HalfcellImage, **kwargs)


async def ready(pilot, app: ChatApp) -> None:
    """The model loaded and the painting shown, laid out on the screen (on a busy machine the layout comes a few
    frames after the painting, and a click before it lands nowhere)."""
    await wait_until(pilot, lambda: app.engine is not None and app.conversation is not None
                     and app.conversation.painting is not None
                     and app.query_one("#picture").content_region.area > 0, "the model and the painting")


async def answered(pilot, app: ChatApp, turns: int) -> None:
    await wait_until(pilot, lambda: not app.answering and len(app.conversation.turns) == turns, "the answer")


async def detail_open(pilot, app: ChatApp) -> None:
    await wait_until(pilot, lambda: app.whole is not None and app.conversation.painting is not None
                     and app.conversation.painting.detail is not None, "the detail")


async def test_a_detail_chosen_with_the_keys_opens_as_its_own_conversation(quadrants, fixed_cells, svg_snapshot):
    app = scripted(quadrants, [REDS, REDS, "Back at the whole."])
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f2")
        await answered(pilot, app, 1)
        assert not app.conversation.flags(REDS)  # reds are among the whole painting's largest families
        whole = app.conversation
        pane = app.query_one(PaintingPane)
        await pilot.press("f5")
        assert app.focused is pane and pane.selection == Selection(0.25, 0.25, 0.5, 0.5)
        await pilot.press(*["right"] * 5, *["up"] * 5, "shift+down", "shift+up")  # to the top-right quarter
        assert pane.selection.region.text == "0.5,0,0.5,0.5"
        await pilot.pause()
        assert svg_snapshot(name="choosing") == app.export_screenshot()

        await pilot.press("enter")
        await detail_open(pilot, app)
        detail = app.conversation.painting.detail
        assert (detail.box.left, detail.box.top, detail.box.width, detail.box.height) == (200, 0, 200, 150)
        assert app.whole is whole and app.conversation.parent is whole and not app.conversation.turns
        assert app.focused is app.query_one("#question", Input)
        assert app.query_one("#picture").image.size == (200, 150)  # the crop is shown
        assert app.conversation.painting.compared.startswith("The detail is darker, cooler")
        await pilot.press("f2")
        await answered(pilot, app, 1)
        assert app.conversation.flags(REDS)  # the claim is checked against the blue crop
        await pilot.pause()
        assert svg_snapshot(name="detail") == app.export_screenshot()

        saved = app.history.get(app.conversation.id)
        assert saved.region["box"] == [200, 0, 200, 150] and saved.parent_id == whole.id
        assert saved.image_sha256 == file_sha256(quadrants) and saved.region["sha256"] == detail.image.sha256

        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: app.conversation is whole, "the whole painting")
        assert app.whole is None and app.query_one("#picture").image.size == (400, 300)
        assert [item.record.answer for item in app.chat.query(AnswerItem)] == [REDS]
        await pilot.press("f2")
        await answered(pilot, app, 2)  # the painting's conversation goes on where it was


async def test_the_mouse_draws_moves_and_cancels_the_rectangle(quadrants):
    app = scripted(quadrants)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        pane = app.query_one(PaintingPane)
        picture = app.query_one("#picture").content_region
        await pilot.mouse_down("#picture", offset=(0, 0))
        await pilot.hover("#picture", offset=(picture.width // 2, picture.height // 2))
        await pilot.mouse_up("#picture", offset=(picture.width // 2, picture.height // 2))
        assert app.focused is pane
        half = (picture.width // 2 / picture.width, picture.height // 2 / picture.height)
        assert pane.selection == Selection.between((0, 0), half)
        await pilot.click("#picture", offset=(picture.width - 1, picture.height - 1))  # a click moves it there
        assert pane.selection.x + pane.selection.w == pytest.approx(1) and pane.selection.w == pytest.approx(half[0])
        await pilot.press("escape")
        assert pane.selection is None and app.focused is app.query_one("#question", Input) and app.whole is None


async def test_a_detail_of_a_detail_is_a_detail_of_the_painting(quadrants):
    app = scripted(quadrants)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        whole = app.conversation
        app.query_one(PaintingPane).start_selection(Selection(0.5, 0, 0.5, 0.5))
        await pilot.press("enter")
        await detail_open(pilot, app)
        first = app.conversation
        app.query_one(PaintingPane).start_selection(Selection(0.5, 0.5, 0.5, 0.5))
        await pilot.press("enter")
        await wait_until(pilot, lambda: app.conversation is not first and app.conversation.painting is not None,
                         "the second detail")
        box = app.conversation.painting.detail.box
        assert (box.left, box.top, box.width, box.height) == (300, 75, 100, 75)
        assert app.whole is whole and app.conversation.parent is whole


async def test_resuming_a_detail_shows_its_crop_and_goes_back_to_its_painting(quadrants):
    history = History()
    sha = file_sha256(quadrants)
    detail = cut_detail(load_whole(quadrants), parse_region("0,0.5,0.5,0.5"))
    whole_id = history.create(quadrants, sha, "scripted")
    history.add_turn(whole_id, SavedTurn("About the whole?", "All of it."))
    detail_id = history.create(quadrants, sha, "scripted", region=detail.to_dict(), parent_id=whole_id)
    history.add_turn(detail_id, SavedTurn("About the corner?", "Dark diagonals."))
    app = ChatApp(ScriptedEngine, None, history=history, resume=detail_id, image_widget=HalfcellImage)
    async with app.run_test(size=SIZE) as pilot:
        await detail_open(pilot, app)
        assert app.conversation.id == detail_id and app.conversation.painting.detail.box == detail.box
        assert [t.answer for t in app.conversation.turns] == ["Dark diagonals."]
        assert app.conversation.markdown().startswith("# Conversation about a detail of quadrants.png")
        assert "- Detail: detail 0,0.5,0.5,0.5 (0,150,200,150px); GalleryGPT was trained on whole paintings" in \
            app.conversation.markdown()
        from critic.report.chat import conversation_html

        page = conversation_html(app.conversation)
        assert "<title>Conversation about a detail of quadrants.png</title>" in page
        assert "detail 0,0.5,0.5,0.5 (0,150,200,150px): GalleryGPT was trained on whole paintings" in page
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: app.whole is None, "the whole painting")
        assert app.conversation.id == whole_id and [t.answer for t in app.conversation.turns] == ["All of it."]


async def test_the_real_model_answers_a_detail_in_its_own_session(installed_model, quadrants):
    from critic.engine import open_engine

    engines: list = []

    def load():
        engines.append(GatedEngine(open_engine(n_ctx=2048)))
        return engines[-1]

    app = ChatApp(load, quadrants, settings=Settings(max_tokens=4), history=History(), image_widget=HalfcellImage)
    async with app.run_test(size=SIZE) as pilot:
        await ready(pilot, app)
        await pilot.press("f2")
        await answered(pilot, app, 1)
        app.query_one(PaintingPane).start_selection(Selection(0, 0, 0.5, 0.5))
        await pilot.press("enter")
        await detail_open(pilot, app)
        await pilot.press("f2")
        await answered(pilot, app, 1)
        painting_session, detail_session = (s.inner for s in engines[0].sessions)
        assert detail_session.image.sha256 == app.conversation.painting.detail.image.sha256 != \
            painting_session.image.sha256
        assert detail_session.image_encodes == 1 and detail_session.turns[0].timings.image_encode > 0
        await pilot.press("ctrl+b")
        await wait_until(pilot, lambda: app.whole is None, "the whole painting")
        await pilot.press("f2")
        await answered(pilot, app, 2)
        # the painting's prefix came back from the cache, keyed apart from the detail's
        assert painting_session.image_encodes == 1 and painting_session.turns[-1].timings.prefix_restore > 0


def test_a_detail_conversation_round_trips_through_the_history(quadrants, capsys):
    from critic.cli.chat import print_history

    history = History()
    detail = cut_detail(load_whole(quadrants), parse_region("0.5,0,0.5,0.5"))
    whole_id = history.create(quadrants, file_sha256(quadrants), "tiny")
    history.add_turn(whole_id, SavedTurn("Whole?", "All of it."))
    detail_id = history.create(quadrants, file_sha256(quadrants), "tiny", region=detail.to_dict(), parent_id=whole_id)
    history.add_turn(detail_id, SavedTurn("And here?", "Blue strokes."))
    saved = history.get(detail_id)
    assert saved.region == detail.to_dict() and saved.parent_id == whole_id
    assert history.get(whole_id).region == {} and history.get(whole_id).parent_id is None
    assert history.about_image(file_sha256(quadrants)) == [whole_id]  # the gallery's chat view: the whole's
    assert history.about_image(file_sha256(quadrants), details=True) == [detail_id, whole_id]
    print_history(history)
    assert "quadrants.png, detail 0.5,0,0.5,0.5\n       “And here?”" in capsys.readouterr().out

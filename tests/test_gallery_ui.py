"""`critic gallery` on screen: pilot tests and SVG snapshots.

Pictures are generated here; analyses run on the real tiny model (the gate from the chat
tests holds an answer so "stop" is tested without racing the model). Snapshots use the
half-block image widget and a fixed cell size, so they do not depend on the terminal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from test_chat_support import GatedEngine, make_painting, wait_until
from textual_image.widget import HalfcellImage

from critic.core.store import read_jsonl
from critic.engine.base import Settings
from critic.gallery.catalog import GalleryCache
from critic.tui.gallery import CompareScreen, GalleryApp, GalleryExit, GalleryState

SIZE = (120, 40)


@pytest.fixture
def art(tmp_path) -> Path:
    folder = tmp_path / "art"
    folder.mkdir()
    for n in range(5):
        make_painting(folder / f"painting_{n}.png", size=(240 - 16 * n, 160), seed=n)  # six different files
    from PIL import Image

    Image.new("RGB", (200, 150), (235, 225, 200)).save(folder / "pale.png")  # the one high-key picture
    return folder


def no_engine():
    from critic.core.errors import ModelNotFound

    raise ModelNotFound("no model installed: run `critic models add gallerygpt-q4`")


def gallery(art: Path, engine_factory=no_engine, **kwargs) -> GalleryApp:
    return GalleryApp(art, art / "results.jsonl", engine_factory, settings=Settings(max_tokens=4, seed=None),
                      image_widget=HalfcellImage, **kwargs)


async def measured(pilot, app: GalleryApp) -> None:
    await wait_until(pilot, lambda: app.all_loaded and app.grid.entries and app.grid.selected.loaded, "measured")
    await pilot.pause()


def shown_text(app: GalleryApp, selector: str) -> str:
    """The plain text a Static shows."""
    from io import StringIO

    from rich.console import Console

    console = Console(width=100, file=StringIO(), record=True)
    widget = app.query_one(selector)
    console.print(widget.text if hasattr(widget, "text") else widget.content)
    return console.export_text()


def names(app: GalleryApp) -> list[str]:
    return [e.name for e in app.grid.entries]


async def test_opens_at_once_and_measures_in_the_background(art):
    app = gallery(art)
    async with app.run_test(size=SIZE) as pilot:
        assert len(app.grid.entries) == 6  # listed before any picture is decoded
        await measured(pilot, app)
        assert all(e.facts is not None and e.thumbnail is not None for e in app.entries)
        assert "6 paintings" in shown_text(app, "#gallery-status")
        assert "painting_0.png" in shown_text(app, "#detail-title")
    # a second opening reads everything from the cache
    again = gallery(art)
    async with again.run_test(size=SIZE) as pilot:
        await measured(pilot, again)
        assert all(e.cached for e in again.entries)


async def test_what_is_scrolled_to_is_measured_next(tmp_path, monkeypatch):
    import threading

    from critic.tui import gallery as gallery_module

    folder = tmp_path / "many"
    folder.mkdir()
    for n in range(60):
        make_painting(folder / f"p{n:02d}.png", size=(64 + n, 48), seed=n)
    monkeypatch.setattr(gallery_module, "LOAD_THREADS", 1)
    order: list[str] = []
    gate = threading.Event()
    started = threading.Event()

    class GatedCache(GalleryCache):
        """The real cache; the first picture waits until the test has scrolled."""

        def fill(self, entry):
            started.set()
            gate.wait(30)
            order.append(entry.name)
            return super().fill(entry)

    app = gallery(folder, cache=GatedCache())
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(pilot, started.is_set, "the first picture under way")  # a busy machine starts it late
        await pilot.press("end")
        first_on_screen = app.grid.first_visible
        assert first_on_screen > 20  # the last rows are on screen now
        gate.set()
        await measured(pilot, app)
    assert order[0] == "p00.png"  # already under way when End was pressed
    assert order[1:6] == [f"p{n:02d}.png" for n in range(first_on_screen, first_on_screen + 5)]


async def test_arrows_move_the_selection_and_the_detail_follows(art):
    app = gallery(art)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        columns = app.grid.columns
        await pilot.press("right")
        assert app.grid.selected.name == names(app)[1]
        await pilot.press("down")
        assert app.grid.index == min(1 + columns, 5)
        assert app.grid.selected.name in shown_text(app, "#detail-title")
        await pilot.press("end")
        assert app.grid.index == 5
        await pilot.press("home")
        assert app.grid.index == 0


async def test_sort_and_filter_by_measured_facts(art):
    app = gallery(art)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        await pilot.press("s")  # value key, dark to light
        assert app.sort == "key" and names(app)[-1] == "pale.png"
        await pilot.press("r")
        assert names(app)[0] == "pale.png"
        await pilot.press("slash")
        await pilot.press(*"key=high", "enter")
        assert names(app) == ["pale.png"]
        assert "1 of 6 shown" in shown_text(app, "#gallery-status")
        await pilot.press("slash")
        await pilot.press("ctrl+u", *"key=dim", "enter")
        assert app.shown[-1][0] == "error" and "one of low, middle, high" in app.shown[-1][1]
        assert names(app) == ["pale.png"]  # a filter it cannot read changes nothing
        await pilot.press("ctrl+u", "enter")
        assert len(names(app)) == 6


async def test_the_latest_chat_about_a_painting_is_shown_beside_it(art):
    from critic.core.images import file_sha256
    from critic.history import History, SavedTurn

    history = History()
    pale = art / "pale.png"
    older = history.create(pale, file_sha256(pale), "tiny", "F16")
    history.add_turn(older, SavedTurn("First?", "An old answer."))
    latest = history.create(art / "moved-since.png", file_sha256(pale), "tiny", "F16")  # found by sha256
    history.add_turn(latest, SavedTurn("Is it dark?", "The palette is dominated by blues."))
    app = gallery(art, history=history)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        assert shown_text(app, "#detail-chat").strip() == ""  # painting_0 was never talked about
        await pilot.press("end")
        text = shown_text(app, "#detail-chat")
        assert f"In chat · conversation {latest} (and 1 more) · `critic chat --resume {latest}`" in text
        assert "Is it dark?" in text and "dominated by blues" in text
        assert "Contradicted by the measurements" in text  # a pale, blue-less picture


def analysis_record(path: Path, analysis: str, results: str = "", created: float = 1.0, model: str = "gallerygpt",
                    question: str | None = None) -> dict:
    """A finished `critic analyze --out` record of the picture at `path`."""
    from critic.core.images import file_sha256
    from critic.core.perspectives import DEFAULT_QUESTION

    return {"key": f"{path.name}-{model}-{created}", "status": "ok", "analysis": analysis,
            "image": {"path": str(path), "sha256": file_sha256(path), "width": 240, "height": 160, "format": "PNG"},
            "question": question or DEFAULT_QUESTION, "prompt": "", "settings": {}, "created": created,
            "model": {"name": model, "quantization": "Q4_K_M", "sha256": model * 4}}


async def test_a_long_analysis_can_be_scrolled_to_at_45_rows(art):
    import json

    long = " ".join(f"Sentence {n} follows the blue field to the warm disc above the dark band." for n in range(40))
    (art / "results.jsonl").write_text(json.dumps(analysis_record(art / "painting_0.png", long + " The end.")) + "\n")
    app = gallery(art)
    async with app.run_test(size=(120, 45)) as pilot:
        await measured(pilot, app)
        detail, analysis = app.query_one("#detail"), app.query_one("#detail-analysis")
        assert analysis.region.y >= detail.region.bottom  # below the facts, out of sight
        await pilot.press("v")
        await pilot.pause()
        assert detail.scroll_y > 0 and detail.region.y <= analysis.region.y < detail.region.bottom
        assert app.focused is app.grid  # the arrows still move through the paintings
        await pilot.press("right_square_bracket")
        await pilot.pause()
        assert detail.scroll_y == detail.max_scroll_y  # down to "The end."
        await pilot.press("left_square_bracket", "left_square_bracket", "left_square_bracket", "left_square_bracket")
        await pilot.pause()
        assert detail.scroll_y == 0


async def test_analyses_written_to_any_results_file_are_shown_with_their_file(art, tmp_path):
    import json

    first, second = art / "painting_0.png", art / "painting_1.png"
    (art / "batch").mkdir()
    (art / "batch" / "r.jsonl").write_text(json.dumps(analysis_record(first, "A newer reading.", created=9.0)) + "\n")
    (art / "results.jsonl").write_text(json.dumps(analysis_record(first, "An older reading.", created=2.0)) + "\n")
    outside = tmp_path / "kept-elsewhere.jsonl"
    outside.write_text(json.dumps(analysis_record(second, "Read elsewhere.")) + "\n")
    app = GalleryApp(art, outside, no_engine, settings=Settings(max_tokens=4, seed=None), image_widget=HalfcellImage)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        text = shown_text(app, "#detail-analysis")
        assert "Analysis · gallerygpt Q4_K_M · from batch/r.jsonl" in text and "A newer reading." in text
        assert "analysed (1 result)" in shown_text(app, "#detail-title")  # the older answer gave way
        assert "2 analysed" in shown_text(app, "#gallery-status")
        await pilot.press("right")
        assert f"from {outside}" in shown_text(app, "#detail-analysis").replace("\n", "")  # a long path wraps


async def test_compare_two_paintings_side_by_side(art):
    app = gallery(art)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        await pilot.press("c")
        assert "m marks a painting" in app.shown[-1][1]
        await pilot.press("m", "end", "c")
        assert isinstance(app.screen, CompareScreen)
        assert [e.name for e in app.screen.pair] == ["painting_0.png", "pale.png"]
        await pilot.press("escape")
        assert not isinstance(app.screen, CompareScreen)


async def test_enter_leaves_for_chat_and_the_gallery_comes_back_where_it_was(art):
    app = gallery(art)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        await pilot.press("s", "slash", *"key=low", "enter", "right", "enter")
    outcome = app.return_value
    assert isinstance(outcome, GalleryExit)
    assert outcome.chat == outcome.state.selected and outcome.chat.parent == art
    assert (outcome.state.sort, outcome.state.filter) == ("key", "key=low")

    back = gallery(art, state=outcome.state)
    async with back.run_test(size=SIZE) as pilot:
        await measured(pilot, back)
        assert back.grid.selected.path == outcome.chat and back.filter == "key=low" and back.sort == "key"


def test_the_command_runs_chat_between_two_gallery_screens(art, monkeypatch):
    """The loop in `critic gallery`: gallery → chat on the painting → gallery in its state → quit."""
    from critic.cli import main
    from critic.tui import app as chat_module
    from critic.tui import gallery as gallery_module

    ran: list[tuple] = []
    state = GalleryState(art / "pale.png", "hue", True, "key=high")

    def gallery_run(self):
        ran.append(("gallery", self._initial, self.results))
        return GalleryExit(art / "pale.png", state) if len(ran) == 1 else None

    def chat_run(self):
        ran.append(("chat", self.initial_image))
        return 0

    monkeypatch.setattr(gallery_module.GalleryApp, "run", gallery_run)
    monkeypatch.setattr(chat_module.ChatApp, "run", chat_run)
    assert main(["gallery", str(art)]) == 0
    assert ran == [("gallery", GalleryState(), art / "critic-results.jsonl"), ("chat", art / "pale.png"),
                   ("gallery", state, art / "critic-results.jsonl")]


def test_the_command_refuses_what_is_not_a_folder(art, capsys):
    from critic.cli import main

    assert main(["gallery", str(art / "missing")]) == 2
    assert capsys.readouterr().err.strip() == f"critic: error: {art / 'missing'}: no such folder"
    assert main(["gallery", str(art / "pale.png")]) == 2
    assert "not a folder" in capsys.readouterr().err
    (art.parent / "empty").mkdir()
    assert main(["gallery", str(art.parent / "empty")]) == 2
    assert capsys.readouterr().err.strip() == f"critic: error: no images found in {art.parent / 'empty'}"


async def test_analysing_without_a_model_says_how_to_get_one(art):
    app = gallery(art)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        await pilot.press("a")
        await wait_until(pilot, lambda: not app.analysing, "the batch to end")
        assert app.shown[-1] == ("error", "no model installed: run `critic models add gallerygpt-q4`")
        assert not app.query_one("#progress-row").display


async def test_analyse_all_writes_the_results_resumes_and_shows_them(art, installed_model):
    from critic.engine import open_engine

    engines: list[GatedEngine] = []

    def load():
        engines.append(GatedEngine(open_engine(None, keep_new=False)))
        engines[-1].hold()  # the first answer waits at the gate until the batch is stopped
        return engines[-1]

    results = art / "results.jsonl"
    app = gallery(art, load)
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        await pilot.press("A")
        assert app.query_one("#progress-row").display
        await wait_until(pilot, lambda: engines and engines[-1].sessions and engines[-1].sessions[0].held, "held")
        engines[-1].hold_after = None  # later paintings' sessions answer straight through
        await pilot.press("escape")  # stop: the answer under way is finished and kept, nothing after it
        await wait_until(pilot, lambda: not app.analysing, "the batch to stop")
        assert len(read_jsonl(results)) == 1 and app.shown[-1][1].startswith("stopped: 1 analysed")
        assert not app.query_one("#progress-row").display

        await pilot.press("A")  # the rest, resumed
        await wait_until(pilot, lambda: not app.analysing, "the batch to end")
        records = read_jsonl(results)
        assert sorted(Path(r["image"]["path"]).name for r in records) == sorted(e.name for e in app.entries)
        assert all(r["status"] == "ok" for r in records)
        assert app.shown[-1][1].startswith("5 analysed")
        assert "Analysis · tiny" in shown_text(app, "#detail-analysis")
        await pilot.press("A")
        assert app.shown[-1][1] == "every painting shown is analysed already"
    assert len(engines) == 1 and engines[0].inner is not None

    reopened = gallery(art)  # a new gallery shows what the file holds
    async with reopened.run_test(size=SIZE) as pilot:
        await measured(pilot, reopened)
        assert all(len(e.analyses) == 1 for e in reopened.entries)
        assert "6 analysed" in shown_text(reopened, "#gallery-status")


# -- snapshots --------------------------------------------------------------------------------------

async def screen_after(app: GalleryApp, *keys: str) -> str:
    """The gallery's screen as SVG once every picture is measured and `keys` are pressed."""
    async with app.run_test(size=SIZE) as pilot:
        await measured(pilot, app)
        await pilot.press(*keys)
        await pilot.pause()
        return app.export_screenshot()


async def test_snapshot_gallery(art, fixed_cells, svg_snapshot):
    assert svg_snapshot == await screen_after(gallery(art, cache=GalleryCache(art.parent / "cache")), "right")


async def test_snapshot_filtered_by_key(art, fixed_cells, svg_snapshot):
    assert svg_snapshot == await screen_after(gallery(art), "slash", *"key=low", "enter", "m")


async def test_snapshot_compare(art, fixed_cells, svg_snapshot):
    assert svg_snapshot == await screen_after(gallery(art), "m", "end", "c")


async def test_nothing_is_measured_while_the_model_answers(art):
    """llama.cpp keeps a thread on every core and each token waits for the slowest: the gallery's
    measuring threads beside it slowed decoding many times over, so they wait for the answer."""
    import asyncio

    app = gallery(art)
    app.analysing = True  # as while a batch of analyses runs, before the measuring worker starts
    async with app.run_test(size=SIZE) as pilot:
        await asyncio.sleep(1.0)
        await pilot.pause()
        assert not any(entry.loaded for entry in app.entries)
        app.analysing = False
        await measured(pilot, app)

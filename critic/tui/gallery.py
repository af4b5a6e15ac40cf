"""The `critic gallery` app: a folder of paintings as a grid, the selected one's facts and analysis beside it.

Threads: pictures are measured (or read from the cache) in one worker and handed to the
interface in batches; analyses run in another, under `engine_lock`, one painting at a
time, and Escape stops them between paintings (an answer under way is finished and
saved, never torn). "Open in chat" ends this app with a `GalleryExit` naming the
painting; the command runs the chat on it and then opens the gallery again where it was
(`GalleryState`), so chat is the same screen `critic chat` shows.
"""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Any, Callable

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Center, Horizontal, Vertical, VerticalScroll
from textual.reactive import reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Footer, Input, Label, ProgressBar, Static
from textual.worker import get_current_worker

from critic.core.errors import CriticError
from critic.core.perspectives import DEFAULT_QUESTION
from critic.core.regions import CROP_NOTE, region_label
from critic.engine.base import Settings
from critic.facts.check import check_analysis
from critic.facts.render import palette_strip, render_facts, render_flags
from critic.gallery.batch import analyze_job, run_batch
from critic.gallery.catalog import Entry, GalleryCache, scan
from critic.gallery.compare import compare_rows
from critic.gallery.order import SORT_LABELS, SORTS, matcher, sort_entries
from critic.gallery.facts_io import facts_from_dict
from critic.gallery.results import (RESULTS_FILE, analyses_by_image, is_detail, newest_answers, results_files,
                                    shown_name)
from critic.history import History
from critic.tui.gallery_grid import ThumbnailGrid
from critic.tui.painting import AutoImage
from critic.tui.threads import to_ui

BATCH_SECONDS = 0.1
"""The measuring worker hands loaded pictures to the interface at most this often."""
LOAD_THREADS = max(1, min(4, (os.cpu_count() or 2) - 1))
"""Pictures decoded and measured at once (one core left to the interface)."""


@dataclass
class GalleryState:
    """Where the gallery was: restored when it opens again after a chat."""

    selected: Path | None = None
    sort: str = "name"
    reverse: bool = False
    filter: str = ""


@dataclass
class GalleryExit:
    """How the gallery ended: `chat` names a painting to talk about, then come back to `state`."""

    chat: Path | None
    state: GalleryState = field(default_factory=GalleryState)


def entry_heading(entry: Entry) -> str:
    """The detail pane's first lines: name, size, format, whether it is analysed."""
    lines = [entry.name]
    if entry.size:
        lines.append(f"{entry.size[0]}×{entry.size[1]} px · {entry.format}")
    if entry.error:
        lines.append(entry.error)
    elif entry.loaded:
        details = sum(map(is_detail, entry.analyses))
        count = len(entry.analyses) - details
        words = [f"{count} result{'s' if count != 1 else ''}"] if count else []
        words += [f"{details} detail{'s' if details != 1 else ''}"] if details else []
        lines.append(f"analysed ({', '.join(words)})" if words else "not analysed yet")
    return "\n".join(lines)


def analysis_view(entry: Entry, folder: Path | None = None):
    """The latest analysis of `entry` (of the whole painting when there is one, else of a detail), its model,
    the file it came from, and the sentences its measured facts contradict (a detail's: the crop's, as
    recorded); then how many details have their own analyses."""
    wholes = [r for r in entry.analyses if not is_detail(r)]
    record = (wholes or entry.analyses)[-1]
    model = record.get("model") or {}
    heading = Text(f"Analysis · {model.get('name', '')} {model.get('quantization', '')}".rstrip(), style="bold")
    if record.get(RESULTS_FILE):
        source = shown_name(record[RESULTS_FILE], folder) if folder else record[RESULTS_FILE]
        heading.append(f" · from {source}", style="not bold")
    text = record.get("analysis") or ""
    facts = entry.facts
    parts: list[Any] = [heading]
    if is_detail(record):
        parts.append(Text(f"Of a {region_label(record['region'])}: {CROP_NOTE}.", style="italic"))
        try:
            facts = facts_from_dict(record.get("facts") or {})
        except ValueError:
            facts = None
    flags = check_analysis(text, facts) if facts else []
    if record.get("question") != DEFAULT_QUESTION:
        parts.append(Text(record.get("question", ""), style="italic"))
    parts.append(render_flags(text, flags))
    details = len(entry.analyses) - len(wholes)
    if details and wholes:
        parts.append(Text(f"\n{details} detail{'s' if details != 1 else ''} analysed as well: `critic report` "
                          "shows each beside its place on the painting.", style="italic"))
    return Group(*parts)


def chat_view(saved, count: int, facts):
    """The last answer of the latest chat conversation about a painting, with its contradicted sentences."""
    turn = saved.turns[-1]
    others = f" (and {count - 1} more)" if count > 1 else ""
    heading = Text(f"In chat · conversation {saved.id}{others} · `critic chat --resume {saved.id}`", style="bold")
    flags = check_analysis(turn.answer, facts) if facts else []
    return Group(heading, Text(turn.question, style="italic"), render_flags(turn.answer, flags))


class GalleryStatus(Widget):
    """The line under the grid; one fixed line, so an update redraws it alone, not the whole screen."""

    text: reactive[str] = reactive("")

    def render(self) -> str:
        return self.text


class CompareScreen(Screen[None]):
    """Two paintings' pictures, palettes and facts side by side; Escape goes back."""

    BINDINGS = [Binding("escape", "back", "Back"), Binding("c", "back", show=False)]

    def __init__(self, first: Entry, second: Entry, image_widget: type[Widget]) -> None:
        super().__init__()
        self.pair = (first, second)
        self.image_widget = image_widget

    def compose(self) -> ComposeResult:
        with Horizontal(id="compare-pictures"):
            for n, entry in enumerate(self.pair):
                with Vertical(classes="compare-side"):
                    yield Static(entry.name, classes="compare-name")
                    with Center(classes="compare-box"):
                        yield self.image_widget(entry.thumbnail, id=f"compare-image-{n}")
                    yield Static(palette_strip(entry.facts, width=40), classes="compare-strip")
        table = Table(expand=True, box=None, padding=(0, 1))
        table.add_column("", style="bold", no_wrap=True)
        for entry in self.pair:
            table.add_column(entry.name, ratio=1)
        for row in compare_rows(self.pair[0].facts, self.pair[1].facts):
            table.add_row(*row)
        yield VerticalScroll(Static(table, id="compare-table"), id="compare-facts")
        yield Footer()

    def action_back(self) -> None:
        self.dismiss(None)


class GalleryApp(App[GalleryExit | None]):
    """A folder of paintings: browse, sort and filter by measured facts, analyse, compare, chat."""

    CSS_PATH = "gallery.tcss"
    TITLE = "critic gallery"
    BINDINGS = [
        Binding("enter", "chat", "Chat"),
        Binding("a", "analyse", "Analyse"),
        Binding("A", "analyse_all", "Analyse all"),
        Binding("escape", "stop", "Stop"),
        Binding("s", "sort", "Sort"),
        Binding("r", "reverse", "Reverse", show=False),
        Binding("slash", "filter", "Filter"),
        Binding("m", "mark", "Mark"),
        Binding("c", "compare", "Compare"),
        Binding("v", "view_analysis", "Analysis"),
        Binding("right_square_bracket", "scroll_detail(1)", "Scroll", show=False),
        Binding("left_square_bracket", "scroll_detail(-1)", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, folder: Path, results: Path, engine_factory: Callable[[], Any], *,
                 settings: Settings | None = None, cache: GalleryCache | None = None,
                 state: GalleryState | None = None, image_widget: type[Widget] | None = None,
                 history: History | None = None) -> None:
        super().__init__()
        self.folder = Path(folder)
        self.results = Path(results)
        self.engine_factory = engine_factory
        self.settings = settings or Settings(seed=None)
        self.cache = cache or GalleryCache()
        self.image_widget = image_widget or AutoImage
        self.history = history
        self.entries: list[Entry] = []
        self.sort, self.reverse, self.filter = "name", False, ""
        self._initial = state or GalleryState()
        self._wanted: Path | None = None
        self.engine = None
        self.engine_lock = threading.Lock()
        self.analysing = False
        self.shown: list[tuple[str, str]] = []  # every notification of this run, oldest first

    # -- layout -------------------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Horizontal(id="gallery-main"):
            yield ThumbnailGrid(id="grid")
            with VerticalScroll(id="detail"):
                yield Static("", id="detail-title")
                with Center(id="detail-box"):
                    yield self.image_widget(id="detail-image")
                yield Static("", id="detail-facts")
                yield Static("", id="detail-analysis")
                yield Static("", id="detail-chat")
        with Horizontal(id="progress-row"):
            yield Label("", id="progress-label")
            yield ProgressBar(total=1, id="progress", show_eta=False)  # a total: no idle animation
        yield Input(placeholder="filter: key=low temperature=warm hue=blue colourfulness>40 or part of a name "
                                "(Enter applies, empty clears)", id="filter")
        yield GalleryStatus(id="gallery-status")
        yield Footer()

    def on_mount(self) -> None:
        state = self._initial
        self.sort, self.reverse, self.filter = state.sort, state.reverse, state.filter
        self._wanted = state.selected  # selected again once it is shown (a filter on facts waits for them)
        self.entries = scan(self.folder)
        self._apply_view()
        self.grid.focus()
        self._grid = self.grid  # the worker's handle: no DOM query from another thread
        self._load_all()

    @property
    def grid(self) -> ThumbnailGrid:
        return self.query_one(ThumbnailGrid)

    def state(self) -> GalleryState:
        """Where the gallery is now."""
        selected = self.grid.selected
        return GalleryState(selected.path if selected else None, self.sort, self.reverse, self.filter)

    def notify(self, message: str, **kwargs) -> None:
        """Show a notification, and keep it in `shown` as (severity, message)."""
        self.shown.append((kwargs.get("severity", "information"), message))
        super().notify(message, **kwargs)

    def notify_error(self, message: str) -> None:
        self.notify(message, severity="error", timeout=12)

    _to_ui = to_ui

    def _apply_view(self, keep: Entry | None = None) -> None:
        predicate = matcher(self.filter)
        shown = [e for e in sort_entries(self.entries, self.sort, self.reverse) if predicate(e)]
        if keep is None and self._wanted is not None:
            keep = next((e for e in shown if e.path == self._wanted), None)
            if keep is not None or self.all_loaded:
                self._wanted = None
        self.grid.show(shown, keep)
        self._update_status()

    def _update_status(self) -> None:
        total = len(self.entries)
        loaded = sum(e.loaded for e in self.entries)
        analysed = sum(bool(e.analyses) for e in self.entries)
        parts = [f"{len(self.grid.entries)} of {total} shown" if self.filter else f"{total} paintings"]
        if loaded < total:
            parts.append(f"measuring {loaded}/{total}")
        parts.append(f"{analysed} analysed → {self.results.name}")
        parts.append(f"sort: {SORT_LABELS[self.sort]}{' (reversed)' if self.reverse else ''}")
        if self.filter:
            parts.append(f"filter: {self.filter}")
        self.query_one(GalleryStatus).text = " · ".join(parts)

    # -- measuring --------------------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="measure")
    def _load_all(self) -> None:
        worker = get_current_worker()
        analyses = analyses_by_image(results_files(self.folder, self.results))
        pending: list[Entry] = []
        submitted: set[int] = set()
        last = time.monotonic()
        # Decoding and measuring let go of the GIL for most of their time, so a few threads share
        # the work. Each next picture is the first not yet loaded from the top of the screen on,
        # so what the user scrolls to is measured next. While the model answers, nothing new is
        # started: llama.cpp has a thread on every core, and each operation of a token waits for the
        # slowest of them (bench/contention.py), so measuring beside it slowed decoding many times over.
        with ThreadPoolExecutor(LOAD_THREADS, thread_name_prefix="gallery-measure") as pool:
            running: set = set()
            try:
                while True:
                    if self.analysing and not running and not worker.is_cancelled:
                        time.sleep(0.1)
                        continue
                    while (not self.analysing and len(running) < LOAD_THREADS
                           and (entry := self._next_to_load(submitted)) is not None):
                        submitted.add(id(entry))
                        running.add(pool.submit(self.cache.fill, entry))
                    if not running or worker.is_cancelled:
                        break
                    finished, running = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        entry = future.result()
                        entry.analyses = list(analyses.get(entry.sha256, [])) if entry.sha256 else []
                        pending.append(entry)
                    if time.monotonic() - last >= BATCH_SECONDS:
                        if not self._to_ui(self._loaded, pending):
                            return
                        pending, last = [], time.monotonic()
            finally:
                pool.shutdown(wait=False, cancel_futures=True)
        if not worker.is_cancelled:
            self._to_ui(self._loaded, pending)

    def _next_to_load(self, submitted: set[int]) -> Entry | None:
        """The next picture to measure: on screen first, then below it, then the rest (called by the worker,
        so it reads only plain attributes the interface thread keeps)."""
        grid = self._grid
        shown, start = grid.entries, grid.first_visible
        for entry in chain(shown[start:], shown[:start], self.entries):
            if id(entry) not in submitted and not entry.loaded:
                return entry
        return None

    def _loaded(self, entries: list[Entry]) -> None:
        if self.sort != "name" or self.filter:
            self._apply_view()
        self.grid.updated(entries)
        if self.grid.selected in entries:
            self.show_detail(self.grid.selected)
        self._update_status()

    @property
    def all_loaded(self) -> bool:
        return all(e.loaded for e in self.entries)

    # -- the detail pane ------------------------------------------------------------------------------

    def on_thumbnail_grid_selected(self, message: ThumbnailGrid.Selected) -> None:
        self.show_detail(message.entry)

    def show_detail(self, entry: Entry | None) -> None:
        """Show `entry`'s picture, facts and latest analysis beside the grid."""
        self.query_one("#detail-title", Static).update(entry_heading(entry) if entry else "No paintings here.")
        self.query_one("#detail-image").image = entry.thumbnail if entry else None
        facts = self.query_one("#detail-facts", Static)
        facts.update(render_facts(entry.facts) if entry and entry.facts else ("measuring…" if entry and not
                                                                                 entry.loaded else ""))
        analysis = self.query_one("#detail-analysis", Static)
        if entry and entry.analyses:
            analysis.update(analysis_view(entry, self.folder))
        else:
            analysis.update("a analyses this painting, A every one shown that is not analysed yet"
                            if entry and entry.facts else "")
        self.query_one("#detail-chat", Static).update(self._chat_about(entry) or "")

    def action_view_analysis(self) -> None:
        """Scroll the detail pane to the selected painting's analysis (below its facts, often off screen)."""
        entry = self.grid.selected
        if entry is None or not (entry.analyses or self._chat_about(entry)):
            self.notify("no analysis of this painting yet: a analyses it", severity="warning", timeout=4)
            return
        target = "#detail-analysis" if entry.analyses else "#detail-chat"
        self.query_one("#detail", VerticalScroll).scroll_to_widget(self.query_one(target), animate=False, top=True)

    def action_scroll_detail(self, pages: int) -> None:
        """Scroll the detail pane (facts, analysis, chat) a page down or up, whatever has the focus."""
        detail = self.query_one("#detail", VerticalScroll)
        detail.scroll_to(y=detail.scroll_y + pages * max(1, detail.scrollable_content_region.height - 2),
                         animate=False)

    def _chat_about(self, entry: Entry | None):
        """The latest chat answer about `entry`'s painting (found by sha256), if the history has one."""
        if self.history is None or entry is None or entry.sha256 is None:
            return None
        try:
            ids = self.history.about_image(entry.sha256)
            saved = self.history.get(ids[0]) if ids else None
        except (CriticError, sqlite3.Error):
            return None
        if saved is None or not saved.turns:
            return None
        return chat_view(saved, len(ids), entry.facts)

    # -- analysing --------------------------------------------------------------------------------

    def action_analyse(self) -> None:
        """Analyse the selected painting."""
        entry = self.grid.selected
        if entry is None or not entry.loaded:
            self.notify("this painting is still being measured: try again in a moment", severity="warning")
            return
        if entry.error:
            self.notify_error(entry.error)
            return
        if any(r.get("question") == DEFAULT_QUESTION and not is_detail(r) for r in entry.analyses):
            self.notify(f"{entry.name} is analysed already (see beside it)", timeout=4)
            return
        self._start_batch([entry])

    def action_analyse_all(self) -> None:
        """Analyse every painting shown (the filter applies) that is not analysed yet."""
        if not self.all_loaded:
            self.notify("still measuring the paintings: try again when it is done", severity="warning")
            return
        todo = [e for e in self.grid.entries if not e.error
                and not any(r.get("question") == DEFAULT_QUESTION and not is_detail(r) for r in e.analyses)]
        if not todo:
            self.notify("every painting shown is analysed already", timeout=4)
            return
        self._start_batch(todo)

    def _start_batch(self, entries: list[Entry]) -> None:
        if self.analysing:
            self.notify("an analysis is running: Escape stops it after the painting under way", severity="warning")
            return
        self.analysing = True
        row = self.query_one("#progress-row")
        row.display = True
        self.query_one(ProgressBar).update(total=len(entries), progress=0)
        self.query_one("#progress-label", Label).update(f"analysing {len(entries)} → {self.results.name} "
                                                       "(Escape stops after the painting under way)")
        self._analyse(entries)

    @work(thread=True, exclusive=True, group="analyse")
    def _analyse(self, entries: list[Entry]) -> None:
        worker = get_current_worker()
        analysed = failed = 0
        error = None
        with self.engine_lock:
            try:
                if self.engine is None:
                    self.engine = self.engine_factory()
                job = analyze_job([e.path for e in entries], self.results, self.settings)
                analysed, failed = run_batch(job, self.engine, job.paths, lambda: worker.is_cancelled,
                                             lambda path, records: self._to_ui(self._painting_analysed, path,
                                                                               records))
            except CriticError as err:
                error = str(err)
        self._to_ui(self._batch_ended, analysed, failed, error, worker.is_cancelled)

    def _painting_analysed(self, path: Path, records: list[dict]) -> None:
        self.query_one(ProgressBar).advance(1)
        for entry in self.entries:
            if entry.path == path:
                done = [{**r, RESULTS_FILE: str(self.results)} for r in records
                        if r.get("status") == "ok" and r.get("analysis")]
                entry.analyses = newest_answers(entry.analyses + done)
                if entry is self.grid.selected:
                    self.show_detail(entry)
        for record in records:
            if record.get("status") == "error":
                self.notify_error(record.get("error") or "the analysis failed")
        self._update_status()

    def _batch_ended(self, analysed: int, failed: int, error: str | None, stopped: bool) -> None:
        self.analysing = False
        self.query_one("#progress-row").display = False
        if error:
            self.notify_error(error)
            return
        note = f"{analysed} analysed" + (f", {failed} failed" if failed else "") + f" → {self.results}"
        self.notify(("stopped: " if stopped else "") + note, timeout=6)

    def action_stop(self) -> None:
        """Hide the filter box, or stop the analyses after the painting under way."""
        box = self.query_one("#filter", Input)
        if box.display:
            box.display = False
            self.grid.focus()
        elif self.analysing:
            self.workers.cancel_group(self, "analyse")
            self.query_one("#progress-label", Label).update("stopping after the painting under way…")

    # -- sorting, filtering, comparing ----------------------------------------------------------------

    def action_sort(self) -> None:
        """Sort by the next measure."""
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        self._apply_view()
        self.notify(f"sorted by {SORT_LABELS[self.sort]}", timeout=3)

    def action_reverse(self) -> None:
        """Reverse the order."""
        self.reverse = not self.reverse
        self._apply_view()

    def action_filter(self) -> None:
        """Type a filter on the measured facts."""
        box = self.query_one("#filter", Input)
        box.value = self.filter
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "filter":
            return
        text = event.value.strip()
        try:
            matcher(text)
        except ValueError as err:
            self.notify_error(str(err))
            return
        self.filter = text
        event.input.display = False
        self._apply_view()
        self.grid.focus()

    def action_mark(self) -> None:
        """Mark (or unmark) the selected painting to compare it with another."""
        grid, entry = self.grid, self.grid.selected
        if entry is None:
            return
        if entry in grid.marked:
            grid.marked.remove(entry)
        else:
            grid.marked = [*grid.marked[-1:], entry]
        grid.redraw()

    def action_compare(self) -> None:
        """Compare the two marked paintings, or the marked one with the selected one."""
        grid = self.grid
        pair = list(grid.marked)
        if len(pair) == 1 and grid.selected is not None and grid.selected is not pair[0]:
            pair.append(grid.selected)
        if len(pair) != 2:
            self.notify("m marks a painting; select another (or mark it too), then c compares them",
                        severity="warning")
            return
        if any(e.facts is None for e in pair):
            self.notify("both paintings must be measured first", severity="warning")
            return
        self.push_screen(CompareScreen(pair[0], pair[1], self.image_widget))

    def action_chat(self) -> None:
        """Talk about the selected painting in `critic chat`, then come back here."""
        entry = self.grid.selected
        if entry is None:
            return
        if self.analysing:
            self.notify("an analysis is running: Escape stops it first", severity="warning")
            return
        self.exit(GalleryExit(entry.path, self.state()))

    def action_quit(self) -> None:
        """Leave (an analysis under way is finished and saved first)."""
        self.workers.cancel_group(self, "measure")
        self.workers.cancel_group(self, "analyse")
        self.exit(None)

    async def on_unmount(self) -> None:
        self.workers.cancel_group(self, "measure")
        self.workers.cancel_group(self, "analyse")
        await asyncio.to_thread(self.engine_lock.acquire)
        try:
            if self.engine is not None:
                self.engine.close()
                self.engine = None
        finally:
            self.engine_lock.release()

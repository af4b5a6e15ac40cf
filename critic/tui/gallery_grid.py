"""The gallery's grid of thumbnails: only the rows on screen are drawn, so a thousand cost no more than ten.

A `ScrollView` with Textual's line API: each tile is a half-block thumbnail (textual-image's
half-cell renderable, which every terminal can show), the file name, the measured palette
strip, and the value histogram with the value key (low, middle or high). Kitty and Sixel
pictures need a widget each, which a grid of a thousand cannot afford; the detail pane
beside the grid shows the selected painting with them.
"""

from __future__ import annotations

from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual_image.renderable.halfcell import Image as HalfcellRenderable

from critic.facts.render import palette_strip, value_bar
from critic.gallery.catalog import Entry

TILE_WIDTH = 20  # cells, the gap included
INNER = TILE_WIDTH - 2
THUMB_ROWS = 8  # cells; half-blocks make that 16 pixels
TILE_HEIGHT = THUMB_ROWS + 4  # name, palette, values, gap

_BLANK = Style()
_PENDING = Style(color="grey50")
_SELECTED = Style(reverse=True, bold=True)


def _fit(size: tuple[int, int], width: int, height: int) -> tuple[int, int]:
    """The largest (w, h) within width × height with the aspect of `size`; h even (two pixels a cell)."""
    w, h = size
    scale = min(width / w, height / h)
    fw, fh = max(1, round(w * scale)), max(2, round(h * scale / 2) * 2)
    return min(fw, width), min(fh, height)


class ThumbnailGrid(ScrollView, can_focus=True):
    """Tiles in rows as wide as the widget allows; arrows, page keys and the mouse move the selection."""

    BINDINGS = [
        Binding("up", "move(0, -1)", show=False), Binding("down", "move(0, 1)", show=False),
        Binding("left", "move(-1, 0)", show=False), Binding("right", "move(1, 0)", show=False),
        Binding("pageup", "page(-1)", show=False), Binding("pagedown", "page(1)", show=False),
        Binding("home", "jump(0)", show=False), Binding("end", "jump(-1)", show=False),
    ]

    class Selected(Message):
        """The selection moved to `entry` (None: the grid is empty)."""

        def __init__(self, entry: Entry | None) -> None:
            super().__init__()
            self.entry = entry

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.entries: list[Entry] = []
        self.index = 0
        self.marked: list[Entry] = []
        self._tiles: dict[int, list[list[Segment]]] = {}  # id(entry) -> thumbnail rows, once loaded
        self._lines: dict[int, Strip] = {}  # drawn lines by their y in the whole grid, until something changes
        self.first_visible = 0  # index of the first entry on screen

    # -- what is shown ----------------------------------------------------------------------------

    @property
    def selected(self) -> Entry | None:
        return self.entries[self.index] if self.entries else None

    @property
    def columns(self) -> int:
        return max(1, self.size.width // TILE_WIDTH)

    def show(self, entries: list[Entry], keep: Entry | None = None) -> None:
        """Show `entries` in this order, keeping `keep` (default: the current one) selected where present."""
        before = self.selected
        keep = keep or before
        self.entries = entries
        self.index = next((i for i, e in enumerate(entries) if e is keep), 0)
        self._layout()
        if self.selected is not before or before is None:
            self.post_message(self.Selected(self.selected))

    def updated(self, entries: list[Entry]) -> None:
        """These entries were loaded: draw them again where they are on screen (most are not, in a big folder)."""
        changed = {id(e) for e in entries}
        for entry in entries:
            self._tiles.pop(id(entry), None)
        first, last = self._visible_rows()
        on_screen = range(first * self.columns, min(len(self.entries), (last + 1) * self.columns))
        rows = {i // self.columns for i in on_screen if id(self.entries[i]) in changed}
        for row in rows:
            self._forget_row(row)
        if rows:
            self.refresh()

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        self._note_first_visible()

    def _note_first_visible(self) -> None:
        # A plain attribute, kept on the interface thread, that the measuring worker may read:
        # a widget's own geometry is not to be asked from another thread.
        self.first_visible = min(len(self.entries), self._visible_rows()[0] * self.columns)

    def _visible_rows(self) -> tuple[int, int]:
        top = int(self.scroll_y) // TILE_HEIGHT
        return top, top + self.size.height // TILE_HEIGHT + 1

    def _forget_row(self, row: int) -> None:
        for y in range(row * TILE_HEIGHT, (row + 1) * TILE_HEIGHT):
            self._lines.pop(y, None)

    def redraw(self) -> None:
        """Forget every drawn line (marks or sizes changed) and draw again."""
        self._lines.clear()
        self.refresh()

    def _layout(self) -> None:
        self._lines.clear()
        rows = -(-len(self.entries) // self.columns) if self.entries else 0
        self.virtual_size = Size(self.columns * TILE_WIDTH, rows * TILE_HEIGHT)
        self.refresh()
        self._reveal()
        self._note_first_visible()

    def on_resize(self, event: events.Resize) -> None:
        self._layout()

    def _reveal(self) -> None:
        if self.entries:
            row = self.index // self.columns
            self.scroll_to_region(Region(0, row * TILE_HEIGHT, self.columns * TILE_WIDTH, TILE_HEIGHT),
                                  animate=False, force=True)

    def select(self, index: int) -> None:
        """Select the entry at `index` (clamped)."""
        if not self.entries:
            return
        index = max(0, min(len(self.entries) - 1, index))
        if index != self.index:
            self._forget_row(self.index // self.columns)
            self._forget_row(index // self.columns)
            self.index = index
            self.refresh()
            self._reveal()
            self.post_message(self.Selected(self.selected))

    def action_move(self, dx: int, dy: int) -> None:
        self.select(self.index + dx + dy * self.columns)

    def action_page(self, direction: int) -> None:
        rows = max(1, self.scrollable_content_region.height // TILE_HEIGHT)
        self.select(self.index + direction * rows * self.columns)

    def action_jump(self, index: int) -> None:
        self.select(index if index >= 0 else len(self.entries) - 1)

    def on_click(self, event: events.Click) -> None:
        x, y = event.x + int(self.scroll_x), event.y + int(self.scroll_y)
        column, row = x // TILE_WIDTH, y // TILE_HEIGHT
        if column < self.columns:
            index = row * self.columns + column
            if index < len(self.entries):
                self.select(index)

    # -- drawing ----------------------------------------------------------------------------------

    def _thumbnail_rows(self, entry: Entry) -> list[list[Segment]]:
        key = id(entry)
        if key in self._tiles:
            return self._tiles[key]
        if entry.thumbnail is None:
            note = "unreadable" if entry.error else "measuring…"
            rows = [[Segment(" " * INNER)] for _ in range(THUMB_ROWS)]
            rows[THUMB_ROWS // 2] = [Segment(note.center(INNER), _PENDING)]
            return rows  # not kept: the picture is on its way
        width, height = _fit(entry.thumbnail.size, INNER, THUMB_ROWS * 2)
        renderable = HalfcellRenderable(entry.thumbnail, width=width, height=height // 2)
        options = self.app.console.options.update(width=width, height=height // 2)
        lines = self.app.console.render_lines(renderable, options, pad=False)
        left = (INNER - width) // 2
        top = (THUMB_ROWS - height // 2) // 2
        blank = [Segment(" " * INNER)]
        rows = [blank] * top + [[Segment(" " * left), *line, Segment(" " * (INNER - width - left))]
                                for line in lines] + [blank] * (THUMB_ROWS - top - len(lines))
        self._tiles[key] = rows
        return rows

    def _tile_line(self, entry: Entry, line: int) -> list[Segment]:
        if line < THUMB_ROWS:
            return self._thumbnail_rows(entry)[line]
        if line == THUMB_ROWS:
            mark = "◆ " if entry in self.marked else ""
            name = (mark + entry.name)[:INNER].ljust(INNER)
            return [Segment(name, _SELECTED if entry is self.selected else _BLANK)]
        if entry.facts is None:
            return [Segment(" " * INNER)]
        if line == THUMB_ROWS + 1:
            text = palette_strip(entry.facts, width=INNER)
        else:
            text = value_bar(entry.facts, width=10)  # and the value key's word: low, middle or high
            text.append(f" {entry.facts.value.key}"[: INNER - text.cell_len])
        text.truncate(INNER, pad=True)
        return list(text.render(self.app.console))

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        whole = self._lines.get(y + scroll_y)
        if whole is None or whole.cell_length != max(self.size.width, self.columns * TILE_WIDTH):
            whole = self._draw_line(y + scroll_y)
            if all(e.loaded for e in self._row_entries((y + scroll_y) // TILE_HEIGHT)):
                self._lines[y + scroll_y] = whole
        return whole.crop(scroll_x, scroll_x + self.size.width)

    def _row_entries(self, row: int) -> list[Entry]:
        return self.entries[row * self.columns:(row + 1) * self.columns]

    def _draw_line(self, y: int) -> Strip:
        row, line = divmod(y, TILE_HEIGHT)
        segments: list[Segment] = []
        if line < TILE_HEIGHT - 1:
            for entry in self._row_entries(row):
                segments.append(Segment(" "))
                segments += self._tile_line(entry, line)
                segments.append(Segment(" "))
        width = max(self.size.width, self.columns * TILE_WIDTH)
        return Strip(segments).extend_cell_length(width).apply_style(self.rich_style)

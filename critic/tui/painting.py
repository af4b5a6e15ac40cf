"""The painting pane: the picture, a line of file facts, the measured palette and value bar."""

from __future__ import annotations

from PIL import Image
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Center, Vertical
from textual.message import Message
from textual.widget import Widget
from textual.widgets import Static
from textual_image._terminal import CellSize, get_cell_size

try:
    get_cell_size()  # asks the terminal once, before Textual takes it over; the result is cached
except (ZeroDivisionError, OSError, ValueError):
    # A terminal that reports a 0-column window would stop textual-image's import: use the
    # cell size textual-image itself assumes when the terminal does not answer.
    get_cell_size._result = CellSize(10, 20)
from textual_image.widget import Image as AutoImage  # noqa: E402

from critic.core.names import safe_name
from critic.facts.measure import Facts
from critic.facts.render import palette_strip, value_bar
from critic.tui.conversation import Painting
from critic.tui.selection import STEP, Selection, outlined


def file_facts(painting: Painting) -> str:
    """Facts that cost nothing: name, pixel size, format, file size; for a detail, its region and the crop's size."""
    image = painting.image
    width, height = image.original_size
    if painting.detail is not None:
        return f"{safe_name(image.path.name)}, {painting.detail.label}\n{width}×{height} px of the painting"
    try:
        size = image.path.stat().st_size
        weight = f" · {size / 1e6:.1f} MB" if size >= 1e6 else f" · {max(1, round(size / 1e3))} kB"
    except OSError:
        weight = ""
    return f"{safe_name(image.path.name)}\n{width}×{height} px · {image.format}{weight}"


def detail_note(painting: Painting) -> str:
    """What the pane says under a detail: how its facts differ from the whole's, and what the model is doing."""
    return (f"{painting.compared}\nThe model sees this crop alone (it was trained on whole paintings). "
            "ctrl+b: back to the whole painting.").lstrip()


SELECTING_HINT = "arrows move · shift+arrows resize · or drag with the mouse · Enter asks about it · Escape cancels"


class PaletteStrip(Widget):
    """The measured palette as one line of colour blocks, as wide as the pane."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.facts: Facts | None = None

    def render(self) -> Text:
        return palette_strip(self.facts, width=max(1, self.size.width)) if self.facts else Text("")


class ValueBar(Widget):
    """The lightness histogram, dark to light, as wide as the pane."""

    def __init__(self, **kwargs) -> None:
        super().__init__(**kwargs)
        self.facts: Facts | None = None

    def render(self) -> Text:
        if not self.facts:
            return Text("")
        bins = len(self.facts.value.histogram)
        return value_bar(self.facts, width=max(bins, self.size.width // bins * bins))


class PaintingPane(Vertical):
    """The painting beside the conversation; textual-image picks Kitty, Sixel or half-blocks.

    Choosing a detail (`start_selection`, or a drag with the mouse on the picture): the pane takes the
    focus, the rectangle is drawn into the picture (`critic.tui.selection.outlined`), the arrows move it
    and shift+arrows resize it; Enter posts `DetailChosen`, Escape `SelectionEnded`.
    """

    BINDINGS = [
        Binding("left", "move(-1, 0)", show=False), Binding("right", "move(1, 0)", show=False),
        Binding("up", "move(0, -1)", show=False), Binding("down", "move(0, 1)", show=False),
        Binding("shift+left", "resize(-1, 0)", show=False), Binding("shift+right", "resize(1, 0)", show=False),
        Binding("shift+up", "resize(0, -1)", show=False), Binding("shift+down", "resize(0, 1)", show=False),
        Binding("enter", "choose", "Ask about the detail"),
        Binding("escape", "cancel", "Cancel"),
    ]

    class DetailChosen(Message):
        """The user chose this rectangle of the shown picture."""

        def __init__(self, selection: Selection) -> None:
            super().__init__()
            self.selection = selection

    class SelectionEnded(Message):
        """The user left the choice without a detail."""

    def __init__(self, image_widget: type[Widget] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._image_class = image_widget or AutoImage
        self.picture: Image.Image | None = None
        self.selection: Selection | None = None
        self._drag_from: tuple[float, float] | None = None

    def compose(self) -> ComposeResult:
        yield Static("No painting open.\nctrl+o opens one.", id="no-painting")
        with Center(id="image-box"):
            yield self._image_class(id="picture")
        yield Static("", id="selecting", markup=False)
        yield Static("", id="file-facts", markup=False)
        yield Static("", id="detail-note", markup=False)
        yield Static("palette", classes="facts-label")
        yield PaletteStrip(id="palette")
        yield Static("values, dark → light", classes="facts-label")
        yield ValueBar(id="values")

    def on_mount(self) -> None:
        self.set_class(True, "-empty")

    def show(self, painting: Painting | None) -> None:
        """Display `painting` (None: the empty pane)."""
        self.end_selection()
        self.set_class(painting is None, "-empty")
        self.set_class(painting is not None and painting.facts is None, "-no-facts")
        self.set_class(painting is not None and painting.detail is not None, "-detail")
        self.picture = painting.image.image if painting else None
        self.query_one("#picture").image = self.picture
        self.query_one("#file-facts", Static).update(file_facts(painting) if painting else "")
        self.query_one("#detail-note", Static).update(detail_note(painting) if painting and painting.detail else "")
        for strip in (self.query_one(PaletteStrip), self.query_one(ValueBar)):
            strip.facts = painting.facts if painting else None
            strip.refresh()

    # -- choosing a detail --------------------------------------------------------------------------

    def start_selection(self, selection: Selection | None = None) -> bool:
        """Show a rectangle to choose a detail with (the centre half of the picture unless given) and take the
        focus; False when no picture is shown."""
        if self.picture is None:
            return False
        self.can_focus = True
        self.selection = selection or self.selection or Selection()
        self.set_class(True, "-selecting")
        self._redraw()
        self.focus()
        return True

    def end_selection(self) -> None:
        """Leave the choice: the picture as it is, the focus given up."""
        self.selection, self._drag_from = None, None
        self.can_focus = False
        self.set_class(False, "-selecting")
        if self.is_mounted:
            self.query_one("#picture").image = self.picture

    def _redraw(self) -> None:
        if self.selection is None or self.picture is None:
            return
        self.query_one("#picture").image = outlined(self.picture, self.selection)
        self.query_one("#selecting", Static).update(f"detail {self.selection.region.text}\n{SELECTING_HINT}")

    def action_move(self, dx: int, dy: int) -> None:
        """Move the rectangle a step."""
        if self.selection is not None:
            self.selection = self.selection.moved(dx * STEP, dy * STEP)
            self._redraw()

    def action_resize(self, dw: int, dh: int) -> None:
        """Grow or shrink the rectangle a step from its top-left corner."""
        if self.selection is not None:
            self.selection = self.selection.resized(dw * STEP, dh * STEP)
            self._redraw()

    def action_choose(self) -> None:
        """Ask about the chosen rectangle."""
        if self.selection is not None:
            chosen = self.selection
            self.end_selection()
            self.post_message(self.DetailChosen(chosen))

    def action_cancel(self) -> None:
        """Leave the choice without a detail."""
        self.end_selection()
        self.post_message(self.SelectionEnded())

    def _fraction(self, event: events.MouseEvent) -> tuple[float, float] | None:
        """Where the mouse is on the picture, as fractions of it (None when off it)."""
        region = self.query_one("#picture").content_region
        if self.picture is None or not region.width or not region.height:
            return None
        fx, fy = (event.screen_x - region.x) / region.width, (event.screen_y - region.y) / region.height
        if not (0 <= fx <= 1 and 0 <= fy <= 1) and self._drag_from is None:
            return None
        return min(1.0, max(0.0, fx)), min(1.0, max(0.0, fy))

    def on_mouse_down(self, event: events.MouseDown) -> None:
        at = self._fraction(event)
        if at is None:
            return
        self._drag_from = at
        self.capture_mouse()
        self.start_selection()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._drag_from is not None and (at := self._fraction(event)) is not None and at != self._drag_from:
            self.selection = Selection.between(self._drag_from, at)
            self._redraw()

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._drag_from is None:
            return
        self.release_mouse()
        at = self._fraction(event)
        if at is not None and self.selection is not None:
            # a click (no drag) moves the rectangle there; a drag has drawn it already
            self.selection = (self.selection.centred_on(*at) if at == self._drag_from
                              else Selection.between(self._drag_from, at))
        self._drag_from = None
        self._redraw()

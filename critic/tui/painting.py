"""The painting pane: the picture, a line of file facts, the measured palette and value bar."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Center, Vertical
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


def file_facts(painting: Painting) -> str:
    """Facts that cost nothing: name, pixel size, format, file size."""
    image = painting.image
    width, height = image.original_size
    try:
        size = image.path.stat().st_size
        weight = f" · {size / 1e6:.1f} MB" if size >= 1e6 else f" · {max(1, round(size / 1e3))} kB"
    except OSError:
        weight = ""
    return f"{safe_name(image.path.name)}\n{width}×{height} px · {image.format}{weight}"


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
    """The painting beside the conversation; textual-image picks Kitty, Sixel or half-blocks."""

    def __init__(self, image_widget: type[Widget] | None = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self._image_class = image_widget or AutoImage

    def compose(self) -> ComposeResult:
        yield Static("No painting open.\nctrl+o opens one.", id="no-painting")
        with Center(id="image-box"):
            yield self._image_class(id="picture")
        yield Static("", id="file-facts")
        yield Static("palette", classes="facts-label")
        yield PaletteStrip(id="palette")
        yield Static("values, dark → light", classes="facts-label")
        yield ValueBar(id="values")

    def on_mount(self) -> None:
        self.set_class(True, "-empty")

    def show(self, painting: Painting | None) -> None:
        """Display `painting` (None: the empty pane)."""
        self.set_class(painting is None, "-empty")
        self.set_class(painting is not None and painting.facts is None, "-no-facts")
        self.query_one("#picture").image = painting.image.image if painting else None
        self.query_one("#file-facts", Static).update(file_facts(painting) if painting else "")
        for strip in (self.query_one(PaletteStrip), self.query_one(ValueBar)):
            strip.facts = painting.facts if painting else None
            strip.refresh()

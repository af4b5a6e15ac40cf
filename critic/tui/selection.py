"""Choosing a detail on the painting pane: the rectangle, how keys and the mouse move it, and its outline.

No Textual here: the pane turns keys and mouse positions into calls on `Selection`, and
shows `outlined(picture, selection)` in place of the picture while the choice is made. The
outline is drawn into the picture itself (the rest dimmed, the rectangle framed), so it
shows the same under Kitty, Sixel and half-block rendering.
"""

from __future__ import annotations

from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageEnhance

from critic.core.regions import Region

STEP = 0.05
"""How far one arrow key moves the rectangle, or shift+arrow grows or shrinks it, as a fraction of the canvas."""
MIN_SIDE = 0.05
"""The smallest side the rectangle keeps, as a fraction of the canvas."""
OUTLINE_SIDE = 480
"""Longest side of the outlined copy shown while choosing (the terminal shows less)."""
FRAME = (255, 210, 63)


def _clamp(value: float, low: float, high: float) -> float:
    return round(max(low, min(high, value)), 6)  # steps of 0.05 add up to 0.49999999999999994 otherwise


@dataclass(frozen=True)
class Selection:
    """A rectangle on the canvas as fractions of its width and height from the top left; always inside it."""

    x: float = 0.25
    y: float = 0.25
    w: float = 0.5
    h: float = 0.5

    def moved(self, dx: float, dy: float) -> "Selection":
        """Moved by (dx, dy), stopping at the edges."""
        return Selection(_clamp(self.x + dx, 0, 1 - self.w), _clamp(self.y + dy, 0, 1 - self.h), self.w, self.h)

    def resized(self, dw: float, dh: float) -> "Selection":
        """Wider or narrower, taller or shorter from the top-left corner, between `MIN_SIDE` and the edges."""
        return Selection(self.x, self.y, _clamp(self.w + dw, MIN_SIDE, 1 - self.x),
                         _clamp(self.h + dh, MIN_SIDE, 1 - self.y))

    def centred_on(self, fx: float, fy: float) -> "Selection":
        """The same size, centred on (fx, fy) as far as the edges allow."""
        return self.moved(fx - self.x - self.w / 2, fy - self.y - self.h / 2)

    @classmethod
    def between(cls, a: tuple[float, float], b: tuple[float, float]) -> "Selection":
        """The rectangle with corners `a` and `b` (a mouse drag), at least `MIN_SIDE` a side, inside the canvas."""
        (x0, y0), (x1, y1) = a, b
        left, top = _clamp(min(x0, x1), 0, 1 - MIN_SIDE), _clamp(min(y0, y1), 0, 1 - MIN_SIDE)
        return cls(left, top, _clamp(max(x0, x1) - left, MIN_SIDE, 1 - left),
                   _clamp(max(y0, y1) - top, MIN_SIDE, 1 - top))

    @property
    def region(self) -> Region:
        """The rectangle as a region of the painting (four decimals, inside the canvas)."""
        x, y = round(self.x, 4), round(self.y, 4)
        return Region(x, y, min(round(self.w, 4), round(1 - x, 4)), min(round(self.h, 4), round(1 - y, 4)))


def outlined(picture: Image.Image, selection: Selection, side: int = OUTLINE_SIDE) -> Image.Image:
    """A copy of `picture` (at most `side` pixels a side) with everything outside `selection` dimmed and the
    rectangle framed."""
    copy = picture.convert("RGB")
    if max(copy.size) > side:
        copy.thumbnail((side, side), Image.Resampling.BILINEAR)
    else:
        copy = copy.copy()
    width, height = copy.size
    box = (round(selection.x * width), round(selection.y * height),
           round((selection.x + selection.w) * width), round((selection.y + selection.h) * height))
    inside = copy.crop(box)
    copy = ImageEnhance.Brightness(copy).enhance(0.4)
    copy.paste(inside, box[:2])
    frame = max(2, round(max(width, height) / 60))
    ImageDraw.Draw(copy).rectangle((box[0], box[1], box[2] - 1, box[3] - 1), outline=FRAME, width=frame)
    return copy

"""Small generated pictures that stand in for paintings in the claim-checker tests.

Each is painted the same way every time (a seeded generator): soft gradients for sky and
ground, brush-like noise so no area is a flat field, and shapes whose share of the canvas is
chosen on purpose — a red boat a few percent of a grey harbour, a strip of yellow flowers in
a green field — because those are the cases where a model's remembered painting and the
picture in front of it part ways. The claims about them are labelled by looking at the
pictures, never by running the checker.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

W, H = 320, 240


def _vertical(top: tuple[int, int, int], bottom: tuple[int, int, int], height: int = H) -> np.ndarray:
    t = np.linspace(0.0, 1.0, height)[:, None, None]
    return (np.array(top, float) * (1 - t) + np.array(bottom, float) * t).repeat(W, axis=1)


def _brushed(array: np.ndarray, seed: int, strength: float = 9.0) -> Image.Image:
    """Add horizontal-streaked noise (a loaded brush dragged sideways) and clip to 8 bits."""
    rng = np.random.default_rng(seed)
    noise = rng.normal(0.0, strength, (H, W // 8 + 1, 1)).repeat(8, axis=1)[:, :W]
    fine = rng.normal(0.0, strength / 3, (H, W, 1))
    return Image.fromarray(np.clip(array + noise + fine, 0, 255).astype(np.uint8))


def _canvas(sky: tuple[tuple[int, int, int], tuple[int, int, int]], horizon: int,
            ground: tuple[tuple[int, int, int], tuple[int, int, int]], seed: int,
            strength: float = 9.0) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    """A brushed picture graded from sky's top to its bottom colour down to `horizon`, then as `ground` says;
    the picture and a pen to draw on it."""
    image = _brushed(np.concatenate([_vertical(*sky, horizon), _vertical(*ground, H - horizon)]), seed, strength)
    return image, ImageDraw.Draw(image)


def _soft(image: Image.Image, radius: float = 1.2) -> Image.Image:
    return image.filter(ImageFilter.GaussianBlur(radius))


def harbour() -> Image.Image:
    """An overcast grey harbour: pale grey-blue sky, slate water, a dark pier, one small red boat."""
    image, draw = _canvas(((196, 202, 208), (165, 172, 182)), 130, ((120, 130, 140), (85, 95, 105)), 1)
    draw.polygon([(0, 150), (150, 132), (150, 142), (0, 170)], fill=(60, 60, 64))  # the pier
    draw.polygon([(200, 150), (270, 150), (260, 168), (210, 168)], fill=(185, 30, 28))  # hull
    draw.polygon([(232, 148), (232, 100), (262, 146)], fill=(200, 40, 34))  # sail
    return _soft(image)


def fields() -> Image.Image:
    """A summer landscape: pale blue sky, green fields, a strip of yellow flowers, dark trees."""
    image, draw = _canvas(((150, 185, 225), (195, 215, 235)), 80, ((95, 150, 70), (60, 110, 45)), 2)
    draw.polygon([(0, 190), (320, 170), (320, 190), (0, 212)], fill=(235, 205, 40))  # flowers
    for x in (40, 90, 250):
        draw.ellipse((x - 18, 50, x + 18, 95), fill=(35, 70, 35))  # trees
    return _soft(image)


def nocturne() -> Image.Image:
    """A night harbour: deep navy sky and water, a few lit windows, a pale moon."""
    image, draw = _canvas(((18, 24, 52), (30, 38, 70)), 140, ((14, 20, 40), (8, 12, 26)), 3, strength=5.0)
    draw.rectangle((60, 110, 260, 140), fill=(22, 22, 26))  # the quay's buildings
    for x in range(70, 250, 22):
        draw.rectangle((x, 118, x + 6, 126), fill=(240, 190, 80))  # windows
    draw.ellipse((250, 25, 272, 47), fill=(235, 235, 215))  # moon
    return _soft(image)


def sunset() -> Image.Image:
    """A blazing sunset: orange to red sky, a dark red-brown field, black tree silhouettes."""
    image, draw = _canvas(((250, 170, 50), (215, 70, 30)), 150, ((120, 40, 20), (70, 25, 15)), 4)
    draw.ellipse((140, 110, 190, 160), fill=(255, 225, 120))  # the sun, low
    for x in (30, 270):
        draw.rectangle((x - 4, 80, x + 4, 160), fill=(20, 10, 8))
        draw.ellipse((x - 30, 50, x + 30, 110), fill=(20, 10, 8))
    return _soft(image)


def interior() -> Image.Image:
    """A candle-lit interior: dark umber room, one lit face and hands, a white collar."""
    array = _vertical((40, 28, 20), (22, 16, 12))
    image = _brushed(array, 5, strength=4.0)
    draw = ImageDraw.Draw(image)
    draw.ellipse((120, 50, 190, 135), fill=(230, 200, 160))  # face
    draw.polygon([(110, 140), (200, 140), (185, 160), (125, 160)], fill=(245, 240, 230))  # collar
    draw.ellipse((95, 175, 145, 205), fill=(220, 185, 145))  # hands
    draw.ellipse((60, 150, 100, 230), fill=(60, 30, 20))  # a darker table edge
    return _soft(image, 2.0)


def pastel() -> Image.Image:
    """A pale morning: cream sky, soft pink and pale blue bands, faint lilac shapes."""
    image, draw = _canvas(((250, 240, 225), (245, 215, 215)), 120, ((205, 220, 240), (225, 230, 240)), 6, strength=4.0)
    draw.ellipse((40, 140, 140, 190), fill=(215, 200, 230))
    draw.ellipse((200, 90, 300, 130), fill=(240, 205, 210))
    return _soft(image, 2.0)


def fog() -> Image.Image:
    """A foggy river: grey on grey, a darker grey bridge, one small blue boat."""
    array = _vertical((190, 190, 188), (140, 140, 140))
    image = _brushed(array, 7, strength=5.0)
    draw = ImageDraw.Draw(image)
    draw.rectangle((0, 100, 320, 112), fill=(110, 110, 112))  # bridge deck
    for x in (60, 160, 260):
        draw.rectangle((x - 6, 112, x + 6, 160), fill=(115, 115, 117))
    draw.polygon([(130, 185), (190, 185), (182, 205), (138, 205)], fill=(40, 70, 170))  # the boat
    draw.rectangle((150, 170, 166, 185), fill=(50, 80, 175))
    return _soft(image)


def lagoon() -> Image.Image:
    """A tropical lagoon: deep blue sky, turquoise water, green palms, one small orange boat."""
    image, draw = _canvas(((40, 90, 190), (110, 170, 230)), 100, ((40, 170, 170), (20, 110, 130)), 8)
    for x in (30, 70, 290):
        draw.polygon([(x - 35, 60), (x + 35, 60), (x, 30)], fill=(30, 120, 50))
        draw.rectangle((x - 3, 60, x + 3, 110), fill=(60, 90, 40))
    draw.polygon([(170, 170), (215, 170), (208, 180), (177, 180)], fill=(240, 120, 30))
    return _soft(image)


def orchard() -> Image.Image:
    """A spring orchard: pale sky, yellow-green grass, grey trunks, pink blossom clouds."""
    image, draw = _canvas(((215, 225, 235), (230, 235, 230)), 90, ((170, 190, 95), (130, 160, 70)), 11, strength=6.0)
    for x in (60, 160, 260):
        draw.rectangle((x - 5, 80, x + 5, 170), fill=(105, 100, 95))
        draw.ellipse((x - 38, 40, x + 38, 95), fill=(240, 170, 195))
    return _soft(image)


def storm() -> Image.Image:
    """A storm at sea: slate-dark sky, dark green-grey waves, one small white sail."""
    image, draw = _canvas(((55, 60, 70), (80, 85, 90)), 110, ((40, 60, 55), (20, 35, 32)), 12, strength=8.0)
    draw.polygon([(150, 140), (150, 95), (178, 138)], fill=(235, 235, 228))
    draw.polygon([(138, 140), (185, 140), (178, 150), (145, 150)], fill=(30, 25, 22))
    return _soft(image)


def desert() -> Image.Image:
    """A desert noon: hazy pale sky, ochre dunes, a dark violet-brown shadow in one dune."""
    image, draw = _canvas(((230, 225, 205), (240, 220, 180)), 90, ((220, 170, 90), (190, 130, 60)), 13, strength=7.0)
    draw.polygon([(180, 240), (320, 130), (320, 240)], fill=(120, 80, 60))
    return _soft(image, 2.0)


def winter() -> Image.Image:
    """A winter village: grey-blue sky, white snow, black bare trees, one small red house."""
    image, draw = _canvas(((170, 180, 195), (200, 205, 215)), 100, ((240, 242, 245), (225, 228, 235)), 14, strength=4.0)
    for x in (40, 110, 280):
        draw.line((x, 140, x, 60), fill=(25, 22, 20), width=5)
        draw.line((x, 90, x - 20, 70), fill=(25, 22, 20), width=3)
        draw.line((x, 100, x + 18, 78), fill=(25, 22, 20), width=3)
    draw.rectangle((190, 110, 230, 140), fill=(170, 35, 30))
    draw.polygon([(185, 110), (235, 110), (210, 92)], fill=(60, 40, 35))
    return _soft(image)


def autumn() -> Image.Image:
    """An autumn wood: orange and red foliage, brown ground, dark trunks, no sky."""
    rng = np.random.default_rng(15)
    image = _brushed(_vertical((210, 110, 40), (120, 60, 30)), 15, strength=10.0)
    draw = ImageDraw.Draw(image)
    for _ in range(40):
        x, y, r = int(rng.integers(0, W)), int(rng.integers(0, 150)), int(rng.integers(8, 22))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=((190, 40, 30), (230, 150, 40), (160, 80, 30))[_ % 3])
    for x in (50, 140, 230, 300):
        draw.rectangle((x - 6, 60, x + 6, H), fill=(45, 30, 22))
    return _soft(image)


def dusk() -> Image.Image:
    """A violet dusk: purple to lilac sky, a dark blue town, one small yellow street lamp."""
    image, draw = _canvas(((90, 60, 130), (170, 130, 190)), 150, ((30, 35, 70), (20, 22, 45)), 16, strength=6.0)
    draw.rectangle((40, 120, 300, 150), fill=(35, 38, 75))
    draw.ellipse((150, 160, 166, 176), fill=(250, 220, 70))
    draw.rectangle((156, 176, 160, 220), fill=(15, 15, 25))
    return _soft(image)


def market() -> Image.Image:
    """A market stall: awnings and fruit in many hues, each a tenth or so of the canvas."""
    image = Image.new("RGB", (W, H), (200, 190, 170))
    draw = ImageDraw.Draw(image)
    colours = [(200, 40, 35), (240, 150, 30), (240, 210, 40), (60, 140, 60), (40, 80, 170),
               (120, 60, 150), (230, 130, 160), (110, 70, 40)]
    for i, colour in enumerate(colours):
        draw.rectangle((i * 40, 0, i * 40 + 40, 90), fill=colour)
        draw.ellipse((i * 40 + 2, 150, i * 40 + 38, 190), fill=colours[(i + 3) % 8])
    return _soft(_brushed(np.asarray(image).astype(float), 17, strength=5.0))


def portrait() -> Image.Image:
    """A portrait in blue: a deep blue ground, a figure in black, a pale face and hands."""
    image = _brushed(_vertical((40, 70, 140), (30, 50, 110)), 18, strength=6.0)
    draw = ImageDraw.Draw(image)
    draw.polygon([(90, 240), (110, 120), (210, 120), (230, 240)], fill=(20, 20, 24))
    draw.ellipse((135, 45, 185, 115), fill=(235, 215, 195))
    draw.ellipse((140, 190, 180, 215), fill=(230, 205, 185))
    return _soft(image)


PICTURES: dict[str, Callable[[], Image.Image]] = {
    "harbour": harbour,
    "fields": fields,
    "nocturne": nocturne,
    "sunset": sunset,
    "interior": interior,
    "pastel": pastel,
    "fog": fog,
    "lagoon": lagoon,
    "orchard": orchard,
    "storm": storm,
    "desert": desert,
    "winter": winter,
    "autumn": autumn,
    "dusk": dusk,
    "market": market,
    "portrait": portrait,
}

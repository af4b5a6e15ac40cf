"""The measures' words: Hasler and Süsstrunk's colourfulness, and every sentence the paragraph can write."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from painted import PICTURES
from PIL import Image

from critic.facts import facts_paragraph, measure
from critic.facts.colour import colourfulness_label
from critic.facts.records import Accent


def hasler_susstrunk_m(image: Image.Image) -> float:
    """M as the paper defines it: rg = R − G, yb = (R + G)/2 − B over the sRGB values,
    M = sqrt(σ_rg² + σ_yb²) + 0.3 · sqrt(μ_rg² + μ_yb²)."""
    rgb = np.asarray(image, dtype=np.float64)
    rg = rgb[..., 0] - rgb[..., 1]
    yb = 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    return float(np.sqrt(rg.std() ** 2 + yb.std() ** 2) + 0.3 * np.sqrt(rg.mean() ** 2 + yb.mean() ** 2))


@pytest.mark.parametrize("name", sorted(PICTURES))
def test_colourfulness_is_hasler_and_susstrunks_m(name):
    image = PICTURES[name]()  # 320 px wide: the working copy is the picture itself
    assert measure(image).colour.colourfulness == pytest.approx(hasler_susstrunk_m(image), abs=0.06)


@pytest.mark.parametrize(
    "m, label",
    [(0, "not colourful"), (14.9, "not colourful"), (15, "slightly colourful"), (32.9, "slightly colourful"),
     (33, "moderately colourful"), (45, "averagely colourful"), (58.9, "averagely colourful"),
     (59, "quite colourful"), (81.9, "quite colourful"), (82, "highly colourful"), (140, "highly colourful")],
)
def test_colourfulness_categories_are_the_papers(m, label):
    assert colourfulness_label(m) == label


def test_the_labels_separate_different_pictures():
    labels = {measure(make()).colour.colourfulness_label for make in PICTURES.values()}
    labels.add(measure(Image.new("RGB", (64, 48), (128, 128, 128))).colour.colourfulness_label)
    assert len(labels) >= 5, labels


def test_json_reports_m_with_its_label_and_mean_chroma():
    colour = measure(PICTURES["sunset"]()).to_dict()["colour"]
    assert colour["colourfulness_label"] == "highly colourful"
    assert colour["colourfulness"] >= 82 and colour["mean_chroma"] > 0
    assert "saturation" not in colour


# ---------------------------------------------------------------------------- every sentence


@pytest.fixture(scope="module")
def base():
    return measure(PICTURES["harbour"]())


def _with(facts, **changes):
    """`facts` with fields of its value, colour or composition replaced."""
    parts = {}
    for part in ("value", "colour", "composition"):
        mine = {k.split("__")[1]: v for k, v in changes.items() if k.startswith(part + "__")}
        if mine:
            parts[part] = dataclasses.replace(getattr(facts, part), **mine)
    rest = {k: v for k, v in changes.items() if "__" not in k}
    return dataclasses.replace(facts, **parts, **rest)


def sentences(facts) -> list[str]:
    text = facts_paragraph(facts)
    assert "  " not in text and ", and is" not in text
    return [s if s.endswith(".") else s + "." for s in text.split(". ")]


@pytest.mark.parametrize(
    "key, level, expected",
    [
        ("low", "high", "A low-key picture (mean lightness 30 of 100) with high contrast: the middle 90% of its "
                        "pixels span 70 points of lightness."),
        ("middle", "moderate", "A middle-key picture (mean lightness 30 of 100) with moderate contrast: the middle "
                               "90% of its pixels span 70 points of lightness."),
        ("high", "low", "A high-key picture (mean lightness 30 of 100) with low contrast: the middle 90% of its "
                        "pixels span 70 points of lightness."),
    ],
)
def test_value_sentence(base, key, level, expected):
    facts = _with(base, value__key=key, value__contrast_level=level, value__mean=30.0, value__contrast=70.0,
                  value__two_sided=False)
    assert sentences(facts)[0] == expected


def test_two_sided_sentence(base):
    facts = _with(base, value__two_sided=True, value__dark_share=0.4, value__light_share=0.35)
    assert sentences(facts)[1] == ("Its values split into two separate masses, darks and lights (40% of the canvas "
                                   "below lightness 25, 35% above 75).")


def test_palette_and_accent_sentences(base):
    accent = Accent("vermilion", "red", "#dd4a2a", 0.021, 61.0)
    facts = _with(base, accents=(accent,))
    text = facts_paragraph(facts)
    top = base.palette.families[0]
    assert f"Greys cover {round(top.share * 100)}% of the canvas; the largest named colours are " in text
    assert "Vivid accents stand out from them: vermilion (2%)." in text
    assert "Vivid accents" not in facts_paragraph(_with(base, accents=()))


@pytest.mark.parametrize(
    "temperature, expected",
    [
        ("warm", "The colour reads warm (balance -0.09 on a −1 cool to +1 warm scale)."),
        ("cool", "The colour reads cool (balance -0.09 on a −1 cool to +1 warm scale)."),
        ("balanced", "Warm and cool colours are in balance (balance -0.09 on a −1 cool to +1 warm scale)."),
        ("neutral", "The colour is close to neutral grey, with no temperature to speak of."),
    ],
)
def test_temperature_sentence(base, temperature, expected):
    facts = _with(base, colour__temperature=temperature, colour__temperature_balance=-0.09)
    assert expected in sentences(facts)


@pytest.mark.parametrize("label", ["not colourful", "slightly colourful", "moderately colourful",
                                   "averagely colourful", "quite colourful", "highly colourful"])
def test_colourfulness_sentence(base, label):
    facts = _with(base, colour__colourfulness_label=label, colour__colourfulness=41.6, colour__mean_chroma=12.4)
    assert (f"On Hasler and Süsstrunk's scale the picture is {label} (colourfulness 42; mean chroma 12)."
            in sentences(facts))


@pytest.mark.parametrize(
    "position, anchor, distance, focal, detail, expected",
    [
        ("centred", "centre", 0.01, "spread across the canvas", "sparse",
         "The visual weight sits at the centre; detail is spread across the canvas (sparse edges)."),
        ("left of centre, high", "upper-left third", 0.05, "upper left", "dense",
         "The visual weight sits left of centre, high, near the upper-left third; detail concentrates in the "
         "upper left (dense edges)."),
        ("right of centre, low", "lower-right third", 0.2, "centre", "moderate",
         "The visual weight sits right of centre, low; detail concentrates in the centre (moderate edges)."),
    ],
)
def test_weight_sentence(base, position, anchor, distance, focal, detail, expected):
    facts = _with(base, composition__weight_position=position, composition__nearest_anchor=anchor,
                  composition__anchor_distance=distance, composition__focal_area=focal,
                  composition__detail_level=detail)
    assert expected in sentences(facts)


@pytest.mark.parametrize(
    "dominant, symmetry_level, expected",
    [
        ("none", "symmetric", "There are no clear edges to give lines a direction, and the left and right halves "
                              "nearly mirror each other (symmetry +0.50 on a −1 to +1 scale)."),
        ("mixed", "roughly symmetric", "No single line direction dominates, and the left and right halves roughly "
                                       "mirror each other (symmetry +0.50 on a −1 to +1 scale)."),
        ("horizontal", "partly symmetric", "Horizontal lines dominate (62% of the edge energy), and the left and "
                                           "right halves only partly mirror each other (symmetry +0.50 on a −1 to "
                                           "+1 scale)."),
        ("diagonal", "asymmetric", "Diagonal lines dominate (62% of the edge energy), and the left and right halves "
                                   "do not mirror each other (symmetry +0.50 on a −1 to +1 scale)."),
    ],
)
def test_lines_and_symmetry_sentence(base, dominant, symmetry_level, expected):
    lines = dataclasses.replace(base.composition.lines, dominant=dominant, horizontal=0.62, diagonal=0.62)
    facts = _with(base, composition__lines=lines, composition__symmetry_level=symmetry_level,
                  composition__symmetry=0.5)
    assert sentences(facts)[-1] == expected

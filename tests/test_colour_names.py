"""Colour names against published reference colours and against colours measured on the sample paintings.

The reference is the ISCC–NBS system of colour designation: the 267 centroid colours of
Kelly and Judd, "Color: Universal Language and Dictionary of Names", NBS Special Publication
440 (1976), as sRGB values in A. Jaffer's "Color-Name Dictionaries" (the NBS/ISCC Centroids
list; also in the Color::Library Perl distribution, Dictionary/NBS_ISCC.pm). Each centroid's
name implies the families it may take here, by `expected_families` below, written from the
ISCC–NBS naming rules (a hue noun, hue adjectives ending in -ish, lightness and saturation
modifiers) and not from critic's code.

The painting colours are literal values measured on the sample paintings (The Starry Night,
The Great Wave, Woman with a Hat, The Scream): the tests never read the paintings themselves;
`bench/facts_on_paintings.py` measures them again.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from critic.facts import facts_paragraph, grounding_summary, measure
from critic.facts.colour_names import CREAM, nearest_name

# (ISCC–NBS name, centroid sRGB): all 267, typed from the source named above.
ISCC_NBS_CENTROIDS: list[tuple[str, str]] = [
    ("Black", "#222222"), ("Blackish Blue", "#202830"), ("Blackish Green", "#1a2421"),
    ("Blackish Purple", "#291e29"), ("Blackish Red", "#2e1d21"), ("Bluish Black", "#202428"),
    ("Bluish Gray", "#81878b"), ("Bluish White", "#e9e9ed"), ("Brilliant Blue", "#4997d0"),
    ("Brilliant Bluish Green", "#00a693"), ("Brilliant Green", "#3eb489"), ("Brilliant Greenish Blue", "#239eba"),
    ("Brilliant Greenish Yellow", "#e9e450"), ("Brilliant Orange", "#fd943f"),
    ("Brilliant Orange Yellow", "#ffc14f"), ("Brilliant Purple", "#d399e6"),
    ("Brilliant Purplish Blue", "#6c79b8"), ("Brilliant Purplish Pink", "#ffc8d6"),
    ("Brilliant Violet", "#7e73b8"), ("Brilliant Yellow", "#fada5e"), ("Brilliant Yellow Green", "#bdda57"),
    ("Brilliant Yellowish Green", "#83d37d"), ("Brownish Black", "#28201c"), ("Brownish Gray", "#5b504f"),
    ("Brownish Orange", "#ae6938"), ("Brownish Pink", "#c2ac99"), ("Dark Blue", "#00304e"),
    ("Dark Bluish Gray", "#51585e"), ("Dark Bluish Green", "#004b49"), ("Dark Brown", "#422518"),
    ("Dark Gray", "#555555"), ("Dark Grayish Blue", "#36454f"), ("Dark Grayish Brown", "#3e322c"),
    ("Dark Grayish Green", "#3a4b47"), ("Dark Grayish Olive", "#363527"), ("Dark Grayish Olive Green", "#31362b"),
    ("Dark Grayish Purple", "#50404d"), ("Dark Grayish Red", "#543d3f"), ("Dark Grayish Reddish Brown", "#43302e"),
    ("Dark Grayish Yellow", "#a18f60"), ("Dark Grayish Yellowish Brown", "#483c32"), ("Dark Green", "#1b4d3e"),
    ("Dark Greenish Blue", "#004958"), ("Dark Greenish Gray", "#4e5755"), ("Dark Greenish Yellow", "#98943e"),
    ("Dark Olive", "#403d21"), ("Dark Olive Brown", "#3b3121"), ("Dark Olive Green", "#2b3d26"),
    ("Dark Orange Yellow", "#be8a3d"), ("Dark Pink", "#c08081"), ("Dark Purple", "#563c5c"),
    ("Dark Purplish Blue", "#252440"), ("Dark Purplish Gray", "#5d555b"), ("Dark Purplish Pink", "#c17e91"),
    ("Dark Purplish Red", "#673147"), ("Dark Red", "#722f37"), ("Dark Reddish Brown", "#3e1d1e"),
    ("Dark Reddish Gray", "#5c504f"), ("Dark Reddish Orange", "#9e4732"), ("Dark Reddish Purple", "#5d3954"),
    ("Dark Violet", "#2f2140"), ("Dark Yellow", "#ab9144"), ("Dark Yellowish Brown", "#4b3621"),
    ("Dark Yellowish Green", "#355e3b"), ("Dark Yellowish Pink", "#c48379"), ("Deep Blue", "#00416a"),
    ("Deep Bluish Green", "#00443f"), ("Deep Brown", "#593319"), ("Deep Green", "#00543d"),
    ("Deep Greenish Blue", "#2e8495"), ("Deep Greenish Yellow", "#9b9400"), ("Deep Olive Green", "#232f00"),
    ("Deep Orange", "#be6516"), ("Deep Orange Yellow", "#c98500"), ("Deep Pink", "#e4717a"),
    ("Deep Purple", "#602f6b"), ("Deep Purplish Blue", "#272458"), ("Deep Purplish Pink", "#de6fa1"),
    ("Deep Purplish Red", "#78184a"), ("Deep Red", "#841b2d"), ("Deep Reddish Brown", "#56070c"),
    ("Deep Reddish Orange", "#aa381e"), ("Deep Reddish Purple", "#702963"), ("Deep Violet", "#32174d"),
    ("Deep Yellow", "#af8d13"), ("Deep Yellow Green", "#467129"), ("Deep Yellowish Brown", "#654522"),
    ("Deep Yellowish Green", "#00622d"), ("Deep Yellowish Pink", "#e66721"), ("Grayish Blue", "#536878"),
    ("Grayish Brown", "#635147"), ("Grayish Green", "#5e716a"), ("Grayish Greenish Yellow", "#b9b57d"),
    ("Grayish Olive", "#5b5842"), ("Grayish Olive Green", "#515744"), ("Grayish Pink", "#c4aead"),
    ("Grayish Purple", "#796878"), ("Grayish Purplish Blue", "#4c516d"), ("Grayish Purplish Pink", "#c3a6b1"),
    ("Grayish Purplish Red", "#915f6d"), ("Grayish Red", "#905d5d"), ("Grayish Reddish Brown", "#674c47"),
    ("Grayish Reddish Orange", "#b4745e"), ("Grayish Reddish Purple", "#836479"), ("Grayish Violet", "#554c69"),
    ("Grayish Yellow", "#c2b280"), ("Grayish Yellow Green", "#8f9779"), ("Grayish Yellowish Brown", "#7e6d5a"),
    ("Grayish Yellowish Pink", "#c7ada3"), ("Greenish Black", "#1e2321"), ("Greenish Gray", "#7d8984"),
    ("Greenish White", "#dfede8"), ("Light Blue", "#70a3cc"), ("Light Bluish Gray", "#b4bcc0"),
    ("Light Bluish Green", "#66ada4"), ("Light Brown", "#a67b5b"), ("Light Brownish Gray", "#8e8279"),
    ("Light Gray", "#b9b8b5"), ("Light Grayish Brown", "#958070"), ("Light Grayish Olive", "#8c8767"),
    ("Light Grayish Purplish Red", "#af868e"), ("Light Grayish Red", "#ad8884"),
    ("Light Grayish Reddish Brown", "#977f73"), ("Light Grayish Yellowish Brown", "#ae9b82"),
    ("Light Green", "#6aab8e"), ("Light Greenish Blue", "#66aabc"), ("Light Greenish Gray", "#b2beb5"),
    ("Light Greenish Yellow", "#eae679"), ("Light Olive", "#867e36"), ("Light Olive Brown", "#967117"),
    ("Light Olive Gray", "#8a8776"), ("Light Orange", "#fab57f"), ("Light Orange Yellow", "#fbc97f"),
    ("Light Pink", "#f9ccca"), ("Light Purple", "#b695c0"), ("Light Purplish Blue", "#8791bf"),
    ("Light Purplish Gray", "#bfb9bd"), ("Light Purplish Pink", "#efbbcc"), ("Light Reddish Brown", "#a87c6d"),
    ("Light Reddish Purple", "#b784a7"), ("Light Violet", "#8c82b6"), ("Light Yellow", "#f8de7e"),
    ("Light Yellow Green", "#c9dc89"), ("Light Yellowish Brown", "#c19a6b"), ("Light Yellowish Green", "#93c592"),
    ("Light Yellowish Pink", "#f4c2c2"), ("Medium Gray", "#848482"), ("Moderate Blue", "#436b95"),
    ("Moderate Bluish Green", "#317873"), ("Moderate Brown", "#6f4e37"), ("Moderate Green", "#3b7861"),
    ("Moderate Greenish Blue", "#367588"), ("Moderate Greenish Yellow", "#b9b459"), ("Moderate Olive", "#665d1e"),
    ("Moderate Olive Brown", "#6c541e"), ("Moderate Olive Green", "#4a5d23"), ("Moderate Orange", "#d99058"),
    ("Moderate Orange Yellow", "#e3a857"), ("Moderate Pink", "#dea5a4"), ("Moderate Purple", "#86608e"),
    ("Moderate Purplish Blue", "#4e5180"), ("Moderate Purplish Pink", "#d597ae"),
    ("Moderate Purplish Red", "#a8516e"), ("Moderate Red", "#ab4e52"), ("Moderate Reddish Brown", "#79443b"),
    ("Moderate Reddish Orange", "#cb6d51"), ("Moderate Reddish Purple", "#915c83"), ("Moderate Violet", "#604e81"),
    ("Moderate Yellow", "#c9ae5d"), ("Moderate Yellow Green", "#8a9a5b"), ("Moderate Yellowish Brown", "#826644"),
    ("Moderate Yellowish Green", "#679267"), ("Moderate Yellowish Pink", "#d9a6a9"), ("Olive Black", "#25241d"),
    ("Olive Gray", "#57554c"), ("Pale Blue", "#91a3b0"), ("Pale Green", "#8da399"),
    ("Pale Greenish Yellow", "#ebe8a4"), ("Pale Orange Yellow", "#fad6a5"), ("Pale Pink", "#ead8d7"),
    ("Pale Purple", "#aa98a9"), ("Pale Purplish Blue", "#8c92ac"), ("Pale Purplish Pink", "#e8ccd7"),
    ("Pale Reddish Purple", "#aa8a9e"), ("Pale Violet", "#9690ab"), ("Pale Yellow", "#f3e5ab"),
    ("Pale Yellow Green", "#dadfb7"), ("Pale Yellowish Pink", "#ecd5c5"), ("Pinkish Gray", "#c1b6b3"),
    ("Pinkish White", "#eae3e1"), ("Purplish Black", "#242124"), ("Purplish Gray", "#8b8589"),
    ("Purplish White", "#e8e3e5"), ("Reddish Black", "#282022"), ("Reddish Gray", "#8f817f"),
    ("Strong Blue", "#0067a5"), ("Strong Bluish Green", "#007a74"), ("Strong Brown", "#80461b"),
    ("Strong Green", "#007959"), ("Strong Greenish Blue", "#007791"), ("Strong Greenish Yellow", "#beb72e"),
    ("Strong Olive Green", "#404f00"), ("Strong Orange", "#ed872d"), ("Strong Orange Yellow", "#eaa221"),
    ("Strong Pink", "#ea9399"), ("Strong Purple", "#875692"), ("Strong Purplish Blue", "#545aa7"),
    ("Strong Purplish Pink", "#e68fac"), ("Strong Purplish Red", "#b3446c"), ("Strong Red", "#bc3f4a"),
    ("Strong Reddish Brown", "#882d17"), ("Strong Reddish Orange", "#d9603b"),
    ("Strong Reddish Purple", "#9e4f88"), ("Strong Violet", "#604e97"), ("Strong Yellow", "#d4af37"),
    ("Strong Yellow Green", "#7e9f2e"), ("Strong Yellowish Brown", "#996515"),
    ("Strong Yellowish Green", "#44944a"), ("Strong Yellowish Pink", "#f99379"),
    ("Very Dark Bluish Green", "#002a29"), ("Very Dark Green", "#1c352d"), ("Very Dark Greenish Blue", "#002e3b"),
    ("Very Dark Purple", "#301934"), ("Very Dark Purplish Red", "#38152c"), ("Very Dark Red", "#3f1728"),
    ("Very Dark Reddish Purple", "#341731"), ("Very Dark Yellowish Green", "#173620"),
    ("Very Deep Purple", "#401a4c"), ("Very Deep Purplish Red", "#54133b"), ("Very Deep Red", "#5c0923"),
    ("Very Deep Reddish Purple", "#54194e"), ("Very Deep Yellowish Green", "#003118"),
    ("Very Light Blue", "#a1caf1"), ("Very Light Bluish Green", "#96ded1"), ("Very Light Green", "#8ed1b2"),
    ("Very Light Greenish Blue", "#9cd1dc"), ("Very Light Purple", "#d5badb"),
    ("Very Light Purplish Blue", "#b3bce2"), ("Very Light Violet", "#dcd0ff"),
    ("Very Light Yellowish Green", "#b6e5af"), ("Very Pale Blue", "#bcd4e6"), ("Very Pale Green", "#c7e6d7"),
    ("Very Pale Purple", "#d6cadd"), ("Very Pale Purplish Blue", "#c0c8e1"), ("Very Pale Violet", "#c4c3dd"),
    ("Vivid Blue", "#00a1c2"), ("Vivid Bluish Green", "#008882"), ("Vivid Green", "#008856"),
    ("Vivid Greenish Blue", "#0085a1"), ("Vivid Greenish Yellow", "#dcd300"), ("Vivid Orange", "#f38400"),
    ("Vivid Orange Yellow", "#f6a600"), ("Vivid Pink", "#ffb5ba"), ("Vivid Purple", "#9a4eae"),
    ("Vivid Purplish Blue", "#30267a"), ("Vivid Purplish Red", "#ce4676"), ("Vivid Red", "#be0032"),
    ("Vivid Reddish Orange", "#e25822"), ("Vivid Reddish Purple", "#870074"), ("Vivid Violet", "#9065ca"),
    ("Vivid Yellow", "#f3c300"), ("Vivid Yellow Green", "#8db600"), ("Vivid Yellowish Green", "#27a64c"),
    ("Vivid Yellowish Pink", "#ffb7a5"), ("White", "#f2f3f4"), ("Yellowish Gray", "#bfb8a5"),
    ("Yellowish White", "#f0ead6"),
]

_NOUNS = {
    "pink": {"pink"}, "red": {"red"}, "orange": {"orange"}, "brown": {"brown"}, "yellow": {"yellow"},
    "olive": {"green", "brown", "yellow"},  # ISCC–NBS olive: a dark yellow-green, between the basic terms
    "green": {"green"}, "blue": {"blue"}, "purple": {"purple"}, "violet": {"purple"},
    "white": {"white"}, "gray": {"grey"}, "black": {"black"},
}
_HUE_ADJECTIVES = {"reddish": "red", "yellowish": "yellow", "greenish": "green", "bluish": "blue",
                   "purplish": "purple", "pinkish": "pink", "brownish": "brown", "blackish": "black", "olive": "green"}
_WARM = {"yellow", "orange", "brown", "pink"}


def expected_families(name: str) -> set[str]:
    """The families an ISCC–NBS name allows: its hue noun's, and those of its -ish hue adjectives."""
    words = name.lower().split()
    noun, modifiers = words[-1], words[:-1]
    families = set(_NOUNS[noun])
    if modifiers and modifiers[-1] in ("orange", "yellow", "olive") and noun in ("yellow", "green", "brown",
                                                                               "gray", "black"):
        families |= _NOUNS[modifiers[-1]]  # two-word hues: orange yellow, yellow green, olive green…
    families |= {_HUE_ADJECTIVES[w] for w in modifiers if w in _HUE_ADJECTIVES}
    if {"red", "purple"} <= families:
        families.add("pink")  # between red and purple lie magenta and rose
    if noun == "pink" and "yellowish" in modifiers:
        families.add("orange")  # salmon and peach
    if noun == "pink" and "dark" in modifiers:
        families.add("red")  # pink is light red: a dark pink is a red
    if families & {"orange", "yellow"} and {"dark", "deep"} & set(modifiers):
        families.add("brown")  # brown is dark orange or yellow
    if families & _WARM and (noun in ("gray", "white") or {"pale", "grayish", "brownish"} & set(modifiers)):
        families.add(CREAM)  # pale, greyish or whitish warm colours: the light neutrals
    return families


def rgb(value: str) -> tuple[int, int, int]:
    return int(value[1:3], 16), int(value[3:5], 16), int(value[5:7], 16)


def test_the_table_is_the_whole_iscc_nbs_set():
    assert len(ISCC_NBS_CENTROIDS) == 267 and len({name for name, _ in ISCC_NBS_CENTROIDS}) == 267


@pytest.mark.parametrize("name, value", ISCC_NBS_CENTROIDS, ids=[name for name, _ in ISCC_NBS_CENTROIDS])
def test_every_iscc_nbs_centroid_is_named_in_a_family_its_name_allows(name, value):
    named = nearest_name(rgb(value))
    assert named.family in expected_families(name), f"{name} {value} named {named.name!r} ({named.family})"


def test_greyish_centroids_take_their_hue_not_grey():
    greyish = [(name, value) for name, value in ISCC_NBS_CENTROIDS
               if "Grayish" in name and name.split()[-1] not in ("Gray", "White", "Black")]
    assert len(greyish) > 30
    for name, value in greyish:
        assert nearest_name(rgb(value)).family not in ("grey", "black", "white"), name


# -- colours measured on the sample paintings ------------------------------------------------------

@pytest.mark.parametrize("painting, value, name, family", [
    # The Starry Night: the moon and stars, a vivid light yellow (an accent once called "beige")
    ("starry night, moon and stars", "#c3c984", "pale yellow", "yellow"),
    ("starry night, the yellow swatch", "#dfdc8a", "pale yellow", "yellow"),
    # The Great Wave: the paper-coloured ground, light and low in chroma: not a brown
    ("great wave, ground", "#cac4a6", "beige", CREAM),
    ("great wave, darker ground", "#b9b59b", "greyish beige", CREAM),
    ("great wave, lightest ground", "#dfd9b8", "cream", CREAM),
    ("great wave, Prussian blue", "#273f5a", "prussian blue", "blue"),
    # Woman with a Hat: a mauve area once called "dark grey", and a pale violet once "pale blue"
    ("woman with a hat, mauve", "#695965", "greyish mauve", "purple"),
    ("woman with a hat, pale violet", "#d7cede", "pale greyish violet", "purple"),
    ("woman with a hat, beige", "#d8c4af", "beige", CREAM),
    # The Scream: the dark green-grey landscape, once "charcoal" and "dark brown"
    ("the scream, dark landscape", "#2e392f", "dark greyish green", "green"),
    ("the scream, vermilion sky", "#c9420f", "vermilion", "red"),
])
def test_painting_colours(painting, value, name, family):
    named = nearest_name(rgb(value))
    assert (named.name, named.family) == (name, family), painting


def _canvas(shares: list[tuple[str, float]]) -> Image.Image:
    """A canvas of horizontal bands, each colour covering its share of 200 rows."""
    rows = []
    for value, share in shares:
        rows += [rgb(value)] * round(200 * share)
    return Image.fromarray(np.repeat(np.array(rows, dtype=np.uint8)[:, None, :], 300, axis=1))


def test_the_great_waves_palette_is_summed_up_as_light_neutrals_not_browns():
    # The Great Wave's measured swatches and shares (mean colour of each name's pixels)
    wave = _canvas([("#cbc4a6", 0.36), ("#bbb498", 0.14), ("#273f5a", 0.08), ("#95ae9a", 0.05), ("#6a958d", 0.05),
                    ("#74a19a", 0.04), ("#1c2843", 0.05), ("#dfd9b8", 0.05), ("#3d5665", 0.05), ("#6c8781", 0.13)])
    facts = measure(wave)
    assert facts.palette.families[0].family == CREAM
    text = facts_paragraph(facts)
    assert "Light neutrals/creams cover" in text and "Browns" not in text
    assert "light neutrals/creams" in grounding_summary(facts)
    assert {a.family for a in facts.accents} <= {"yellow", "green", "blue"}


def test_the_starry_nights_moon_is_a_yellow_accent_not_a_beige():
    # steel blue sky with the moon's colour on 2% of it, measured on The Starry Night
    starry = _canvas([("#3d72a0", 0.55), ("#1d1c24", 0.2), ("#2c599c", 0.23), ("#c3c984", 0.02)])
    facts = measure(starry)
    accents = {a.family: a.name for a in facts.accents}
    assert accents == {"yellow": "pale yellow"}


def test_a_family_of_greyish_names_is_called_greyish():
    slate = _canvas([("#4d6473", 0.5), ("#a9b6c2", 0.5)])  # greyish blue and pale greyish blue
    facts = measure(slate)
    assert {s.name for s in facts.palette.swatches} == {"greyish blue", "pale greyish blue"}
    assert "Greyish blues cover 100% of the canvas" in facts_paragraph(facts)

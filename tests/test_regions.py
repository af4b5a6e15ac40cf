"""Details of a painting without a model: the region syntax, the crop, its identity, its facts and `critic facts --region`.

The painting is `quadrants` (tests/conftest.py): four quarters whose colours and stroke
directions are known from how they were drawn, so what a detail's facts should say is
known without running the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import QUADRANTS
from PIL import Image

from critic.cli import main
from critic.core.errors import BadRegion
from critic.core.images import load_image
from critic.core.regions import Box, cut_detail, detail_tiles, load_whole, parse_region, region_of_record
from critic.facts import measure
from critic.facts.detail import compare_to_whole

QUARTERS = {"top-left": "0,0,0.5,0.5", "top-right": "0.5,0,0.5,0.5", "bottom-left": "0,0.5,0.5,0.5",
            "bottom-right": "0.5,0.5,0.5,0.5"}


@pytest.fixture(scope="module")
def whole(quadrants):
    painting = load_whole(quadrants)
    return painting, measure(painting.image)


def test_pixels_and_fractions_cut_the_same_crop_with_the_same_identity(whole):
    painting, _ = whole
    by_fraction = cut_detail(painting, parse_region("0.25,0.5,0.5,0.5"))
    by_pixels = cut_detail(painting, parse_region("100,150,200,150px"))
    each_px = cut_detail(painting, parse_region(" 100px, 150px, 200px, 150px "))
    assert by_fraction.box == by_pixels.box == each_px.box == Box(100, 150, 200, 150, (400, 300))
    assert by_fraction.image.sha256 == by_pixels.image.sha256 == each_px.image.sha256
    assert np.array_equal(np.asarray(by_fraction.image.image), np.asarray(by_pixels.image.image))
    reference = Image.open(painting.path).convert("RGB").crop((100, 150, 300, 300))
    assert np.array_equal(np.asarray(by_pixels.image.image), np.asarray(reference))
    # a crop is a picture of its own: neither the painting's hash nor another detail's
    other = cut_detail(painting, parse_region("0.25,0.5,0.5,0.4"))
    assert len({painting.sha256, by_fraction.image.sha256, other.image.sha256}) == 3
    assert by_fraction.painting_sha256 == painting.sha256 and by_fraction.image.original_size == (200, 150)


@pytest.mark.parametrize("text, says", [
    ("0.6,0,0.5,1", "reaches past the right edge of the canvas (x + w = 1.1"),
    ("0,0.5,0.5,0.75", "reaches past the bottom edge of the canvas"),
    ("0,0,0,0.5", "is empty: its width is 0"),
    ("0.1,0.1,0.5,0", "is empty: its height is 0"),
    ("-0.1,0,0.5,0.5", "starts outside the canvas"),
    ("10,10,200,100", "values above 1 are pixels: write 10,10,200,100px"),
    ("1.5px,0,2,2", "put px after the last value"),
    ("1.5,0,2,2px", "pixels are whole numbers"),
    ("top left", "is not X,Y,W,H"),
    ("0.1,0.2,0.3", "is not X,Y,W,H"),
])
def test_bad_regions_are_refused_before_any_painting_is_read(text, says):
    with pytest.raises(BadRegion) as caught:
        parse_region(text)
    assert says in str(caught.value) and "\n" not in str(caught.value)


def test_regions_outside_this_canvas_or_under_a_pixel_name_it(whole):
    painting, _ = whole
    for text, says in [("300,0,200,100px", "reaches past the right edge of quadrants.png (400×300 px)"),
                       ("0,250,10,60px", "reaches past the bottom edge of quadrants.png"),
                       ("0,0,0.001,0.5", "is less than a pixel wide on quadrants.png (400×300 px)")]:
        with pytest.raises(BadRegion) as caught:
            cut_detail(painting, parse_region(text))
        assert says in str(caught.value)


def test_a_quarters_facts_differ_from_the_wholes_as_it_was_painted(whole):
    painting, overall = whole
    assert overall.composition.lines.dominant == "mixed"
    for quarter, text in QUARTERS.items():
        light, dark, direction = QUADRANTS[quarter]
        facts = measure(cut_detail(painting, parse_region(text)).image.image)
        mean = np.mean([light, dark], axis=0)
        assert np.allclose(facts.palette.swatches[0].rgb, mean, atol=40), quarter
        if quarter != "bottom-right":  # pale cream strokes 30 levels apart make no edges above the threshold
            assert facts.composition.lines.dominant == direction, quarter
    blue = measure(cut_detail(painting, parse_region(QUARTERS["top-right"])).image.image)
    red = measure(cut_detail(painting, parse_region(QUARTERS["top-left"])).image.image)
    assert blue.colour.temperature == "cool" and red.colour.temperature == "warm"
    compared = compare_to_whole(blue, overall)
    assert compared.startswith("The detail is darker, cooler")
    assert "lines are mostly vertical (100% of the edge energy) where in the whole painting no single" in compared
    assert "Reds lead here" in compare_to_whole(red, overall)
    assert compare_to_whole(red, overall, brief=True).startswith("The detail is warmer")
    assert compare_to_whole(overall, overall) == ("The detail is much like the painting overall in lightness, "
                                                  "colour temperature, colourfulness, contrast and detail.")


def test_detail_tiles_overlap_by_half_and_cover_the_canvas(whole):
    painting, _ = whole
    tiles = detail_tiles(3)
    assert [t.text for t in tiles[:3]] == ["0,0,0.5,0.5", "0.25,0,0.5,0.5", "0.5,0,0.5,0.5"]
    assert [t.tile for t in tiles] == [(r, c, 3) for r in range(3) for c in range(3)]
    boxes = [cut_detail(painting, t).box for t in detail_tiles(2)]
    assert [(b.left, b.top, b.width, b.height) for b in boxes] == [
        (0, 0, 267, 200), (133, 0, 267, 200), (0, 100, 267, 200), (133, 100, 267, 200)]
    for bad in (1, 7):
        with pytest.raises(BadRegion, match="--detail takes 2 to 6"):
            detail_tiles(bad)


def test_a_records_region_cuts_the_same_box_again(whole):
    painting, _ = whole
    for region in (parse_region("0.3333,0.1,0.4,0.5"), parse_region("7,9,123,45px"), detail_tiles(2)[3]):
        detail = cut_detail(painting, region)
        again = cut_detail(painting, region_of_record(json.loads(json.dumps(detail.to_dict()))))
        assert again.box == detail.box and again.image.sha256 == detail.image.sha256 and again.tile == detail.tile
    with pytest.raises(ValueError):
        region_of_record({"box": [0, 0, 500, 10], "canvas": [400, 300]})


def test_the_crop_comes_from_the_file_at_full_resolution(tmp_path):
    path = tmp_path / "large.png"
    Image.new("RGB", (4000, 100), (200, 200, 200)).save(path)
    assert load_image(path).image.size == (2048, 51)  # the whole painting is downscaled for analysis
    detail = cut_detail(load_whole(path), parse_region("0,0,0.1,1"))
    assert detail.image.image.size == (400, 100)  # its tenth keeps every pixel


def test_facts_region_prints_the_details_facts_and_the_comparison(quadrants, capsys):
    assert main(["facts", str(quadrants), "--region", QUARTERS["top-right"], "--region", "0,0,200,150px",
                 "--format", "json"]) == 0
    blue, red = (json.loads(line) for line in capsys.readouterr().out.splitlines())
    assert blue["region"]["box"] == [200, 0, 200, 150] and red["region"]["box"] == [0, 0, 200, 150]
    assert blue["composition"]["lines"]["dominant"] == "vertical" and blue["compared"].startswith("The detail is")
    assert red["colour"]["temperature"] == "warm"
    assert main(["facts", str(quadrants), "--region", QUARTERS["top-left"]]) == 0
    out = capsys.readouterr().out
    assert "quadrants.png — detail 0,0,0.5,0.5 (0,0,200,150px)" in out and "The detail is" in out


def test_facts_region_errors_are_one_line(quadrants, capsys):
    assert main(["facts", str(quadrants), "--region", "0.5,0.5,0.6,0.5"]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0 and "reaches past the right edge" in err
    assert main(["facts", str(quadrants), "--region", "0,0,401,10px"]) == 2
    assert "reaches past the right edge of quadrants.png (400×300 px)" in capsys.readouterr().err

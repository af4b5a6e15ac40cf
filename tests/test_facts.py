"""Measured facts: synthetic and generated pictures with known properties, the words, the CLI."""

from __future__ import annotations

import dataclasses
import io
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from painted import PICTURES
from PIL import Image, ImageDraw
from rich.console import Console

import critic.facts as facts_package
from critic.cli import main
from critic.facts import check_analysis, facts_paragraph, grounding_summary, measure
from critic.facts.records import ColourFacts, Composition, Lines, Palette, Swatch, Value
from critic.facts.render import palette_strip, render_facts, render_flags, value_bar

W, H = 240, 180


def field(rgb: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", (W, H), rgb)


def half_black_white() -> Image.Image:
    array = np.zeros((H, W, 3), np.uint8)
    array[:, W // 2 :] = 255
    return Image.fromarray(array)


def blobs(seed: int = 1) -> Image.Image:
    """Half a canvas of coloured discs on green."""
    rng = np.random.default_rng(seed)
    image = Image.new("RGB", (W // 2, H), (90, 120, 60))
    draw = ImageDraw.Draw(image)
    for _ in range(20):
        x, y, r = int(rng.integers(0, W // 2)), int(rng.integers(0, H)), int(rng.integers(5, 30))
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
    return image


def stripes(direction: str) -> Image.Image:
    yy, xx = np.mgrid[0:H, 0:W]
    t = {"horizontal": yy, "vertical": xx, "diagonal": xx + yy}[direction]
    dark = (t // 12) % 2 == 0
    return Image.fromarray(np.where(dark[..., None], [40, 40, 60], [230, 220, 200]).astype(np.uint8))


# ---------------------------------------------------------------------------- synthetic


def test_half_black_half_white_is_high_contrast_and_two_sided():
    facts = measure(half_black_white())
    assert facts.value.contrast == 100.0
    assert facts.value.contrast_level == "high"
    assert facts.value.two_sided
    assert facts.value.separability > 0.99
    assert facts.value.histogram[0] == pytest.approx(0.5) and facts.value.histogram[-1] == pytest.approx(0.5)
    assert {s.name for s in facts.palette.swatches} == {"black", "white"}
    # A left/right split is the opposite of a mirror image.
    assert facts.composition.symmetry_level == "asymmetric"
    assert facts.composition.lines.dominant == "vertical"


def test_an_even_ramp_is_not_two_sided():
    ramp = np.tile(np.linspace(0, 255, W), (H, 1)).astype(np.uint8)
    value = measure(Image.fromarray(ramp).convert("RGB")).value
    assert value.contrast_level == "high"
    assert not value.two_sided


def test_red_field_is_warm_colourful_and_red():
    facts = measure(field((200, 30, 25)))
    assert facts.palette.swatches[0].family == "red"
    assert facts.palette.swatches[0].share == 1.0
    assert facts.palette.families[0].family == "red"
    assert facts.colour.temperature == "warm"
    assert facts.colour.temperature_balance > 0.9
    assert facts.colour.colourfulness_label == "averagely colourful"  # one flat colour: M is 0.3 × its mean only
    assert facts.colour.coverage("red").core == 1.0
    assert facts.colour.coverage("blue").loose == 0.0


def test_blue_field_is_cool_and_grey_field_is_neutral():
    blue = measure(field((30, 60, 160)))
    assert blue.palette.swatches[0].family == "blue"
    assert blue.colour.temperature == "cool"
    grey = measure(field((128, 128, 128)))
    assert grey.colour.temperature == "neutral"
    assert grey.colour.colourfulness == 0 and grey.colour.colourfulness_label == "not colourful"
    assert grey.value.key == "middle" and grey.value.contrast == 0
    assert grey.composition.lines.dominant == "none"
    assert grey.composition.focal_area == "spread across the canvas"


def test_key_follows_lightness():
    assert measure(field((25, 22, 30))).value.key == "low"
    assert measure(field((235, 230, 220))).value.key == "high"


def test_mirrored_image_is_symmetric_and_unmirrored_is_not():
    half = np.asarray(blobs())
    mirrored = measure(Image.fromarray(np.concatenate([half, half[:, ::-1]], axis=1)))
    rotated = measure(Image.fromarray(np.concatenate([half, half[::-1, ::-1]], axis=1)))
    assert mirrored.composition.symmetry > 0.95
    assert mirrored.composition.symmetry_level == "symmetric"
    assert rotated.composition.symmetry < 0.2
    assert rotated.composition.symmetry_level == "asymmetric"


@pytest.mark.parametrize("direction", ["horizontal", "vertical", "diagonal"])
def test_stripes_have_their_direction(direction):
    lines = measure(stripes(direction)).composition.lines
    assert lines.dominant == direction
    assert getattr(lines, direction) > 0.8


def test_rings_read_as_curving():
    image = field((240, 240, 235))
    draw = ImageDraw.Draw(image)
    for r in range(12, 120, 14):
        draw.ellipse((W / 2 - r, H / 2 - r, W / 2 + r, H / 2 + r), outline=(20, 20, 20), width=3)
    lines = measure(image).composition.lines
    assert lines.dominant == "curving"
    assert lines.curving > lines.horizontal + lines.vertical + lines.diagonal


def test_weight_and_focus_follow_a_lone_shape():
    image = field((240, 240, 235))
    ImageDraw.Draw(image).ellipse((30, 15, 90, 75), fill=(20, 20, 20))
    comp = measure(image).composition
    assert comp.focal_area == "upper left"
    assert comp.weight_centre[0] < 0.45 and comp.weight_centre[1] < 0.45
    assert comp.weight_position == "left of centre, high"
    assert comp.nearest_anchor == "upper-left third"
    assert comp.grid[0][0] == max(max(row) for row in comp.grid)
    assert comp.detail_level == "sparse"


def test_chosen_k_and_limits():
    image = blobs()
    automatic = measure(image)
    three = measure(image, k=3)
    assert automatic.palette.automatic and not three.palette.automatic
    assert three.palette.k == len(three.palette.swatches) == 3
    assert [s.name for s in three.palette.swatches] == [s.name for s in automatic.palette.swatches[:3]]
    assert measure(field((10, 200, 10)), k=5).palette.k == 1  # one colour, however many are asked
    with pytest.raises(ValueError):
        measure(image, k=0)


def test_measure_is_deterministic_and_json_ready():
    image = blobs(3)
    first, second = measure(image), measure(image)
    assert first == second
    record = json.loads(json.dumps(first.to_dict()))
    assert record["palette"]["swatches"][0]["name"] == first.palette.swatches[0].name
    assert record["value"]["key"] == first.value.key
    assert set(record) == {"size", "working_size", "palette", "value", "colour", "composition", "accents"}


def test_any_mode_and_any_size():
    tiny = measure(Image.new("L", (3, 2), 200))
    assert tiny.value.key == "high"
    wide = measure(Image.new("RGBA", (2000, 40), (10, 20, 200, 255)))
    assert max(wide.working_size) == 320 and wide.palette.swatches[0].family == "blue"


# ---------------------------------------------------------------------------- generated paintings
# (the same checks on the famous sample paintings are in bench/facts_on_paintings.py, which
# needs ../shared/paintings; the tests generate everything they use)


def test_a_night_scene_is_low_key_blue_and_cool():
    facts = measure(PICTURES["nocturne"]())
    assert facts.value.key == "low" and facts.colour.temperature == "cool"
    assert {f.family for f in facts.palette.families[:2]} == {"blue", "black"}


def test_a_sunset_sky_is_orange_red_and_warm():
    image = PICTURES["sunset"]()
    sky = measure(image.crop((0, 0, image.width, int(image.height * 0.3))))
    assert sky.colour.temperature == "warm"
    assert {f.family for f in sky.palette.families[:2]} <= {"orange", "red", "yellow"}


def test_a_snow_scene_is_high_key_and_its_small_red_house_is_an_accent():
    facts = measure(PICTURES["winter"]())
    assert facts.value.key == "high"
    assert facts.palette.swatches[0].family in ("white", "grey", "blue")
    assert "red" in {a.family for a in facts.accents}


def test_a_market_of_many_hues_is_highly_colourful_and_a_storm_is_not():
    assert measure(PICTURES["market"]()).colour.colourfulness_label == "highly colourful"
    assert measure(PICTURES["storm"]()).colour.colourfulness_label == "not colourful"


def _reencoded(image: Image.Image, quality: int, scale: float = 1.0) -> Image.Image:
    if scale != 1.0:
        image = image.resize((round(image.width * scale), round(image.height * scale)), Image.Resampling.BICUBIC)
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("RGB")


@pytest.mark.parametrize("name", ["blobs", "harbour", "fields", "sunset", "lagoon", "portrait"])
def test_colour_names_survive_jpeg_and_resizing(name):
    image = blobs(7) if name == "blobs" else PICTURES[name]()
    original = measure(image)
    for variant in (_reencoded(image, 70), _reencoded(image, 85, 0.6), image.resize((image.width // 2, image.height // 2))):
        other = measure(variant)
        names = {s.name for s in other.palette.swatches}
        for swatch in original.palette.swatches:
            if swatch.share >= 0.08:
                assert swatch.name in names, (swatch.name, names)
        assert other.palette.swatches[0].name == original.palette.swatches[0].name
        assert other.palette.families[0].family == original.palette.families[0].family


# ---------------------------------------------------------------------------- words and rendering


def test_paragraph_and_summary_are_made_of_the_measurements():
    facts = measure(field((200, 30, 25)))
    paragraph = facts_paragraph(facts)
    assert "reads warm" in paragraph and "averagely colourful" in paragraph
    assert f"{facts.value.mean:.0f} of 100" in paragraph
    assert "Reds cover 100% of the canvas" in paragraph
    summary = grounding_summary(facts)
    assert summary.startswith("Measured from the image")
    assert "red 100%" in summary and "warm" in summary
    grey = facts_paragraph(measure(field((128, 128, 128))))
    assert "neutral grey" in grey
    assert "two separate masses" in facts_paragraph(measure(half_black_white()))


def test_render_facts_shows_swatches_histogram_and_label():
    facts = measure(blobs())
    console = Console(record=True, width=100, color_system="truecolor")
    console.print(render_facts(facts))
    text = console.export_text(clear=False)
    assert "Measured from the image, not written by a model" in text
    for swatch in facts.palette.swatches:
        assert swatch.name in text
    html = console.export_html(inline_styles=True)
    assert facts.palette.swatches[0].hex in html  # the swatch is painted in its colour
    assert len(palette_strip(facts, width=40)) == 40
    assert len(value_bar(facts, width=30)) == 30


def test_render_flags_marks_the_contradicted_sentence():
    facts = measure(field((30, 60, 160)))
    text = "The canvas is a flat field. The palette is dominated by fiery reds."
    flags = check_analysis(text, facts)
    console = Console(record=True, width=100)
    console.print(render_flags(text, flags))
    out = console.export_text()
    assert "dominated by fiery reds. [1]" in out
    assert "measured:" in out and "reds cover only" in out
    assert render_flags("Fine.", []).plain == "Fine."


# ---------------------------------------------------------------------------- documentation and imports


def test_every_measure_is_documented_in_the_package_docstring():
    doc = facts_package.__doc__.replace("\n", " ")
    for cls in (Palette, Swatch, Value, ColourFacts, Lines, Composition):
        for field_ in dataclasses.fields(cls):
            words = field_.name.replace("_", " ")
            assert field_.name in doc or words in doc.lower(), f"{cls.__name__}.{field_.name} is not documented"


def test_core_imports_neither_rich_nor_heavy_packages():
    code = "import sys, critic.facts; bad = {'rich', 'torch', 'transformers', 'llama_cpp'} & set(sys.modules); print(bad); sys.exit(bool(bad))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=Path(__file__).parents[1])
    assert result.returncode == 0, result.stdout + result.stderr


# ---------------------------------------------------------------------------- CLI


def test_cli_text_and_json(tmp_path, capsys):
    path = tmp_path / "red.png"
    field((200, 30, 25)).save(path)
    assert main(["facts", str(path)]) == 0
    out = capsys.readouterr().out
    assert "not written by a model" in out and "red" in out
    assert main(["facts", str(path), "--format", "json", "--k", "2"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["path"] == str(path)
    assert record["palette"]["automatic"] is False
    assert record["colour"]["temperature"] == "warm"
    assert record["paragraph"].startswith("A middle-key picture")


def test_cli_bad_image_is_one_line_and_others_still_measured(tmp_path, capsys):
    good = tmp_path / "good.png"
    field((30, 60, 160)).save(good)
    bad = tmp_path / "bad.jpg"
    bad.write_text("not a picture")
    assert main(["facts", str(bad)]) == 5
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and err.startswith("critic: error:") and "bad.jpg" in err
    assert main(["facts", str(bad), str(good), "--format", "json"]) == 5
    captured = capsys.readouterr()
    assert json.loads(captured.out)["path"] == str(good)
    assert "bad.jpg" in captured.err


def test_cli_refuses_a_bad_k(tmp_path, capsys):
    path = tmp_path / "x.png"
    field((1, 2, 3)).save(path)
    assert main(["facts", str(path), "--k", "0"]) == 2
    assert "--k must be between 1 and 12" in capsys.readouterr().err


def test_load_image_draft_decodes_a_jpeg_small_and_keeps_its_size(tmp_path):
    from critic.core.images import load_image

    path = tmp_path / "big.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # stored landscape, shown portrait
    stripes("horizontal").resize((2000, 1500)).save(path, quality=90, exif=exif)
    full = load_image(path)
    small = load_image(path, draft=640)
    assert full.original_size == small.original_size == (1500, 2000)
    assert full.image.size == (1500, 2000)
    assert small.image.size == (750, 1000)  # decoded at a quarter, turned upright
    assert small.sha256 == full.sha256
    # The stripes run horizontally in the file, so vertically once turned upright, at any scale.
    assert measure(small.image).composition.lines.dominant == "vertical"
    assert measure(small.image).palette.swatches[0].name == measure(full.image).palette.swatches[0].name
    png = tmp_path / "big.png"
    stripes("vertical").resize((1000, 800)).save(png)
    assert load_image(png, draft=640).image.size == (1000, 800)  # only JPEG decodes small


def test_accents_report_the_vivid_hues_the_dominant_colours_average_away(tmp_path):
    """Small vivid strokes on a muted ground: named as accents, in the paragraph, and never claimed absent."""
    from critic.facts.check import check_analysis
    from critic.facts.describe import facts_paragraph, grounding_summary

    picture = Image.new("RGB", (400, 300), (120, 130, 150))  # a grey-blue ground
    draw = ImageDraw.Draw(picture)
    draw.rectangle((20, 20, 50, 60), fill=(240, 120, 20))  # orange, 1 %
    draw.rectangle((300, 200, 330, 240), fill=(40, 170, 60))  # green, 1 %
    facts = measure(picture)
    assert not {"orange", "green"} & {s.family for s in facts.palette.swatches}
    accents = {a.family: a for a in facts.accents}
    assert set(accents) == {"orange", "green"}
    assert 0.008 < accents["orange"].share < 0.013 and accents["orange"].chroma > 50
    assert "Vivid accents stand out from them" in facts_paragraph(facts)
    assert "Vivid accents:" in grounding_summary(facts) and facts.to_dict()["accents"][0]["family"] in accents
    flagged = check_analysis("There is no orange anywhere in this muted picture.", facts)
    assert flagged and flagged[0].claim == "no orange" and "1.1%" in flagged[0].measurement
    assert not check_analysis("Small orange and green accents enliven the grey field.", facts)
    plain = measure(Image.new("RGB", (200, 200), (120, 130, 150)))
    assert plain.accents == () and not check_analysis("There is no orange anywhere.", plain)

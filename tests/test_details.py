"""A detail analysed with the real tiny model: what the model is given, its record, and that record read back by
the gallery, the report and the history.

The painting is `quadrants` (tests/conftest.py), whose quarters differ in colour and stroke
direction by construction. The tiny model's words are random; what is checked is what it
was given, what was measured, and where the record goes.
"""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import numpy as np
import pytest
from conftest import QUADRANTS
from PIL import Image

from critic.analyze.job import AnalyzeJob
from critic.cli import main
from critic.core.images import file_sha256
from critic.core.perspectives import DEFAULT_QUESTION
from critic.core.regions import cut_detail, detail_tiles, load_whole, parse_region
from critic.core.store import read_jsonl
from critic.engine.base import Hardware, Settings
from critic.facts import measure

TOP_RIGHT = "0.5,0,0.5,0.5"
BLUES = "The palette is dominated by blues."


def _mean_and_strokes(picture: Image.Image) -> tuple[np.ndarray, float, float]:
    """Mean colour, and the mean change across (x) and down (y) the picture."""
    pixels = np.asarray(picture, dtype=float)
    return (pixels.reshape(-1, 3).mean(0), np.abs(np.diff(pixels, axis=1)).mean(),
            np.abs(np.diff(pixels, axis=0)).mean())


def test_the_model_is_given_the_crop_not_the_whole(engine, quadrants):
    whole = load_whole(quadrants)
    _, across, down = _mean_and_strokes(engine.model_input(whole.image))
    assert across > 4 and down > 4  # every direction is in the whole
    for text, quarter in ((TOP_RIGHT, "top-right"), ("0,0,0.5,0.5", "top-left")):
        given = engine.model_input(cut_detail(whole, parse_region(text)).image.image)
        assert given.size == engine.model_input(whole.image).size  # the crop fills the model's input
        mean, across, down = _mean_and_strokes(given)
        light, dark, direction = QUADRANTS[quarter]
        band = np.asarray(given, dtype=float)[given.height // 3: 2 * given.height // 3]  # below the padding
        assert np.allclose(band.reshape(-1, 3).mean(0), np.mean([light, dark], axis=0), atol=25), quarter
        if direction == "horizontal":
            assert down > 5 * max(across, 0.5), (across, down)
        else:
            assert across > 3 * down, (across, down)


def test_a_detail_is_answered_as_its_crop_alone_would_be(installed_model, quadrants, tmp_path, capsys):
    assert main(["analyze", str(quadrants), "--region", TOP_RIGHT, "--format", "json", "--max-tokens", "8"]) == 0
    detail = json.loads(capsys.readouterr().out)
    crop = tmp_path / "top-right.png"
    Image.open(quadrants).crop((200, 0, 400, 150)).save(crop)
    assert main(["analyze", str(crop), "--format", "json", "--max-tokens", "8"]) == 0
    alone = json.loads(capsys.readouterr().out)
    assert detail["analysis"] == alone["analysis"]  # the same picture in, the same words out (temperature 0)
    assert detail["image"] == {"path": str(quadrants), "sha256": file_sha256(quadrants), "width": 400, "height": 300,
                               "format": "PNG"}
    region = detail["region"]
    assert region["text"] == TOP_RIGHT and region["box"] == [200, 0, 200, 150] and region["canvas"] == [400, 300]
    assert region["sha256"] not in (detail["image"]["sha256"], alone["image"]["sha256"])
    assert region["compared"].startswith("The detail is darker, cooler")
    assert detail["facts"]["composition"]["lines"]["dominant"] == "vertical"  # the crop's facts, not the whole's
    assert detail["timings"]["image_encode"] > 0


def test_a_grid_of_details_is_recorded_resumed_and_cached_by_painting_and_region(installed_model, quadrants,
                                                                                tmp_path, capsys):
    out = tmp_path / "tiles.jsonl"
    assert main(["analyze", str(quadrants), "--detail", "2", "--out", str(out), "--max-tokens", "4"]) == 0
    records = read_jsonl(out)
    assert [r["region"]["tile"] for r in records] == [[0, 0, 2], [0, 1, 2], [1, 0, 2], [1, 1, 2]]
    assert [r["region"]["text"] for r in records] == [t.text for t in detail_tiles(2)]
    assert len({r["key"] for r in records}) == 4 and all(r["timings"]["image_encode"] > 0 for r in records)
    capsys.readouterr()
    assert main(["analyze", str(quadrants), "--detail", "2", "--out", str(out), "--max-tokens", "4"]) == 0
    assert "0 analysed, 4 already done" in capsys.readouterr().err
    # the same rectangle asked in pixels is the same crop: its prefix comes from the cache, nothing is encoded
    assert main(["analyze", str(quadrants), "--region", "133,100,267,200px", "--format", "json",
                 "--max-tokens", "4"]) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["region"]["sha256"] == records[3]["region"]["sha256"]
    assert again["timings"]["image_encode"] == 0 and again["timings"]["prefix_restore"] > 0
    assert main(["analyze", str(quadrants), "--format", "json", "--max-tokens", "4"]) == 0
    assert json.loads(capsys.readouterr().out)["timings"]["image_encode"] > 0  # the whole is another picture


def test_bad_regions_are_one_line_errors_before_the_model_loads(quadrants, capsys):
    # no model is installed in this test: each error comes before one would be looked for
    for argv, says in [(["--region", "0,0,401,300px"], "reaches past the right edge of quadrants.png (400×300 px)"),
                       (["--region", "0.5,0.5,0.5,0.6"], "reaches past the bottom edge of the canvas"),
                       (["--region", "0,0,0,0.5"], "is empty: its width is 0"),
                       (["--region", TOP_RIGHT, "--detail", "2"], "give --region or --detail, not both"),
                       (["--detail", "9"], "--detail takes 2 to 6")]:
        assert main(["analyze", str(quadrants), *argv]) == 2
        err = capsys.readouterr().err
        assert says in err and err.count("\n") == 1, err


def test_a_detail_without_a_model_prints_its_facts_and_the_comparison(quadrants, capsys):
    assert main(["analyze", str(quadrants), "--region", TOP_RIGHT, "--format", "json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["status"] == "measured" and record["region"]["box"] == [200, 0, 200, 150]
    assert "Vertical lines dominate" in record["analysis"]


def test_a_handout_names_each_detail_and_says_what_the_model_did(installed_model, quadrants, tmp_path):
    out = tmp_path / "details.md"
    assert main(["analyze", str(quadrants), "--region", TOP_RIGHT, "--region", "0,0,200,150px", "--out", str(out),
                 "--max-tokens", "4"]) == 0
    text = out.read_text()
    assert "- **Detail:** detail 0.5,0,0.5,0.5 (200,0,200,150px); GalleryGPT was trained on whole paintings" in text
    assert "## Measured facts — quadrants.png, detail 0,0,0.5,0.5 (0,0,200,150px)" in text
    assert text.count("- **Measured:** The detail is") == 2


# -- the record read back ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def results(engine, quadrants, tmp_path_factory) -> Path:
    """A folder with the painting and one results file: the whole painting's analysis and two details', the
    answers replaced by one claim (true of the whole and of the blue quarter, false of the red one)."""
    folder = tmp_path_factory.mktemp("collection")
    painting = folder / quadrants.name
    painting.write_bytes(quadrants.read_bytes())
    out = folder / "results.jsonl"
    records = []
    for regions in ([], [parse_region(TOP_RIGHT), parse_region("0,0,200,150px")]):
        job = AnalyzeJob([painting], [DEFAULT_QUESTION], Settings(max_tokens=3), "json", out, False, False,
                         None, None, Hardware(), None, regions=regions)
        records += [r.to_dict() for r in job.painting_records(engine, painting, set())]
    with open(out, "w", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps({**record, "analysis": BLUES}) + "\n")
    return folder


def test_the_gallery_keeps_the_whole_and_each_detail_apart(results):
    from critic.gallery.catalog import Entry
    from critic.gallery.results import analyses_by_image, is_detail, results_files
    from critic.tui.gallery import analysis_view, entry_heading

    painting = results / "quadrants.png"
    found = analyses_by_image(results_files(results))[file_sha256(painting)]
    assert sorted(r["region"]["text"] if is_detail(r) else "whole" for r in found) == \
        ["0,0,0.5,0.5", "0.5,0,0.5,0.5", "whole"]
    entry = Entry(painting, file_sha256(painting), facts=measure(load_whole(painting).image), analyses=found)
    assert entry_heading(entry).endswith("analysed (1 result, 2 details)")
    assert "2 details analysed as well" in _text(analysis_view(entry))
    entry.analyses = [r for r in found if is_detail(r)]
    shown = _text(analysis_view(entry))
    assert "Of a detail 0,0,0.5,0.5 (0,0,200,150px): GalleryGPT was trained on whole paintings" in shown
    assert "dominated by blues" in shown and "measured:" in shown  # the red quarter's facts contradict it


def _text(renderable) -> str:
    from rich.console import Console

    console = Console(width=400, record=True, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def test_the_report_shows_each_crop_beside_its_analysis_and_checks_it_against_the_crop(results):
    from critic.report import records_report
    from critic.report.records import read_results

    html, shown, failed = records_report(read_results(results / "results.jsonl").records, base=results)
    assert (shown, failed) == (1, 0)
    articles = re.findall(r'<article class="([^"]+)">(.*?)</article>', html, re.S)
    assert [kind for kind, _ in articles] == ["reading", "reading detail", "reading detail"]
    whole, blue, red = (body for _, body in articles)
    assert "data:image/jpeg" not in whole and "<mark" not in whole  # blues lead the whole painting too
    for body, place in ((blue, 'x="140.0" y="0.0" width="140.0" height="105.0"'),
                        (red, 'x="0.0" y="0.0" width="140.0" height="105.0"')):
        assert body.count("data:image/jpeg") == 2  # the crop, and the thumbnail of the whole
        assert f'<rect class="place" {place}/>' in body
        assert "GalleryGPT was trained on whole paintings" in body and "The detail is" in body
    assert "<mark" not in blue and '<mark class="flag"' in red  # no blue in the red quarter


def test_a_damaged_region_skips_its_record_with_a_note(results, tmp_path):
    from critic.report.records import read_results

    lines = (results / "results.jsonl").read_text().splitlines()
    bad = json.loads(lines[1])
    bad["region"]["box"] = [300, 0, 200, 150]
    path = tmp_path / "edited.jsonl"
    path.write_text("\n".join([lines[0], json.dumps(bad), lines[2]]) + "\n")
    found = read_results(path)
    assert len(found.records) == 2 and "line 2: region: region box [300, 0, 200, 150]" in found.notes[0]

"""A results file is input like any other: a report validates every record it reads, and skips a bad one
with one note naming its line, instead of a traceback or a page that carries what the file injected."""

from __future__ import annotations

import json

import pytest

from critic.cli import main
from critic.gallery.facts_io import facts_from_dict
from critic.report.records import record_problem


def _swatch(record: dict) -> dict:
    return record["facts"]["palette"]["swatches"][0]


DAMAGES = {
    "a colour that injects CSS": (lambda r: _swatch(r).update(hex="red;}body{background:red"),
                                  "facts: hex: 'red;}body{background:red' is not a colour #rrggbb"),
    "a share as a string": (lambda r: _swatch(r).update(share="0.5"), "facts: share: expected a number, got str"),
    "a colour as a number": (lambda r: _swatch(r).update(hex=123456), "facts: hex: expected str, got int"),
    "a histogram of words": (lambda r: r["facts"]["value"].update(histogram=["a"] * 10),
                             "facts: histogram: expected a number, got str"),
    "an empty histogram": (lambda r: r["facts"]["value"].update(histogram=[]), "facts: histogram: empty"),
    "a point of one coordinate": (lambda r: r["facts"]["composition"].update(weight_centre=[0.5]),
                                  "facts: weight_centre: expected 2 items, got 1"),
    "a share that is not a number": (lambda r: _swatch(r).update(share=float("nan")),
                                     "facts: share: nan is not a finite number"),
    "a date as a string": (lambda r: r.update(created="yesterday"), "created is str, not int or float"),
    "a date past the year 9999": (lambda r: r.update(created=1e300), "created 1e+300 is not a date"),
    "a width as a string": (lambda r: r["image"].update(width="wide"), "image.width is str, not int"),
    "flags that are not objects": (lambda r: r.update(flags=["x"]), "flags holds something other than objects"),
    "an image that is a list": (lambda r: r.update(image=[1]), "image is list, not dict"),
}


@pytest.fixture
def results(installed_model, painting, tmp_path):
    """Two analyses as `critic analyze --out` wrote them, the pictures gone (the recorded facts are used)."""
    other = tmp_path / "other.jpg"
    other.write_bytes(painting.read_bytes() + b"\0")
    out = tmp_path / "results.jsonl"
    assert main(["analyze", str(painting), str(other), "--out", str(out), "--max-tokens", "3", "--threads", "1"]) == 0
    painting.unlink()
    other.unlink()
    return [json.loads(line) for line in out.read_text().splitlines()]


def test_a_bad_record_is_skipped_with_a_note_naming_its_line(results, tmp_path, capsys):
    assert record_problem(results[0]) is None and facts_from_dict(results[0]["facts"])
    bad, page = tmp_path / "edited.jsonl", tmp_path / "report.html"
    for what, (damage, problem) in DAMAGES.items():
        damaged = json.loads(json.dumps(results[0]))
        damage(damaged)
        bad.write_text(json.dumps(damaged) + "\n" + json.dumps(results[1]) + "\n")
        capsys.readouterr()
        assert main(["report", str(bad), "--html", str(page)]) == 0, what
        err = capsys.readouterr().err.splitlines()
        assert err[0] == f"critic: note: {bad} line 1: {problem}; skipped", what
        assert err[1].startswith(f"critic: 1 painting → {page}"), what
        html = page.read_text()
        assert "background:red" not in html and "yesterday" not in html, what


def test_lines_that_are_not_records_are_noted_and_the_rest_reported(results, tmp_path, capsys):
    bad, page = tmp_path / "edited.jsonl", tmp_path / "report.html"
    bad.write_text(json.dumps(results[0]) + "\n{not json\n[1, 2]\n" + json.dumps(results[1]) + "\n")
    assert main(["report", str(bad), "--html", str(page)]) == 0
    err = capsys.readouterr().err.splitlines()
    assert err[:2] == [f"critic: note: {bad} line 2: not JSON (Expecting property name enclosed in double quotes); "
                       "skipped", f"critic: note: {bad} line 3: a JSON list, not an object; skipped"]
    assert err[2].startswith(f"critic: 2 paintings → {page}")

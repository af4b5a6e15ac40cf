"""The gallery's core: the sha256-keyed cache of thumbnails and facts, sorting and filtering by facts,
comparison rows, and analyses written through `critic analyze`'s own code into its results file."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from critic.core.perspectives import DEFAULT_QUESTION
from critic.core.store import read_jsonl
from critic.engine.base import Settings
from critic.facts import measure
from critic.gallery import catalog
from critic.gallery.batch import analyze_job, run_batch
from critic.gallery.catalog import Entry, GalleryCache, scan
from critic.gallery.compare import compare_rows
from critic.gallery.facts_io import facts_from_dict
from critic.gallery.order import dominant_hue, matcher, parse_filter, sort_entries
from critic.gallery.results import RESULTS_FILE, analyses_by_image, results_files, shown_name


def flat(path: Path, colour: tuple[int, int, int], size=(120, 80), disc=None) -> Path:
    """A field of one colour, with an optional disc of another."""
    image = Image.new("RGB", size, colour)
    if disc:
        ImageDraw.Draw(image).ellipse((40, 20, 80, 60), fill=disc)
    image.save(path)
    return path


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def folder(tmp_path) -> Path:
    art = tmp_path / "art"
    (art / "sub").mkdir(parents=True)
    flat(art / "a_dark_blue.png", (20, 40, 110))  # CIE L* ≈ 19: low key, cool
    flat(art / "b_light_orange.png", (250, 190, 120))  # L* ≈ 81: high key, warm
    flat(art / "sub" / "c_grey.png", (128, 128, 128))  # L* ≈ 54: middle, no hue
    flat(art / "d_green.png", (40, 150, 60), disc=(30, 60, 150))
    (art / "notes.txt").write_text("not a picture")
    return art


def loaded(folder: Path, cache: GalleryCache) -> list[Entry]:
    return [cache.fill(e) for e in scan(folder)]


# -- the cache --------------------------------------------------------------------------------------

def test_scan_lists_pictures_recursively_without_opening_them(folder):
    entries = scan(folder)
    assert [e.path.relative_to(folder).as_posix() for e in entries] == [
        "a_dark_blue.png", "b_light_orange.png", "d_green.png", "sub/c_grey.png"]
    assert not any(e.loaded for e in entries)


def test_entries_are_cached_by_sha256_and_found_again_under_another_name(folder, tmp_path):
    cache = GalleryCache(tmp_path / "cache")
    first = cache.fill(Entry(folder / "d_green.png"))
    assert not first.cached and first.error is None
    digest = sha(folder / "d_green.png")
    assert first.sha256 == digest
    assert sorted(p.name for p in (tmp_path / "cache").iterdir()) == [f"{digest}.json", f"{digest}.png"]
    assert max(first.thumbnail.size) <= catalog.THUMB_SIDE

    copy = tmp_path / "elsewhere" / "renamed.png"
    copy.parent.mkdir()
    copy.write_bytes((folder / "d_green.png").read_bytes())
    again = cache.fill(Entry(copy))
    assert again.cached
    with Image.open(copy) as image:
        assert again.facts == measure(image.convert("RGB"))  # what the cache hands back is what was measured
    assert again.size == (120, 80) and again.format == "PNG"


def test_an_edited_picture_is_measured_again(folder, tmp_path):
    cache = GalleryCache(tmp_path / "cache")
    path = folder / "a_dark_blue.png"
    before = cache.fill(Entry(path))
    flat(path, (250, 190, 120))
    after = cache.fill(Entry(path))
    assert not after.cached and after.sha256 != before.sha256
    assert after.facts.value.key == "high" and before.facts.value.key == "low"


def test_a_damaged_or_outdated_cache_entry_is_measured_again(folder, tmp_path, monkeypatch):
    cache = GalleryCache(tmp_path / "cache")
    path = folder / "b_light_orange.png"
    good = cache.fill(Entry(path))
    record = tmp_path / "cache" / f"{good.sha256}.json"
    record.write_text("{ torn")
    again = cache.fill(Entry(path))
    assert not again.cached and again.facts == good.facts
    assert json.loads(record.read_text())["sha256"] == good.sha256  # rewritten whole

    monkeypatch.setattr(catalog, "measure_version", lambda: "another critic")
    assert not cache.fill(Entry(path)).cached


def test_an_unreadable_picture_is_an_entry_with_its_error(folder, tmp_path):
    bad = folder / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 not really a jpeg")
    entry = GalleryCache(tmp_path / "cache").fill(Entry(bad))
    assert entry.loaded and entry.facts is None and "broken.jpg" in entry.error


def test_facts_read_back_from_json_equal_the_measured_ones(folder):
    with Image.open(folder / "d_green.png") as image:
        facts = measure(image.convert("RGB"))
    assert facts_from_dict(json.loads(json.dumps(facts.to_dict()))) == facts
    broken = facts.to_dict()
    del broken["value"]
    with pytest.raises(ValueError):
        facts_from_dict(broken)


def test_the_default_cache_lives_under_critic_home_in_tests(critic_home):
    assert catalog.cache_dir() == critic_home / "cache" / "gallery"


# -- sorting, filtering, comparing ------------------------------------------------------------------

def test_sorting_by_each_measure(folder, tmp_path):
    entries = loaded(folder, GalleryCache(tmp_path / "cache"))
    names = lambda order: [e.path.stem for e in order]  # noqa: E731
    assert names(sort_entries(entries, "name")) == ["a_dark_blue", "b_light_orange", "d_green", "c_grey"]
    # value key, dark to light: mean L* of the flat fields is their own L* (sRGB → CIELAB by hand: 19, 54, 81)
    key = names(sort_entries(entries, "key"))
    assert key.index("a_dark_blue") < key.index("c_grey") < key.index("b_light_orange")
    # warm to cool: orange (warmth +1), grey (no hue: 0), green with a blue disc (−0.6 to −1), blue (−1)
    assert names(sort_entries(entries, "temperature")) == ["b_light_orange", "c_grey", "d_green", "a_dark_blue"]
    assert names(sort_entries(entries, "colourfulness"))[-1] == "c_grey"  # a grey has no colour at all
    # round the hue wheel from red: orange (h ≈ 65°) before green (≈ 140°) before blue (≈ 285°), grey last
    assert names(sort_entries(entries, "hue")) == ["b_light_orange", "d_green", "a_dark_blue", "c_grey"]
    assert names(sort_entries(entries, "hue", reverse=True))[-1] == "c_grey"  # unmeasured or hueless stay last
    with pytest.raises(ValueError):
        sort_entries(entries, "size")


def test_unmeasured_entries_sort_last(folder, tmp_path):
    entries = loaded(folder, GalleryCache(tmp_path / "cache"))
    pending = Entry(folder / "0_first_by_name.png")
    order = sort_entries([pending, *entries], "key")
    assert order[-1] is pending


def test_dominant_hue_names_the_largest_colour_that_has_one(folder, tmp_path):
    entries = {e.path.stem: e for e in loaded(folder, GalleryCache(tmp_path / "cache"))}
    assert dominant_hue(entries["a_dark_blue"].facts)[0] == "blue"
    assert dominant_hue(entries["d_green"].facts)[0] == "green"
    assert dominant_hue(entries["c_grey"].facts) is None


def test_filters(folder, tmp_path):
    entries = loaded(folder, GalleryCache(tmp_path / "cache"))
    pick = lambda text: sorted(e.path.stem for e in entries if matcher(text)(e))  # noqa: E731
    assert pick("key=low") == ["a_dark_blue"]
    assert pick("key=high temperature=warm") == ["b_light_orange"]
    assert pick("hue=green") == ["d_green"]
    assert pick("colourfulness<5") == ["c_grey"]
    assert pick("lightness>70") == ["b_light_orange"]
    assert pick("GREEN") == ["d_green"]  # part of the name, any case
    assert pick("") == sorted(e.path.stem for e in entries)
    assert not matcher("key=low")(Entry(folder / "a_dark_blue.png"))  # not measured yet


@pytest.mark.parametrize("text, message", [
    ("size=big", "unknown filter 'size'"),
    ("key=dim", "key=dim: one of low, middle, high"),
    ("colourfulness=4", "takes < or > and a number"),
    ("lightness>bright", "'bright' is not a number"),
    ("temperature>warm", "takes = and a word"),
])
def test_a_filter_that_cannot_be_read_says_why(text, message):
    with pytest.raises(ValueError, match=message):
        parse_filter(text)


def test_compare_rows_set_both_paintings_side_by_side(folder, tmp_path):
    entries = {e.path.stem: e for e in loaded(folder, GalleryCache(tmp_path / "cache"))}
    rows = {label: (a, b) for label, a, b in compare_rows(entries["a_dark_blue"].facts,
                                                           entries["b_light_orange"].facts)}
    assert rows["value key"][0].startswith("low") and rows["value key"][1].startswith("high")
    assert rows["temperature"][0].startswith("cool") and rows["temperature"][1].startswith("warm")
    assert rows["dominant hue"][0].startswith("blue") and rows["dominant hue"][1].startswith("orange")


# -- analyses, through critic analyze's own code -----------------------------------------------------

def test_analyses_by_image_reads_finished_analyses_only(tmp_path):
    results = tmp_path / "r.jsonl"
    lines = [{"key": "1", "image": {"sha256": "aa"}, "status": "ok", "analysis": "one"},
             {"key": "2", "image": {"sha256": "aa"}, "status": "error", "error": "x"},
             {"key": "3", "image": {"sha256": "bb"}, "status": "ok", "analysis": "two"}]
    results.write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"key": "torn')
    found = analyses_by_image([results])
    assert {k: [r["analysis"] for r in v] for k, v in found.items()} == {"aa": ["one"], "bb": ["two"]}
    assert {r[RESULTS_FILE] for v in found.values() for r in v} == {str(results)}
    assert analyses_by_image([]) == {}


def _answer(sha: str, text: str, created: float, model: str = "gallerygpt", question: str = "q") -> dict:
    return {"key": f"{sha}{model}{created}", "image": {"sha256": sha, "path": "x.png"}, "question": question,
            "status": "ok", "analysis": text, "created": created, "model": {"name": model, "sha256": model}}


def test_every_results_file_in_the_folder_is_read_and_the_newest_answer_wins(tmp_path):
    folder = tmp_path / "art"
    (folder / "batches").mkdir(parents=True)

    def write(path: Path, records: list[dict]) -> Path:
        path.write_text("".join(json.dumps(r) + "\n" for r in records))
        return path

    gallery_own = write(folder / "critic-results.jsonl", [_answer("aa", "old", 1.0)])
    batch = write(folder / "batches" / "r.jsonl", [_answer("aa", "new", 5.0), _answer("bb", "b", 2.0)])
    handout = write(folder / ".handout.md.records.jsonl", [_answer("aa", "other model", 3.0, model="llava")])
    elsewhere = write(tmp_path / "outside.jsonl", [_answer("cc", "c", 1.0)])
    write(folder / "eval.jsonl", [{"id": "1", "text": "not an analysis"}])
    (folder / "notes.json").write_text('{\n  "key": "pretty-printed, not JSON lines"\n}\n')

    files = results_files(folder, elsewhere)
    assert files == [folder / ".handout.md.records.jsonl", folder / "batches" / "r.jsonl",
                     folder / "critic-results.jsonl", elsewhere]
    assert results_files(folder, gallery_own) == files[:3]  # named once
    found = analyses_by_image(files)
    assert [(r["analysis"], r[RESULTS_FILE]) for r in found["aa"]] == [
        ("other model", str(handout)), ("new", str(batch))]  # per model, the newest; oldest first
    assert [r["analysis"] for r in found["cc"]] == ["c"]
    assert shown_name(batch, folder) == "batches/r.jsonl" and shown_name(elsewhere, folder) == str(elsewhere)


def test_a_batch_writes_what_critic_analyze_writes_and_skips_what_it_did(folder, tmp_path, installed_model):
    from critic.cli import main
    from critic.engine import open_engine

    results = tmp_path / "results.jsonl"
    paths = [folder / "a_dark_blue.png", folder / "d_green.png"]
    # `critic analyze` analyses the first painting into the results file...
    assert main(["analyze", str(paths[0]), "--out", str(results), "--max-tokens", "6"]) == 0
    by_cli = read_jsonl(results)
    assert len(by_cli) == 1

    # ...and the gallery's batch, with the same settings, skips it and adds the other.
    settings = Settings(max_tokens=6, temperature=0.0, seed=None)  # what `critic analyze` makes of its defaults
    job = analyze_job(paths, results, settings)
    engine = open_engine(None, keep_new=False)
    seen: list[tuple[Path, int]] = []
    try:
        analysed, failed = run_batch(job, engine, paths, lambda: False,
                                     lambda path, records: seen.append((path, len(records))))
    finally:
        engine.close()
    assert (analysed, failed) == (1, 0)
    assert seen == [(paths[0], 0), (paths[1], 1)]
    records = read_jsonl(results)
    assert len(records) == 2 and records[0] == by_cli[0]
    added = records[1]
    assert set(added) == set(by_cli[0])  # the same record, field for field
    assert added["image"]["sha256"] == sha(paths[1]) and added["question"] == DEFAULT_QUESTION
    assert added["status"] == "ok" and added["settings"]["max_tokens"] == 6 and added["facts"]

    # and `critic analyze` over both now has nothing left to do
    assert main(["analyze", *map(str, paths), "--out", str(results), "--max-tokens", "6"]) == 0
    assert len(read_jsonl(results)) == 2


def test_a_cancelled_batch_stops_between_paintings(folder, tmp_path, installed_model):
    from critic.engine import open_engine

    results = tmp_path / "results.jsonl"
    paths = [folder / "a_dark_blue.png", folder / "b_light_orange.png", folder / "d_green.png"]
    job = analyze_job(paths, results, Settings(max_tokens=4, seed=None))
    engine = open_engine(None, keep_new=False)
    done: list[Path] = []
    try:
        analysed, _ = run_batch(job, engine, paths, lambda: len(done) >= 1, lambda path, records: done.append(path))
        assert analysed == 1 and len(read_jsonl(results)) == 1
        analysed, _ = run_batch(job, engine, paths, lambda: False, lambda path, records: None)  # resumes
    finally:
        engine.close()
    assert analysed == 2
    assert [r["image"]["path"] for r in read_jsonl(results)] == [str(p) for p in paths]


def test_a_batch_refuses_a_results_file_another_run_holds(folder, tmp_path):
    from critic.core.errors import UsageError
    from critic.core.store import output_lock

    results = tmp_path / "results.jsonl"
    job = analyze_job([folder / "d_green.png"], results, Settings())
    with output_lock(results, "critic analyze"):
        with pytest.raises(UsageError, match="being written by another"):
            run_batch(job, object(), job.paths, lambda: False, lambda *_: None)

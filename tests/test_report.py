"""Illustrated HTML reports: the page's content, its escaping, no outside requests, and a render in
headless Chromium (Debian's `chromium`, which `.ci/run` installs) that must show every painting."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from io import BytesIO
from pathlib import Path

import pytest
from PIL import Image
from test_chat_support import make_painting

from critic.cli import main
from critic.report import records_report
from critic.report.figures import REPORT_SIDE

WRONG = "The palette is dominated by greens."
INJECTED = 'A dark band <script>alert("x")</script> & a "quoted" <b>word</b>.'


def painting(path: Path, field: tuple[int, int, int], size=(1200, 800)) -> Path:
    """A blue (or other) field with a warm disc and a dark band: no green anywhere."""
    return make_painting(path, size, field=field)


def record(path: Path, analysis: str, question: str = "Please compose a coherent paragraph.", **extra) -> dict:
    """A record as `critic analyze --out` writes it (the fields a report reads)."""
    data = path.read_bytes()
    with Image.open(path) as image:
        width, height = image.size
    return {"key": hashlib.sha256(data + question.encode()).hexdigest()[:24],
            "image": {"path": str(path), "sha256": hashlib.sha256(data).hexdigest(), "width": width,
                      "height": height, "format": "PNG"},
            "question": question, "prompt": "", "status": "ok", "analysis": analysis,
            "model": {"name": "gallerygpt", "quantization": "Q4_K_M", "sha256": "ab" * 32},
            "settings": {"max_tokens": 512, "temperature": 0.0, "seed": 0}, "created": 1767225600.0, **extra}


@pytest.fixture
def art(tmp_path) -> Path:
    folder = tmp_path / "art"
    folder.mkdir()
    painting(folder / "blue <field> & sun.png", (30, 60, 140))
    painting(folder / "red_field.png", (140, 40, 30), size=(600, 900))
    return folder


@pytest.fixture
def results(art, tmp_path) -> Path:
    blue, red = sorted(art.iterdir())
    lines = [record(blue, f"{WRONG} A warm disc sits left of centre. {INJECTED}"),
             record(blue, "The sun is a warm disc.", question='Colour: what does "warm" mean here?'),
             record(red, "A red field above a dark band."),
             {"key": "x", "image": {"path": str(art / "gone.png")}, "question": "q", "status": "error", "error": "x"}]
    path = tmp_path / "results.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    return path


class Page(HTMLParser):
    """What a browser would see: elements, attributes, and text, by tag."""

    def __init__(self, html: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict]] = []
        self.text: list[tuple[str, str]] = []
        self._open: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in ("img", "meta", "line", "circle", "rect", "br"):
            self._open.append(tag)

    def handle_endtag(self, tag):
        if tag in self._open:
            while self._open.pop() != tag:
                pass

    def handle_data(self, data):
        self.text.append((self._open[-1] if self._open else "", data))

    def all(self, tag: str) -> list[dict]:
        return [attrs for name, attrs in self.tags if name == tag]

    def inside(self, tag: str) -> str:
        return "".join(data for name, data in self.text if name == tag)


def report_of(results: Path) -> str:
    from critic.core.store import read_jsonl

    return records_report(read_jsonl(results), "Lesson: two fields", "results.jsonl")[0]


# -- the page --------------------------------------------------------------------------------------

def test_every_painting_has_its_picture_palette_histogram_and_overlay(results, art):
    page = Page(report_of(results))
    sections = [a for a in page.all("section") if "painting" in a.get("class", "")]
    assert len(sections) == 2  # two paintings; the failed record is left out
    images = page.all("img")
    assert len(images) == 2
    for attrs in images:
        assert attrs["src"].startswith("data:image/jpeg;base64,")
        picture = Image.open(BytesIO(base64.b64decode(attrs["src"].split(",", 1)[1])))
        assert max(picture.size) == REPORT_SIDE  # downscaled from 1200 and 900
        assert (int(attrs["width"]), int(attrs["height"])) == picture.size
    assert [a["alt"] for a in images] == ["blue <field> & sun.png", "red_field.png"]
    svgs = [a.get("aria-label") for a in page.all("svg")]
    assert svgs.count("composition overlay") == 2 and svgs.count("value histogram") == 2
    assert len(page.all("line")) >= 2 * 8  # the thirds, drawn twice (halo and dash), in each overlay
    chips = [a["style"] for a in page.all("span") if a.get("class") == "chip"]
    assert any(c.endswith("#1e3c8c") for c in chips)  # the blue field's own colour, measured exactly
    names = page.inside("span")
    assert "ultramarine" in names and "black" in names


def test_contradicted_sentences_are_marked_beside_their_measurement(results):
    page = Page(report_of(results))
    marked = page.inside("mark")
    assert WRONG in marked
    assert "A warm disc sits left of centre." not in marked
    notes = page.inside("li")
    assert "dominated by green" in notes and "measured:" in notes


def test_model_quantization_and_settings_are_shown(results):
    text = "".join(data for _, data in Page(report_of(results)).text)
    assert "model gallerygpt Q4_K_M" in text and "max tokens 512, temperature 0.0, seed 0" in text
    assert "2026-01-01 00:00 UTC" in text


def test_all_text_is_escaped(results):
    html = report_of(results)
    page = Page(html)
    assert not page.all("script") and not [a for t, a in page.tags if t == "b"]
    assert INJECTED in "".join(data for _, data in page.text)
    assert 'what does "warm" mean here?' in page.inside("p")
    assert "<field>" not in html and "&lt;field&gt; &amp; sun.png" in html


def test_the_page_asks_for_nothing_outside_itself(results):
    html = report_of(results)
    page = Page(html)
    csp = [a["content"] for a in page.all("meta") if a.get("http-equiv") == "Content-Security-Policy"]
    assert csp and "default-src 'none'" in csp[0] and "script-src" not in csp[0]
    text = re.sub(r"data:image/jpeg;base64,[A-Za-z0-9+/=]+", "", html)
    assert "http:" not in text and "https:" not in text and "//" not in text and "url(" not in text
    assert not page.all("link") and not page.all("script") and not page.all("iframe")
    assert all(a["src"].startswith("data:") for a in page.all("img"))


def test_a_missing_or_changed_picture_is_said_and_its_recorded_facts_are_used(results, art, tmp_path):
    from critic.facts import measure

    blue, red = sorted(art.iterdir())
    with Image.open(blue) as image:
        facts = measure(image.convert("RGB")).to_dict()
    lines = [record(blue, WRONG, facts=facts), record(red, "A red field.")]
    path = tmp_path / "moved.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    blue.unlink()
    painting(red, (40, 140, 60))  # edited since: now green
    page = Page(report_of(path))
    assert not page.all("img")  # neither picture is the one analysed
    notes = "".join(data for _, data in page.text)
    assert "the picture is not shown" in notes and "has changed since it was analysed" in notes
    assert WRONG in page.inside("mark")  # checked against the facts recorded with it


def test_report_size_stays_near_the_pictures(results):
    html = report_of(results)
    pictures = sum(len(a["src"]) for a in Page(html).all("img"))
    assert len(html.encode()) - pictures < 40_000  # the page around the pictures: styles, SVG, text


# -- the command -------------------------------------------------------------------------------------

def test_relative_picture_paths_are_found_beside_the_results(art, tmp_path, monkeypatch):
    monkeypatch.chdir(art.parent)
    blue = sorted(art.iterdir())[0]
    entry = record(blue, "A blue field.")
    entry["image"]["path"] = f"art/{blue.name}"  # as `critic analyze art/ --out results.jsonl` records it
    results = tmp_path / "results.jsonl"
    results.write_text(json.dumps(entry) + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    assert main(["report", str(results), "--html", "r.html"]) == 0
    assert len(Page((elsewhere / "r.html").read_text()).all("img")) == 1


def test_critic_report_writes_the_page(results, tmp_path, capsys):
    out = tmp_path / "out" / "report.html"
    assert main(["report", str(results), "--html", str(out), "--title", "Monday <3"]) == 0
    html = out.read_text()
    assert html.startswith("<!doctype html>") and "<title>Monday &lt;3</title>" in html
    err = capsys.readouterr().err
    assert err.startswith(f"critic: 2 paintings → {out}") and "1 failed analyses left out" in err
    assert not [p for p in out.parent.iterdir() if p.name != "report.html"]  # no temporaries left


@pytest.mark.parametrize("content, message", [
    (None, "no such results file"),
    ("just some text\n", "not a file of critic analyze results"),
    ("", "no finished analyses to report"),
])
def test_critic_report_refuses_what_it_cannot_use(tmp_path, capsys, content, message):
    results = tmp_path / "results.jsonl"
    if content is not None:
        results.write_text(content)
    assert main(["report", str(results), "--html", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("critic: error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "r.html").exists()


# -- chat saves a conversation as a page ---------------------------------------------------------------

async def test_chat_saves_the_conversation_as_html(tmp_path, monkeypatch):
    from test_chat_support import ScriptedEngine, wait_until
    from textual_image.widget import HalfcellImage

    from critic.engine.base import Settings
    from critic.history import History
    from critic.tui.app import ChatApp
    from critic.tui.dialogs import SaveScreen

    picture = painting(tmp_path / "painting.png", (30, 60, 140), size=(320, 200))
    monkeypatch.chdir(tmp_path)
    app = ChatApp(lambda: ScriptedEngine([f"{WRONG} A warm <disc>."]), picture, settings=Settings(max_tokens=64),
                  history=History(), image_widget=HalfcellImage)
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_until(pilot, lambda: app.engine is not None and app.conversation is not None, "ready")
        await app.ask("What is here?")
        await wait_until(pilot, lambda: not app.answering and app.conversation.turns, "the answer")
        app.action_save(".html")
        await wait_until(pilot, lambda: isinstance(app.screen, SaveScreen), "the save dialog")
        await pilot.press("enter")
        await wait_until(pilot, lambda: any(m.startswith("saved to") for _, m in app.shown), "saved")
    saved = next(tmp_path.glob("painting-chat-*.html"))
    page = Page(saved.read_text())
    assert len(page.all("img")) == 1 and WRONG in page.inside("mark")
    assert "A warm <disc>." in "".join(d for _, d in page.text) and "What is here?" in page.inside("p")
    assert "model scripted Q4_K_M" in page.inside("p")


# -- headless Chromium ------------------------------------------------------------------------------

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess:
    """Chromium headless on a file URL, offline: no name resolves, so neither the page nor the browser
    reaches anything (the browser's own start-up requests included)."""
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--host-resolver-rules=MAP * ~NOTFOUND", f"--user-data-dir={profile}", *args, page.as_uri()]
    env = {**os.environ, "HOME": str(profile)}
    return subprocess.run(command, capture_output=True, text=True, timeout=120, env=env, cwd=profile)


@needs_chromium
def test_chromium_renders_every_painting(results, tmp_path):
    out = tmp_path / "report.html"
    assert main(["report", str(results), "--html", str(out)]) == 0
    profile = tmp_path / "profile"
    profile.mkdir()
    dom = chromium(out, profile, "--dump-dom").stdout
    page = Page(dom)
    sections = [a for a in page.all("section") if "painting" in a.get("class", "")]
    assert [a["id"] for a in sections] == ["painting-1", "painting-2"]
    assert [a["alt"] for a in page.all("img")] == ["blue <field> & sun.png", "red_field.png"]
    assert WRONG in page.inside("mark")

    shot = tmp_path / "shot.png"
    chromium(out, profile, f"--screenshot={shot}", "--window-size=1280,1000", "--hide-scrollbars")
    with Image.open(shot) as image:
        pixels = image.convert("RGB")
    colours = pixels.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 500  # text, swatches and a picture, not a blank page
    # the first painting itself is on screen: many pixels of its blue field (30, 60, 140), JPEG give or take
    blue = sum(n for n, (r, g, b) in colours if abs(r - 30) < 12 and abs(g - 60) < 12 and abs(b - 140) < 12)
    assert blue > 20_000

"""The HTML report's layout in headless Chromium: long unbroken tokens (paths, hashes) wrap instead of
widening the page, so it never scrolls sideways.

The page itself runs no script (its Content-Security-Policy forbids one); the test renders a
copy whose only change is a script at the end of the body that writes the page's scroll
width into the DOM, which `--dump-dom` then prints. The styles under test are the page's own.
"""

from __future__ import annotations

import json
import re

from test_report import chromium, needs_chromium, painting, record

from critic.cli import main

LONG_FOLDER = "scans_" + "0123456789abcdef" * 8  # one token of 134 characters
WIDTH = 800


@needs_chromium
def test_long_paths_and_hashes_wrap_and_the_page_never_scrolls_sideways(tmp_path):
    folder = tmp_path / LONG_FOLDER
    folder.mkdir()
    picture = painting(folder / ("starry_" + "night" * 12 + ".png"), (30, 60, 140))
    token = "sha256:" + "9f" * 48
    lines = [record(picture, f"The sky is blue. The file was {token} and it sits in {folder}.")]
    results = tmp_path / "results.jsonl"
    results.write_text("".join(json.dumps(r) + "\n" for r in lines))
    page = tmp_path / "report.html"
    assert main(["report", str(results), "--html", str(page)]) == 0

    html = page.read_text(encoding="utf-8")
    html = re.sub(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", html)
    probe = ("<script>var d = document.documentElement; document.body.setAttribute('data-overflow', "
             "d.scrollWidth + ' ' + d.clientWidth);</script>")
    measured = tmp_path / "measured.html"
    measured.write_text(html.replace("</body>", probe + "</body>"), encoding="utf-8")
    profile = tmp_path / "profile"
    profile.mkdir()
    dom = chromium(measured, profile, f"--window-size={WIDTH},900", "--dump-dom").stdout
    scroll_width, client_width = map(int, re.search(r'data-overflow="(\d+) (\d+)"', dom).groups())
    assert client_width <= WIDTH
    assert scroll_width <= client_width, f"the page is {scroll_width} px wide in a {client_width} px window"

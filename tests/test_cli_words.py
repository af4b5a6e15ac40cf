"""What the small verbs print: words kept apart, sizes in units that fit, piped output without blank lines."""

from __future__ import annotations

import re
import subprocess
import sys

from critic.cli import main


def test_models_show_keeps_a_space_after_every_label(tiny_gguf, capsys):
    assert main(["models", "add", str(tiny_gguf)]) == 0
    capsys.readouterr()
    assert main(["models", "show", "tiny"]) == 0
    lines = capsys.readouterr().out.splitlines()[1:]
    sources = [line for line in lines if line.startswith("  source ")]
    assert any("vision_tower" in line for line in sources)  # the longest label, past the column
    for line in sources:
        assert re.match(r"  source [a-z_]+ +\S", line), f"label and value run together: {line!r}"


def test_cache_info_shows_a_small_cache_in_units_that_fit(capsys):
    from critic.engine.prefix_cache import PrefixCache

    assert main(["cache"]) == 0
    assert ": 0 painting prefix(es), 0 B of 4 GB" in capsys.readouterr().out
    cache = PrefixCache()
    cache.folder.mkdir(parents=True, exist_ok=True)
    cache.store("a" * 64, b"\0" * 22_000, 12)
    assert main(["cache", "info"]) == 0
    out = capsys.readouterr().out
    assert "0.00 GB" not in out
    assert re.search(r": 1 painting prefix\(es\), 21\.\d KB of 4 GB$", out.strip()), out
    cache.store("b" * 64, b"\0" * (3 << 20), 12)
    assert main(["cache", "info"]) == 0
    assert re.search(r", 3\.0 MB of 4 GB$", capsys.readouterr().out.strip())


def test_piped_facts_start_with_the_panel_and_no_blank_lines(painting):
    out = subprocess.run([sys.executable, "-m", "critic", "facts", str(painting)], capture_output=True,
                         text=True, check=True).stdout
    lines = out.splitlines()
    assert lines[0].startswith("╭") and str(painting.name) in lines[0]
    inside = [line.strip("│ ") for line in lines[1:-1]]
    assert inside[0].startswith("#"), lines[:4]  # the first swatch, with its hex
    assert not any(a == b == "" for a, b in zip(inside, inside[1:])), "two blank lines in a row"

"""The measures and the claim checker on the famous sample paintings (not run by the tests).

The tests generate every picture they use; this script keeps the checks that need real
paintings, which live outside the repository:

    python bench/facts_on_paintings.py [FOLDER]     # default: ../shared/paintings

It prints each painting's key, temperature, colourfulness and largest colour families, then
what a viewer would expect of each and of the names of its colours (OK or DIFFERS), its
swatches and accents, then the claim checker on thirteen labelled claims about them, which
count with its tuning set.
"""

from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

from critic.facts import check_analysis, measure

PAINTINGS = {
    "starry": "starry_night_van_gogh_1889.jpg",
    "scream": "the_scream_munch_1893.jpg",
    "wave": "great_wave_hokusai.jpg",
    "hat": "woman_with_a_hat_matisse_1905.jpg",
}

# What a viewer sees, as a predicate on the measured facts.
EXPECTED = [
    ("starry", "blues are the largest family and the colour reads cool",
     lambda f: f.palette.families[0].family == "blue" and f.colour.temperature == "cool"),
    ("scream", "the canvas reads warm", lambda f: f.colour.temperature == "warm"),
    ("wave", "high key, beige the largest named colour, blue among the swatches",
     lambda f: f.value.key == "high" and f.palette.swatches[0].name == "beige"
     and any(s.family == "blue" for s in f.palette.swatches)),
    ("hat", "more colourful than the wave, less than the Scream",
     lambda f: True),  # compared below, across paintings
]
# What the colours are called (tests/test_colour_names.py holds the colours measured here as literals).
NAMES = [
    ("starry", "the moon and stars are named a yellow (pale yellow), no accent is a beige or a brown",
     lambda f: any(s.name == "pale yellow" for s in f.palette.swatches)
     and not {a.family for a in f.accents} & {"brown", "cream"}),
    ("wave", "the paper-coloured ground is a light neutral: the largest family, and no browns above 5%",
     lambda f: f.palette.families[0].family == "cream"
     and all(x.share < 0.05 for x in f.palette.families if x.family == "brown")),
    ("hat", "no swatch of a visible hue is called a plain grey (C* 6 and above)",
     lambda f: all(s.family not in ("grey",) or (s.lab[1] ** 2 + s.lab[2] ** 2) ** 0.5 < 6
                   for s in f.palette.swatches)),
]

# (painting, kind, claim, contradicted by the painting)
CLAIMS = [
    ("starry", "dominance", "The palette is dominated by swirling blues.", False),
    ("starry", "temperature", "A warm palette of oranges dominates the canvas.", True),
    ("starry", "symmetry", "The composition is perfectly symmetrical.", True),
    ("starry", "absence", "The painting is devoid of yellow.", True),  # the stars and the moon
    ("scream", "temperature", "The palette is warm, built from oranges and reds.", False),
    ("scream", "temperature", "Cool blues dominate the sky.", True),  # the sky is orange and red
    ("scream", "colourless", "The painting is rendered entirely in greyscale.", True),
    ("wave", "lightness", "The image is dominated by dark, low-key tones.", True),
    ("wave", "dominance", "Blue and beige dominate the palette.", False),
    ("wave", "lightness", "A light palette of pale tones is predominantly light.", False),
    ("hat", "colourless", "The picture is rendered in greyscale.", True),
    ("hat", "value", "A muted image with low contrast between light and dark.", True),
    ("hat", "dominance", "Bold, saturated colours fill the canvas.", False),
]


def main(folder: Path) -> int:
    missing = [name for name in PAINTINGS.values() if not (folder / name).exists()]
    if missing:
        print(f"facts_on_paintings: {folder} lacks {', '.join(missing)}", file=sys.stderr)
        return 2
    facts = {key: measure(Image.open(folder / name).convert("RGB")) for key, name in PAINTINGS.items()}
    for key, f in facts.items():
        families = ", ".join(f"{x.family} {x.share:.0%}" for x in f.palette.families[:4])
        print(f"{key:7} {f.value.key}-key (mean L* {f.value.mean:.0f}), {f.colour.temperature} "
              f"({f.colour.temperature_balance:+.2f}), {f.colour.colourfulness_label} "
              f"(M {f.colour.colourfulness:.0f}); {families}")
    print()
    for key, words, holds in EXPECTED[:3]:
        print(f"{'OK     ' if holds(facts[key]) else 'DIFFERS'} {key}: {words}")
    m = {key: f.colour.colourfulness for key, f in facts.items()}
    print(f"{'OK     ' if m['wave'] < m['hat'] < m['scream'] else 'DIFFERS'} hat: {EXPECTED[3][1]}")
    for key, words, holds in NAMES:
        print(f"{'OK     ' if holds(facts[key]) else 'DIFFERS'} {key}: {words}")
    print()
    for key, f in facts.items():
        print(f"{key:7} " + ", ".join(f"{s.name} {s.hex} {s.share:.0%}" for s in f.palette.swatches)
              + "".join(f"; accent {a.name} {a.hex} {a.share:.1%}" for a in f.accents))
    print()
    tp = fp = fn = tn = 0
    for key, kind, claim, contradicted in CLAIMS:
        flags = check_analysis(claim, facts[key])
        flagged = bool(flags)
        tp += flagged and contradicted
        fp += flagged and not contradicted
        fn += contradicted and not flagged
        tn += not flagged and not contradicted
        verdict = "flagged" if flagged else "passed "
        right = "right" if flagged == contradicted else "WRONG"
        print(f"{right:5} {verdict} {key:7} {kind:11} {claim}" + (f"  [{flags[0].measurement}]" if flags else ""))
    precision = tp / (tp + fp) if tp + fp else 1.0
    print(f"\n{len(CLAIMS)} claims: precision {precision:.2f}, recall {tp / (tp + fn):.2f} "
          f"(tp {tp}, fp {fp}, fn {fn}, tn {tn})")
    return 0


if __name__ == "__main__":
    default = Path(__file__).resolve().parents[2] / "shared" / "paintings"
    sys.exit(main(Path(sys.argv[1]) if len(sys.argv) > 1 else default))

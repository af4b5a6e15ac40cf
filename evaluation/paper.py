"""The numbers GalleryGPT's paper (Bin et al., ACM MM 2024) reports, to print beside ours."""

from __future__ import annotations

PAPER = "GalleryGPT (Bin et al., ACM MM 2024)"

TABLE1: dict[str, dict[str, float]] = {
    "LLaVA-1.5": {"bleu": 9.87, "gleu": 14.59, "meteor": 26.19, "rouge_l": 26.37},
    "Qwen-VL-Chat": {"bleu": 13.65, "gleu": 16.42, "meteor": 29.78, "rouge_l": 26.72},
    "ShareGPT4V": {"bleu": 12.38, "gleu": 16.14, "meteor": 31.53, "rouge_l": 26.63},
    "GalleryGPT": {"bleu": 21.23, "gleu": 21.68, "meteor": 37.62, "rouge_l": 31.34},
}
"""Table 1: formal analysis generation on the PaintingForm test set, ×100."""

TABLE2: dict[str, dict[str, float]] = {
    "GalleryGPT": {"aqua": 24.08, "artquest": 9.51, "artquest-type": 43.94, "artbench": 34.0},
}
"""Table 2: zero-shot accuracy (%); only GalleryGPT's row is recorded here."""

TABLE2_COLUMNS: dict[str, str] = {
    "aqua": "AQUA",
    "artquest": "ArtQuest",
    "artquest-type": "ArtQuest-Type",
    "artbench": "ArtBench style",
}

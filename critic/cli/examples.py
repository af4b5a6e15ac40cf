"""Two or three examples for every `--help`, kept in one table so they read as one manual."""

from __future__ import annotations

import argparse

EXAMPLES: dict[str, tuple[str, ...]] = {
    "": ("critic analyze painting.jpg", "critic chat painting.jpg", "critic facts painting.jpg"),
    "analyze": ("critic analyze starry_night.jpg", "critic analyze starry_night.jpg --aspect composition --brief",
                "critic analyze collection/ --aspect all --out handout.md",
                "critic analyze collection/ --server http://gpu-box:8080 --parallel 8 --out results.jsonl",
                "critic analyze starry_night.jpg --region 0,0,0.5,0.4 --out results.jsonl",
                "critic analyze starry_night.jpg --detail 3 --out results.jsonl"),
    "chat": ("critic chat starry_night.jpg", "critic chat --history", "critic chat --resume"),
    "facts": ("critic facts starry_night.jpg", "critic facts collection/ --format json > facts.jsonl",
              "critic facts starry_night.jpg --k 8", "critic facts starry_night.jpg --region 1200,0,1200,900px"),
    "models": ("critic models build gallerygpt", "critic models pull hf:OWNER/REPO:Q4_K_M",
               "critic models add gallerygpt-q4", "critic models list", "critic models default gallerygpt-q4"),
    "models add": ("critic models add gallerygpt-q4",
                   "critic models add --llm model.Q4_K_M.gguf --mmproj mmproj.gguf --name llava",
                   "critic models add --llm g.Q4_K_M.gguf --mmproj g.mmproj-F16.gguf "
                   "--patch0 g.mmproj-patch0-F16.gguf --name g"),
    "models pull": ("critic models pull hf:OWNER/REPO:Q4_K_M", "critic models pull https://huggingface.co/OWNER/REPO",
                    "critic models pull ./gallerygpt-q4 --name gallerygpt-copy"),
    "models build": ("critic models build gallerygpt",
                     "critic models build gallerygpt --lora GalleryGPT.zip --quant Q8_0",
                     "critic models build gallerygpt --lora ./GalleryGPT --no-verify --delete-checkpoint"),
    "models push": ("critic models push gallerygpt-q4 OWNER/REPO",
                    "critic models push ./gallerygpt-q4 OWNER/REPO --private"),
    "models list": ("critic models list", "critic models list --help"),
    "models show": ("critic models show", "critic models show gallerygpt-q4 --json"),
    "models rm": ("critic models rm gallerygpt-q4", "critic models list"),
    "models default": ("critic models default", "critic models default gallerygpt-q4"),
    "cache": ("critic cache info", "critic cache limit 8", "critic cache clear"),
    "convert": ("critic convert ShareGPT4V-7B --vision-tower ShareGPT4V-7B_Pretrained_vit-large336-l12 "
                "--lora GalleryGPT --out gallerygpt-q4",
                "critic convert verify gallerygpt-q4 --reference ShareGPT4V-7B "
                "--vision-tower ShareGPT4V-7B_Pretrained_vit-large336-l12 --lora GalleryGPT --json parity.json",
                "critic convert BASE --vision-tower VT --lora LORA --out for-llama-server --layout rotated",
                "critic convert BASE --vision-tower VT --lora LORA --to hf --out gallerygpt-hf"),
    "convert verify": ("critic convert verify gallerygpt-q4 --reference ShareGPT4V-7B "
                       "--vision-tower ShareGPT4V-7B_Pretrained_vit-large336-l12 --lora GalleryGPT --json parity.json",
                       "critic convert verify gallerygpt-hf --reference ShareGPT4V-7B --vision-tower VT --lora LORA "
                       "--image painting.jpg"),
    "train": ("critic train --config train.toml",
              "critic train --base ShareGPT4V-7B --vision-tower VT --data train.json --image-root images/ --out run",
              "critic train --config train.toml --resume"),
    "annotate": ("critic annotate run --paintings paintings.csv --images images/ --out data/ --dry-run",
                 "critic annotate status data/", "critic annotate providers > providers.toml"),
    "annotate run": ("critic annotate run --paintings paintings.csv --images images/ --out data/ --dry-run",
                     "critic annotate run --paintings paintings.csv --images images/ --out data/ --limit 20",
                     "critic annotate run --paintings paintings.csv --images images/ --out data/ --invalid-retries 4",
                     "critic annotate run --paintings paintings.csv --images images/ --out data/ --batch"),
    "annotate status": ("critic annotate status data/", "critic annotate run --help"),
    "annotate batch": ("critic annotate batch status data/", "critic annotate batch cancel data/"),
    "annotate import": ("critic annotate run ... --out data/ --batch-files requests/",
                        "critic annotate import data/ requests/knowledge-local-0001.out.jsonl"),
    "annotate providers": ("critic annotate providers > providers.toml",
                           "critic annotate run ... --providers providers.toml"),
    "eval": ("critic eval generate --data test.json --out outputs.jsonl",
             "critic eval score outputs.jsonl --refs test.json", "critic eval report outputs.scores.json"),
    "eval generate": ("critic eval generate --data test.json --out outputs.jsonl",
                      "critic eval generate --data test.json --limit 100 --out sample.jsonl",
                      "critic eval generate --data test.json --server http://gpu-box:8000 --parallel 16 "
                      "--out served.jsonl"),
    "eval score": ("critic eval score outputs.jsonl --refs test.json",
                   "critic eval score aqua.jsonl --json aqua.scores.json",
                   "critic eval score outputs.jsonl pytorch.jsonl --label 'GalleryGPT (PyTorch)' --refs test.json"),
    "eval vqa": ("critic eval vqa --data AQUA/test.json --images SemArt/Images --out aqua.jsonl",
                 "critic eval vqa --data artquest_test.csv --images SemArt/Images --out artquest.jsonl"),
    "eval classify": ("critic eval classify --data ArtBench-10 --out artbench.jsonl",
                      "critic eval classify --data ArtBench-10 --sample 200 --out artbench.jsonl"),
    "gallery": ("critic gallery collection/", "critic gallery collection/ --results handout.jsonl",
                "critic gallery collection/ --model gallerygpt-q4 --max-tokens 256"),
    "report": ("critic report results.jsonl --html report.html",
               "critic analyze collection/ --out results.jsonl && critic report results.jsonl --html report.html",
               "critic report monday.jsonl tuesday.jsonl --html week.html --title 'Week one'"),
    "eval report": ("critic eval report outputs.scores.json", "critic eval report *.scores.json"),
}


class ExampleFormatter(argparse.HelpFormatter):
    """argparse's formatter, except that the examples keep their lines."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("examples:"):
            return "".join(indent + line for line in text.splitlines(keepends=True))
        return super()._fill_text(text, width, indent)


def sub_parsers(parser: argparse.ArgumentParser, path: str = ""):
    """(path, parser) for `parser` and every parser under it ("", "analyze", "models add", …)."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield from sub_parsers(child, f"{path} {name}".strip())


def add_examples(parser: argparse.ArgumentParser) -> None:
    """Give every parser its examples (and the formatter that keeps them)."""
    for path, each in sub_parsers(parser):
        lines = EXAMPLES.get(path)
        if lines:
            each.epilog = "examples:\n" + "\n".join(f"  {line}" for line in lines)
            each.formatter_class = ExampleFormatter

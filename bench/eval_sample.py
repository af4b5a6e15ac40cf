"""Table 1 on the four sample paintings, with the hand-written references in critic/data.

    python bench/eval_sample.py --model NAME        # generate with an installed model, then score
    python bench/eval_sample.py --server URL        # the same through an OpenAI-compatible server
    python bench/eval_sample.py --outputs FILE      # score outputs made earlier
    python bench/eval_sample.py --agreement         # no model: each reference scored against the other

The paintings are read from ../shared/paintings (or --images); nothing is copied into the
repository. Four paintings say nothing about the paper's 5,000; the point is to see the
whole path (generate, score, report) run on real images and read its report.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from critic.cli import main as critic_main  # noqa: E402

REFS = ROOT / "critic" / "data" / "sample_refs.json"
PAINTINGS = ROOT.parent / "shared" / "paintings"


def agreement(out_dir: Path, meteor: str) -> int:
    """Score each painting's first reference against its second and the other way round."""
    from critic import __version__
    from critic.evaluation.readers import AnalysisItem
    from critic.evaluation.report import render, save_report
    from critic.evaluation.runner import run_key
    from critic.evaluation.scoring import score_generation

    items = json.loads(REFS.read_text(encoding="utf-8"))
    reports = []
    for said, other in ((0, 1), (1, 0)):
        model = {"name": f"hand reference {said + 1} vs {other + 1}", "quantization": None}
        outputs = out_dir / f"reference{said + 1}.jsonl"
        with open(outputs, "w", encoding="utf-8") as handle:
            for item in items:
                record = {
                    "task": "generate", "id": item["image"], "image": item["image"], "status": "ok",
                    "text": item["references"][said], "run_key": run_key(model, {}), "model": model,
                    "settings": {}, "critic_version": __version__,
                }
                handle.write(json.dumps(record) + "\n")
        refs = [AnalysisItem(i["image"], i["image"], (i["references"][other],)) for i in items]
        reports.append(score_generation(outputs, refs, REFS, meteor=meteor))
        save_report(reports[-1], outputs.with_suffix(".scores.json"))
    render(reports)
    print(f"reports in {out_dir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Run the sample evaluation the way the arguments ask."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", help="installed model to run")
    which.add_argument("--server", help="OpenAI-compatible server URL")
    which.add_argument("--outputs", type=Path, help="score these outputs instead of generating")
    which.add_argument("--agreement", action="store_true", help="score the references against each other")
    parser.add_argument("--images", type=Path, default=PAINTINGS, help="folder of the sample paintings")
    parser.add_argument("--out", type=Path, help="folder for outputs and reports (default: a temporary one)")
    parser.add_argument("--meteor", choices=("auto", "wordnet", "stem"), default="auto")
    args = parser.parse_args(argv)

    out_dir = args.out or Path(tempfile.mkdtemp(prefix="critic-eval-sample-"))
    out_dir.mkdir(parents=True, exist_ok=True)
    if args.agreement:
        return agreement(out_dir, args.meteor)
    outputs = args.outputs
    if outputs is None:
        if not args.images.is_dir():
            parser.error(f"{args.images}: no such folder (give --images)")
        outputs = out_dir / "sample.jsonl"
        engine = ["--model", args.model] if args.model else ["--server", args.server]
        code = critic_main(["eval", "generate", "--data", str(REFS), "--images", str(args.images), *engine,
                            "--out", str(outputs)])
        if code:
            return code
    return critic_main(["eval", "score", str(outputs), "--refs", str(REFS), "--meteor", args.meteor,
                        "--json", str(out_dir / "sample.scores.json")])


if __name__ == "__main__":
    raise SystemExit(main())

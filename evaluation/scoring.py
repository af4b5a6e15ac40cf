"""From output records to the paper's tables: group records into runs, score each run.

An output file may hold several runs (another model, other settings); each is scored on
its own and becomes one row. Within a run the last successful record of an id counts.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Sequence

from critic import __version__
from critic.core.errors import BadData
from critic.core.images import file_sha256
from critic.core.store import read_jsonl
from critic.evaluation import paper
from critic.evaluation.metrics import implementation, score_texts
from critic.evaluation.normalise import answer_contains, answer_matches, parse_choice
from critic.evaluation.readers import ARTBENCH_STYLES, AnalysisItem

REPORT_KIND = "critic-eval-report"
REPORT_FORMAT = 1


@dataclass
class Run:
    """The records of one model + settings for one task (and one dataset)."""

    key: str
    task: str
    dataset: str | None
    model: dict[str, Any]
    settings: dict[str, Any]
    ok: dict[str, dict[str, Any]] = field(default_factory=dict)
    failed: set[str] = field(default_factory=set)

    @property
    def label(self) -> str:
        """The row name: model name and quantization."""
        name = str(self.model.get("name") or "unnamed model")
        quant = self.model.get("quantization")
        return f"{name} ({quant})" if quant else name

    @property
    def errors(self) -> int:
        """Ids whose every attempt failed."""
        return len(self.failed - set(self.ok))


def group_runs(records: Sequence[dict[str, Any]]) -> list[Run]:
    """Records grouped by run key, task and dataset, in order of first appearance."""
    runs: dict[tuple, Run] = {}
    for record in records:
        task = record.get("task")
        if task not in ("generate", "vqa", "classify") or "id" not in record:
            continue
        group = (record.get("run_key"), task, record.get("dataset"))
        run = runs.get(group)
        if run is None:
            run = runs[group] = Run(
                str(record.get("run_key")), task, record.get("dataset"),
                dict(record.get("model") or {}), dict(record.get("settings") or {}),
            )
        if record.get("status") == "ok":
            run.ok[str(record["id"])] = record
        else:
            run.failed.add(str(record["id"]))
    return list(runs.values())


def _names(outputs: Path | Sequence[Path]) -> str:
    """One output file's name, or several joined, for messages."""
    return str(outputs) if isinstance(outputs, (str, Path)) else ", ".join(map(str, outputs))


def _answered(runs: list[Run], outputs: Path | Sequence[Path]) -> list[Run]:
    """The runs with at least one answer; BadData when every item of every run failed."""
    answered = [run for run in runs if run.ok]
    if not answered:
        failures = sum(len(run.failed) for run in runs)
        raise BadData(f"{_names(outputs)}: nothing to score, all {failures} item(s) failed (see the 'error' fields)")
    return answered


def _base_report(table: str, outputs: Path | Sequence[Path]) -> dict[str, Any]:
    """The fields every saved report has (`outputs` and its hash are lists when several files were scored)."""
    files = [Path(outputs)] if isinstance(outputs, (str, Path)) else [Path(p) for p in outputs]
    names, hashes = [str(p) for p in files], [file_sha256(p) for p in files]
    return {
        "kind": REPORT_KIND,
        "format": REPORT_FORMAT,
        "table": table,
        "critic_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "outputs": names[0] if len(files) == 1 else names,
        "outputs_sha256": hashes[0] if len(files) == 1 else hashes,
        "runs": [],
    }


def _run_header(run: Run) -> dict[str, Any]:
    """What a report row says about its run."""
    timings = [r.get("wall_s") for r in run.ok.values() if isinstance(r.get("wall_s"), (int, float))]
    return {
        "label": run.label,
        "run_key": run.key,
        "model": run.model,
        "settings": run.settings,
        "critic_version": next((r.get("critic_version") for r in run.ok.values()), None),
        "errors": run.errors,
        "mean_wall_s": round(sum(timings) / len(timings), 3) if timings else None,
    }


def read_outputs(path: Path) -> list[dict[str, Any]]:
    """The records of an output file, or BadData when there are none."""
    path = Path(path)
    if not path.is_file():
        raise BadData(f"{path}: no such file (run `critic eval generate` first)")
    records = read_jsonl(path)
    if not records:
        raise BadData(f"{path}: no output records in it")
    return records


def score_generation(
    outputs: Path | Sequence[Path], refs: Sequence[AnalysisItem], refs_path: Path | None = None,
    meteor: str = "auto", records: Sequence[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Table 1 for every generate run in `outputs` (or in `records`, read from those files), scored against `refs`."""
    records = read_outputs(outputs) if records is None else records
    runs = [run for run in group_runs(records) if run.task == "generate"]
    if not runs:
        raise BadData(f"{_names(outputs)}: no `critic eval generate` records in it")
    runs = _answered(runs, outputs)
    by_id = {item.id: item for item in refs}
    report = _base_report("table1", outputs)
    if refs_path is not None:
        report.update(refs=str(refs_path), refs_sha256=file_sha256(refs_path))
    variant = "stem"
    for run in runs:
        scored = [(rid, rec) for rid, rec in run.ok.items() if rid in by_id]
        unknown = len(run.ok) - len(scored)
        if not scored:
            raise BadData(f"{_names(outputs)}: none of the outputs of {run.label} is a painting of the references")
        scores = score_texts(
            [str(rec.get("text", "")) for _, rec in scored],
            [by_id[rid].references for rid, _ in scored],
            meteor=meteor,
        )
        variant = scores.meteor_variant
        report["runs"].append({
            **_run_header(run),
            "n": scores.n,
            "missing": len(by_id) - scores.n,
            "not_in_references": unknown,
            "scores": {k: round(getattr(scores, k), 2) for k in ("bleu", "gleu", "meteor", "rouge_l")},
            "meteor_variant": scores.meteor_variant,
        })
    report["implementation"] = implementation(variant)
    report["paper"] = {"source": paper.PAPER, "rows": paper.TABLE1}
    return report


def _accuracy(correct: int, n: int) -> float:
    """Percent, two decimals."""
    return round(100.0 * correct / n, 2) if n else 0.0


def score_answers(outputs: Path | Sequence[Path], records: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Table 2 for every vqa and classify run in `outputs` (or in `records`, read from them): accuracy in percent."""
    records = read_outputs(outputs) if records is None else records
    runs = [run for run in group_runs(records) if run.task in ("vqa", "classify")]
    if not runs:
        raise BadData(f"{_names(outputs)}: no `critic eval vqa` or `critic eval classify` records in it")
    runs = _answered(runs, outputs)
    report = _base_report("table2", outputs)
    for run in runs:
        records = list(run.ok.values())
        n = len(records)
        row = {**_run_header(run), "dataset": run.dataset, "n": n}
        if run.task == "vqa":
            exact = sum(answer_matches(str(r.get("text", "")), str(r.get("answer", ""))) for r in records)
            loose = sum(answer_contains(str(r.get("text", "")), str(r.get("answer", ""))) for r in records)
            row.update(
                accuracy=_accuracy(exact, n), correct=exact,
                contains_accuracy=_accuracy(loose, n),
                rule="normalised exact match (critic.evaluation.normalise)",
            )
        else:
            names = list(ARTBENCH_STYLES.values())
            key_of = {name: key for key, name in ARTBENCH_STYLES.items()}
            per_style: dict[str, list[int]] = defaultdict(lambda: [0, 0])
            unparsed = 0
            confusion: Counter[str] = Counter()
            correct = 0
            for r in records:
                said = parse_choice(str(r.get("text", "")), names)
                truth = str(r.get("style"))
                hit = said is not None and key_of[said] == truth
                unparsed += said is None
                correct += hit
                per_style[truth][0] += hit
                per_style[truth][1] += 1
                if not hit:
                    confusion[f"{truth} -> {key_of[said] if said else 'unparsed'}"] += 1
            row.update(
                accuracy=_accuracy(correct, n), correct=correct, unparsed=unparsed,
                per_style={k: _accuracy(c, t) for k, (c, t) in sorted(per_style.items())},
                top_confusions=dict(confusion.most_common(5)),
                rule="first style named in the answer (critic.evaluation.normalise.parse_choice)",
            )
        report["runs"].append(row)
    report["paper"] = {"source": paper.PAPER, "rows": paper.TABLE2}
    return report

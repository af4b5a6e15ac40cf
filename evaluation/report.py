"""Saved reports and the tables that show a run's numbers beside the paper's rows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from critic.core.errors import BadData
from critic.core.store import write_atomic
from critic.evaluation import paper
from critic.evaluation.metrics import meteor_label
from critic.evaluation.scoring import REPORT_KIND


def report_path(outputs: Path) -> Path:
    """Where the report of an output file goes by default: beside it, `.scores.json`."""
    outputs = Path(outputs)
    stem = outputs.name[: -len(".jsonl")] if outputs.name.endswith(".jsonl") else outputs.name
    return outputs.with_name(f"{stem}.scores.json")


def save_report(report: dict[str, Any], path: Path) -> Path:
    """Write a report atomically as indented JSON."""
    write_atomic(Path(path), json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    return Path(path)


def load_report(path: Path) -> dict[str, Any]:
    """Read a report written by `save_report`, or BadData saying what the file is not."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise BadData(f"{path}: no such file") from None
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadData(f"{path}: not a JSON report (give the .scores.json that score/vqa/classify wrote)") from None
    if not isinstance(data, dict) or data.get("kind") != REPORT_KIND:
        raise BadData(f"{path}: not a critic eval report (give the .scores.json that score/vqa/classify wrote)")
    return data


def _num(value: Any) -> str:
    """A score cell."""
    return f"{value:.2f}" if isinstance(value, (int, float)) else "—"


def _distinct_labels(runs: Sequence[dict[str, Any]], by_dataset: bool = False) -> list[str]:
    """Row labels; a label two different runs share gets its run key appended."""
    keys: dict[tuple, set[str]] = {}
    for run in runs:
        group = (run.get("label"), run.get("dataset") if by_dataset else None)
        keys.setdefault(group, set()).add(str(run.get("run_key")))
    labels = []
    for run in runs:
        label = str(run.get("label", "?"))
        if len(keys[(run.get("label"), run.get("dataset") if by_dataset else None)]) > 1:
            label += f" #{str(run.get('run_key'))[:6]}"
        labels.append(label)
    return labels


def table1(reports: Sequence[dict[str, Any]]) -> Any:
    """Table 1 as a rich Table: the paper's rows, then every scored run."""
    from rich.table import Table

    runs = [run for report in reports for run in report.get("runs", [])]
    variants = {run.get("meteor_variant", "stem") for run in runs} or {"stem"}
    meteor_title = meteor_label("wordnet") if variants == {"wordnet"} else meteor_label("stem")
    if len(variants) > 1:
        meteor_title = "METEOR (see rows)"
    table = Table(title="Table 1: formal analysis generation (×100)")
    table.add_column("model")
    for title in ("BLEU-4", "GLEU", meteor_title, "ROUGE-L"):
        table.add_column(title, justify="right")
    table.add_column("n", justify="right")
    for name, row in paper.TABLE1.items():
        table.add_row(f"{name} (paper)", *(_num(row[k]) for k in ("bleu", "gleu", "meteor", "rouge_l")), "5000",
                      style="dim")
    for run, label in zip(runs, _distinct_labels(runs)):
        scores = run.get("scores", {})
        if len(variants) > 1:
            label += f" [{meteor_label(run.get('meteor_variant', 'stem'))}]"
        table.add_row(label, *(_num(scores.get(k)) for k in ("bleu", "gleu", "meteor", "rouge_l")),
                      str(run.get("n", "")), style="bold")
    return table


def table2(reports: Sequence[dict[str, Any]]) -> Any:
    """Table 2 as a rich Table: one row per model, one column per dataset, accuracy in %."""
    from rich.table import Table

    runs = [run for report in reports for run in report.get("runs", [])]
    rows: dict[str, dict[str, Any]] = {}
    for run, label in zip(runs, _distinct_labels(runs, by_dataset=True)):
        rows.setdefault(label, {})[str(run.get("dataset"))] = run
    table = Table(title="Table 2: zero-shot accuracy (%)")
    table.add_column("model")
    for title in paper.TABLE2_COLUMNS.values():
        table.add_column(title, justify="right")
    for name, row in paper.TABLE2.items():
        table.add_row(f"{name} (paper)", *(_num(row.get(k)) for k in paper.TABLE2_COLUMNS), style="dim")
    for label, by_dataset in rows.items():
        cells = []
        for key in paper.TABLE2_COLUMNS:
            run = by_dataset.get(key)
            cells.append(f"{_num(run['accuracy'])} (n={run['n']})" if run else "—")
        table.add_row(label, *cells, style="bold")
    return table


def render(reports: Sequence[dict[str, Any]], console: Any = None) -> None:
    """Print the tables for `reports` (any mix of Table 1 and Table 2) with their notes."""
    from rich.console import Console

    console = console or Console()
    first = [r for r in reports if r.get("table") == "table1"]
    second = [r for r in reports if r.get("table") == "table2"]
    if first:
        console.print(table1(first))
        for key, text in first[-1].get("implementation", {}).items():
            console.print(f"  [dim]{key}: {text}[/dim]")
        for report in first:
            for run in report.get("runs", []):
                gaps = []
                if run.get("missing"):
                    gaps.append(f"{run['missing']} painting(s) of the references have no output")
                if run.get("errors"):
                    gaps.append(f"{run['errors']} failed")
                if run.get("not_in_references"):
                    gaps.append(f"{run['not_in_references']} output(s) match no painting of the references "
                                "(not scored)")
                if gaps:
                    console.print(f"  [yellow]{run.get('label')}: {'; '.join(gaps)}[/yellow]")
    if second:
        console.print(table2(second))
        console.print("  [dim]AQUA/ArtQuest: normalised exact match (docs/eval.md); "
                      "ArtBench: first style named in the answer[/dim]")
        for report in second:
            for run in report.get("runs", []):
                extra = f"contains-match {run['contains_accuracy']:.2f}%" if "contains_accuracy" in run else (
                    f"unparsed answers {run.get('unparsed', 0)}")
                console.print(f"  [dim]{run.get('label')} / {run.get('dataset')}: {extra}, "
                              f"errors {run.get('errors', 0)}[/dim]")

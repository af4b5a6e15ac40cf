"""`critic eval`: one command per table of the paper.

    critic eval generate --data test.json --images DIR --model NAME --out outputs.jsonl
    critic eval score outputs.jsonl --refs test.json
    critic eval vqa --data AQUA/test.json --images SemArt/Images --model NAME --out aqua.jsonl
    critic eval classify --data ArtBench-10 --model NAME --out artbench.jsonl
    critic eval report outputs.scores.json aqua.scores.json ...

Only the standard library and critic's light core are imported here; the engine, nltk and
rouge-score are imported when a subcommand runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from critic.cli.options import add_hardware_flags, add_sampling_flags, generation_settings, hardware
from critic.core.errors import UsageError
from critic.core.perspectives import DEFAULT_QUESTION

if TYPE_CHECKING:
    from critic.engine import Answerer
    from critic.engine.base import Settings
    from critic.evaluation.runner import RunSummary

VQA_DATASETS = ("aqua", "artquest", "artquest-type")


def _model_args(parser: argparse.ArgumentParser) -> None:
    """--model NAME | --server URL, and the generation settings."""
    which = parser.add_mutually_exclusive_group(required=True)
    which.add_argument("--model", metavar="NAME", help="installed model to run locally with llama.cpp")
    which.add_argument("--server", metavar="URL", help="OpenAI-compatible server to ask instead")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="with --server: requests in flight at once (default 4, at most 64); answers are "
                             "appended as they finish, so the file is keyed by id rather than in input order; "
                             "429, 5xx and timeouts are retried with backoff, honouring Retry-After")
    add_hardware_flags(parser)


def _run_args(parser: argparse.ArgumentParser, max_tokens: int, limit_help: str) -> None:
    """--out, --limit, --max-tokens, --temperature, --seed, --no-progress."""
    parser.add_argument("--out", type=Path, required=True, metavar="FILE.jsonl",
                        help="outputs, appended as each item finishes; rerun to resume")
    parser.add_argument("--limit", type=int, metavar="N", help=limit_help)
    add_sampling_flags(parser, max_tokens, seed=0,
                       seed_help="seed for choosing the --limit sample and for sampling (default 0)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def register(subparsers: Any) -> None:
    """Add `critic eval` and its subcommands."""
    parser = subparsers.add_parser(
        "eval", help="reproduce the paper's tables (Table 1 generation, Table 2 zero-shot)",
        description="Measure a model the way the GalleryGPT paper did; see docs/eval.md.",
    )
    sub = parser.add_subparsers(dest="eval_command", metavar="COMMAND")
    sub.required = True
    limit_help = "only N items: a sample drawn with --seed (default: all)"

    gen = sub.add_parser("generate", help="Table 1: a formal analysis of every test painting")
    gen.add_argument("--data", type=Path, required=True, metavar="test.json",
                     help="the test set (LLaVA format) or a list of {image, references}")
    gen.add_argument("--images", type=Path, metavar="DIR",
                     help="folder the image names are relative to (default: the data file's folder)")
    gen.add_argument("--question", default=DEFAULT_QUESTION, help="the prompt (default: the paper's)")
    _model_args(gen)
    _run_args(gen, 512, limit_help)
    gen.set_defaults(run=run_generate)

    score = sub.add_parser("score", help="score outputs: Table 1 metrics, or Table 2 accuracy")
    score.add_argument("outputs", type=Path, nargs="+", metavar="OUTPUTS.jsonl",
                       help="what `critic eval generate`, `vqa` or `classify` wrote, and/or plain JSONL answers "
                            "from elsewhere, one {\"image\" or \"id\", \"text\"} per line (give each a --label); "
                            "all are scored as rows of one table")
    score.add_argument("--label", action="append", metavar="NAME",
                       help="the row name of a plain answers file: one --label per plain file, in order")
    score.add_argument("--refs", type=Path, metavar="test.json",
                       help="reference analyses (needed for `generate` outputs and plain Table 1 answers)")
    score.add_argument("--data", type=Path, metavar="FILE",
                       help="for plain Table 2 answers: the questions they answer (AQUA's test.json, ArtQuest's "
                            "csv) or ArtBench-10's folder (its test split)")
    score.add_argument("--dataset", choices=(*VQA_DATASETS, "artbench"),
                       help="which benchmark --data is (default: aqua for .json, artquest for .csv, artbench "
                            "for a folder)")
    score.add_argument("--question", default=DEFAULT_QUESTION,
                       help="the question whose replies in test.json are references (default: the paper's)")
    score.add_argument("--meteor", choices=("auto", "wordnet", "stem"), default="auto",
                       help="METEOR matcher: wordnet (needs nltk's WordNet on disk), stem, or auto (default)")
    score.add_argument("--json", type=Path, metavar="FILE", help="report file (default: OUTPUTS.scores.json)")
    score.set_defaults(run=run_score)

    vqa = sub.add_parser("vqa", help="Table 2: AQUA, ArtQuest or ArtQuest-Type accuracy")
    vqa.add_argument("--data", type=Path, required=True, metavar="FILE",
                     help="AQUA's test.json or ArtQuest's artquest_test.csv")
    vqa.add_argument("--images", type=Path, required=True, metavar="DIR", help="SemArt's Images folder")
    vqa.add_argument("--dataset", choices=VQA_DATASETS,
                     help="which benchmark (default: aqua for .json, artquest for .csv)")
    vqa.add_argument("--json", type=Path, metavar="FILE", help="report file (default: OUT.scores.json)")
    _model_args(vqa)
    _run_args(vqa, 32, limit_help)
    vqa.set_defaults(run=run_vqa)

    cls = sub.add_parser("classify", help="Table 2: ArtBench-10 style accuracy")
    cls.add_argument("--data", type=Path, required=True, metavar="DIR",
                     help="ArtBench-10's image folders (train/ and test/, optionally ArtBench-10.csv)")
    cls.add_argument("--split", default="test", help="which split to sample from (default test)")
    cls.add_argument("--sample", type=int, default=1000, metavar="N",
                     help="paintings drawn with --seed, as the paper did (default 1000; 0 for all)")
    cls.add_argument("--json", type=Path, metavar="FILE", help="report file (default: OUT.scores.json)")
    _model_args(cls)
    _run_args(cls, 32, "only the first N of the sample (default: the whole sample)")
    cls.set_defaults(run=run_classify)

    rep = sub.add_parser("report", help="print saved reports beside the paper's numbers")
    rep.add_argument("reports", type=Path, nargs="+", metavar="SCORES.json",
                     help="reports written by `critic eval score`, `vqa` or `classify`")
    rep.set_defaults(run=run_report)


def _console(stderr: bool = False) -> Any:
    """Tables go to stdout; progress and notes to stderr."""
    from rich.console import Console

    return Console(stderr=stderr)


def _check_run_args(args: argparse.Namespace) -> Settings:
    """This run's generation settings; settings that cannot work are refused before a model is loaded."""
    if args.limit is not None and args.limit < 1:
        raise UsageError("--limit must be at least 1")
    settings = generation_settings(args)
    from critic.core.parallel import check_parallel

    args.parallel = check_parallel(args.parallel, args.server)
    return settings


def make_answerer(args: argparse.Namespace, settings: Settings) -> Answerer:
    """The engine's answerer for --model or --server with this run's settings."""
    from critic.engine import answerer_for

    return answerer_for(model=args.model, server=args.server, settings=settings, hardware=hardware(args))


def _print_summary(console: Any, summary: Any) -> None:
    """One line on how the run went."""
    line = (f"{summary.task}: {summary.answered} answered, {summary.skipped} already done, "
            f"{summary.errors} error(s) of {summary.total}")
    if summary.answered + summary.errors:
        line += f"; {summary.mean_s:.2f} s per item"
    if summary.tokens_per_second:
        line += f", {summary.tokens_per_second:.1f} tokens/s"
    console.print(f"{line}; outputs in {summary.out}")


def run_generate(args: argparse.Namespace) -> int:
    """critic eval generate."""
    from critic.evaluation.readers import read_analysis_refs
    from critic.evaluation.runner import generate

    settings = _check_run_args(args)
    items = read_analysis_refs(args.data, args.question)
    images = args.images or args.data.parent
    if not images.is_dir():
        raise UsageError(f"{images}: no such folder (give --images DIR)")
    answerer = make_answerer(args, settings)
    console = _console(stderr=True)
    summary = generate(items, answerer, args.out, images, limit=args.limit, seed=args.seed,
                       progress=not args.no_progress, question=args.question, console=console,
                       parallel=args.parallel)
    _print_summary(console, summary)
    console.print(f"next: critic eval score {args.out} --refs {args.data}")
    return 0


def _outside_records(args: argparse.Namespace, plain: list[Path]) -> list[dict]:
    """The plain answer files as output records, each file one labelled run matched to --refs or --data."""
    from critic.evaluation.outside import as_records, match, read_answers
    from critic.evaluation.readers import read_analysis_refs, read_aqua, read_artbench, read_artquest

    labels = args.label or []
    if len(labels) != len(plain):
        names = ", ".join(map(str, plain)) or "none"
        raise UsageError(f"{len(labels)} --label for {len(plain)} plain answer file(s) ({names}): "
                         "give one --label NAME per plain file, in the order of the files")
    if not plain:
        return []
    if (args.refs is None) == (args.data is None):
        raise UsageError("plain answers are scored against --refs test.json (Table 1) or --data (Table 2): "
                         "give one of them")
    dataset = None
    if args.refs is not None:
        items, against = read_analysis_refs(args.refs, args.question), args.refs
    else:
        against = args.data
        dataset = args.dataset or ("artbench" if args.data.is_dir() else _vqa_dataset(args))
        if dataset == "artbench":
            items = read_artbench(args.data)
        elif dataset == "aqua":
            items = read_aqua(args.data)
        else:
            items = read_artquest(args.data, "type" if dataset == "artquest-type" else None)
    records = []
    for path, label in zip(plain, labels):
        records += as_records(path, label, match(read_answers(path), items, path, against), dataset)
    return records


def run_score(args: argparse.Namespace) -> int:
    """critic eval score."""
    from critic.evaluation.outside import is_critic_output
    from critic.evaluation.readers import read_analysis_refs
    from critic.evaluation.report import render, report_path, save_report
    from critic.evaluation.scoring import group_runs, read_outputs, score_answers, score_generation

    own: list[dict] = []
    plain: list[Path] = []
    for path in args.outputs:
        records = read_outputs(path)
        if is_critic_output(records[0]):
            own += records
        else:
            plain.append(path)
    records = own + _outside_records(args, plain)
    tasks = {run.task for run in group_runs(records)}
    reports = []
    if "generate" in tasks:
        if args.refs is None:
            raise UsageError("these are `generate` outputs: give the references with --refs test.json")
        refs = read_analysis_refs(args.refs, args.question)
        reports.append(score_generation(args.outputs, refs, args.refs, meteor=args.meteor, records=records))
    if tasks & {"vqa", "classify"}:
        reports.append(score_answers(args.outputs, records=records))
    if not reports:
        raise UsageError(f"{', '.join(map(str, args.outputs))}: no `critic eval` records to score")
    path = args.json or report_path(args.outputs[0])
    if len(reports) == 1:
        save_report(reports[0], path)
    else:
        for report in reports:
            save_report(report, path.with_name(path.name.replace(".json", f".{report['table']}.json")))
    console = _console()
    render(reports, console)
    console.print(f"saved: {path}" if len(reports) == 1 else f"saved beside {path}")
    return 0


def _vqa_dataset(args: argparse.Namespace) -> str:
    """The benchmark named, or the one the file's suffix implies."""
    if args.dataset:
        return args.dataset
    suffix = args.data.suffix.lower()
    if suffix == ".json":
        return "aqua"
    if suffix == ".csv":
        return "artquest"
    raise UsageError(f"{args.data}: cannot tell the benchmark from the name: give --dataset {'|'.join(VQA_DATASETS)}")


def _score_and_show(args: argparse.Namespace, console: Any) -> None:
    """Score a vqa/classify output file, save the report, print the table."""
    from critic.evaluation.report import render, report_path, save_report
    from critic.evaluation.scoring import score_answers

    report = score_answers(args.out)
    path = save_report(report, args.json or report_path(args.out))
    render([report], console)
    console.print(f"saved: {path}")


def _answer_and_score(args: argparse.Namespace, settings: Settings,
                      answer_all: Callable[[Answerer, Any], RunSummary]) -> int:
    """Answer every item with --model or --server (`answer_all(answerer, console)`), then score --out
    and print its table (vqa and classify)."""
    console = _console(stderr=True)
    _print_summary(console, answer_all(make_answerer(args, settings), console))
    _score_and_show(args, _console())
    return 0


def run_vqa(args: argparse.Namespace) -> int:
    """critic eval vqa."""
    from critic.evaluation.readers import read_aqua, read_artquest
    from critic.evaluation.runner import run_vqa as run_questions

    settings = _check_run_args(args)
    dataset = _vqa_dataset(args)
    if dataset == "aqua":
        items = read_aqua(args.data)
    else:
        items = read_artquest(args.data, "type" if dataset == "artquest-type" else None)
    if not args.images.is_dir():
        raise UsageError(f"{args.images}: no such folder (give SemArt's Images folder with --images)")
    return _answer_and_score(args, settings, lambda answerer, console: run_questions(
        items, answerer, args.out, args.images, dataset, limit=args.limit, seed=args.seed,
        progress=not args.no_progress, console=console, parallel=args.parallel))


def run_classify(args: argparse.Namespace) -> int:
    """critic eval classify."""
    from critic.evaluation.readers import read_artbench
    from critic.evaluation.runner import run_classify as run_styles

    settings = _check_run_args(args)
    if args.sample < 0:
        raise UsageError("--sample must be 0 (all) or more")
    items = read_artbench(args.data, args.split)
    return _answer_and_score(args, settings, lambda answerer, console: run_styles(
        items, answerer, args.out, args.data, sample=args.sample or None, seed=args.seed, limit=args.limit,
        progress=not args.no_progress, console=console, parallel=args.parallel))


def run_report(args: argparse.Namespace) -> int:
    """critic eval report."""
    from critic.evaluation.report import load_report, render

    render([load_report(path) for path in args.reports], _console())
    return 0

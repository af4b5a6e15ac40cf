"""The work behind `critic analyze`: load each painting, ask the model, print or record the answer.

Kept apart from the CLI module so the verb stays light to import; llama.cpp is loaded
only when there is a model and an image to analyse.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from itertools import chain
from pathlib import Path
from typing import Callable, Iterator

from critic.analyze.record import AnalysisRecord, finish, new_record
from critic.core.errors import BadImage, BadRegion, ModelNotFound, UsageError
from critic.core.images import LoadedImage, iter_image_paths, load_image
from critic.core.names import safe_name
from critic.core.perspectives import compose_question, expand_aspects
from critic.core.progress import ReadingStatus
from critic.core.regions import (CROP_NOTE, Detail, Region, cut_detail, detail_tiles, load_whole, parse_region,
                                 region_label, region_of_record)
from critic.core.store import JsonlLog, output_lock
from critic.engine.base import Hardware, Settings, describe_runtime

_FORMAT_BY_SUFFIX = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".json": "json", ".jsonl": "json"}
"""With --out and no --format, the output's kind follows its extension (JSON lines otherwise)."""


@dataclass
class AnalyzeJob:
    """One `critic analyze` invocation."""

    paths: list[Path]
    questions: list[str]
    """One or more (several perspectives): each asked after the same prefix, one record each."""
    settings: Settings
    fmt: str
    out: Path | None
    show_facts: bool
    ground: bool
    model: str | None
    server: str | None
    hardware: Hardware
    ctx: int | None
    cache: bool = True
    parallel: int = 1
    """Requests in flight (with --server only); records then come in the order they finish."""
    regions: list[Region] = field(default_factory=list)
    """Details to analyse in each painting instead of the whole (--region, --detail); empty: the whole."""
    _whole = False
    """Several paintings in flight: each answer is printed whole as it arrives, not streamed."""
    _measured: dict = field(default_factory=dict, init=False, repr=False)
    """Facts by image sha256, for the facts sections of a Markdown or text --out (None: not measurable)."""

    @classmethod
    def from_args(cls, args, settings: Settings, hardware: Hardware) -> "AnalyzeJob":
        """The job `critic analyze`'s arguments describe, with the settings and hardware its flags
        gave (critic.cli.options checks them)."""
        questions = [compose_question(aspect, args.ask, args.brief, args.lang) for aspect in expand_aspects(args.aspect)]
        paths = iter_image_paths(args.images)
        if not paths:
            raise UsageError("no images found in " + ", ".join(args.images))
        out = Path(args.out) if args.out else None
        fmt = args.format or (_FORMAT_BY_SUFFIX.get(out.suffix.lower(), "json") if out else "text")
        from critic.core.parallel import check_parallel

        job = cls(paths, questions, settings, fmt, out,
                  args.facts, args.ground, args.model, args.server, hardware, args.ctx, not args.no_cache,
                  check_parallel(getattr(args, "parallel", None), args.server), _regions(args))
        job.check_out()
        job.check_regions()
        return job

    # -- output -------------------------------------------------------------------------

    def _console(self):
        from rich.console import Console

        return Console(highlight=False, soft_wrap=False)

    @property
    def streaming(self) -> bool:
        return self.fmt == "text" and self.out is None

    @property
    def records_path(self) -> Path | None:
        """Where the records of an --out run go: the file itself for JSON lines; for a Markdown or
        text document, a hidden record file beside it that the document is rebuilt from."""
        if self.out is None or self.fmt == "json":
            return self.out
        return self.out.with_name(f".{self.out.name}.records.jsonl")

    def check_regions(self) -> None:
        """With one painting, a region that does not fit it is a one-line error before the model loads
        (with several, that painting's error record)."""
        if self.regions and len(self.paths) == 1:
            size = load_image(self.paths[0], max_side=64, draft=64).original_size
            for region in self.regions:
                region.box(size, self.paths[0].name)

    def check_out(self) -> None:
        """Refuse an --out that is a file of another kind: critic never appends to one."""
        out = self.out
        if out is None or not out.exists() or out.stat().st_size == 0:
            return
        if out.is_dir():
            raise UsageError(f"--out {out} is a folder: give a file name")
        if self.fmt != "json":
            if not self.records_path.exists():
                raise UsageError(f"--out {out} exists and was not written by `critic analyze --out`: "
                                 "give another file name, or remove it")
            return
        with open(out, encoding="utf-8", errors="replace") as handle:
            first = handle.readline()
        try:
            record = json.loads(first)
        except json.JSONDecodeError:
            record = None
        if not isinstance(record, dict) or "key" not in record:
            raise UsageError(f"--out {out} is not a file of critic analyze results (JSON lines), and nothing is "
                             "appended to another kind of file: give another --out (FILE.md with --format "
                             "markdown writes a Markdown document)")

    def _write_document(self, records: list[dict]) -> None:
        """Rebuild the Markdown or text document of an --out run from its records (atomically): what the
        terminal shows in that format, each painting's measured facts after its last analysis."""
        from critic.core.store import write_atomic

        order = {(str(path), question): n for n, (path, question) in
                 enumerate((p, q) for p in self.paths for q in self.questions)}
        # earlier runs' analyses first, as they were; this run's in input order, however they finished
        done = sorted((r for r in records if r.get("status") == "ok"),
                      key=lambda r: order.get((r["image"]["path"], r["question"]), -1))
        from critic.analyze.handout import facts_markdown, facts_text, flags_text

        parts = []
        for n, r in enumerate(done):
            name = safe_name(Path(r['image']['path']).name)
            if self.fmt == "markdown":
                parts.append(self._markdown(r))
            else:
                seen = f"{name}, {region_label(r['region'])}" if r.get("region") else name
                parts.append(f"{seen} — {r['question']}\n\n{r['analysis']}\n" + flags_text(r.get("flags") or []))
            later = _seen_sha(done[n + 1]) if n + 1 < len(done) else None
            facts = self._facts_of(r) if self.show_facts and later != _seen_sha(r) else None
            if facts is not None:
                if r.get("region"):
                    name = f"{name}, {region_label(r['region'])}"
                parts.append(facts_markdown(name, facts) if self.fmt == "markdown" else facts_text(facts))
                if (r.get("region") or {}).get("compared"):
                    parts.append(r["region"]["compared"] + "\n")
        write_atomic(self.out, "\n".join(parts))

    def _facts_of(self, record: dict):
        """The measured facts of a record's painting (or detail): as measured in this run, or measured again
        from its file (an earlier run's painting, still where it was); None when the file is gone or changed."""
        sha = _seen_sha(record)
        if sha not in self._measured:
            from critic.facts.measure import measure

            region = record.get("region")
            try:
                image = load_image(Path(record["image"]["path"])) if not region else \
                    cut_detail(load_whole(Path(record["image"]["path"])), region_of_record(region)).image
            except (BadImage, BadRegion, KeyError, TypeError, ValueError):
                image = None
            self._measured[sha] = measure(image.image) if image is not None and image.sha256 == sha else None
        return self._measured[sha]

    def run(self) -> int:
        engine = None
        try:
            engine = self._engine()
        except ModelNotFound as err:
            if self.model or self.server:
                raise
            return self._measured_only(str(err))
        try:
            if self.out:
                with output_lock(self.out, "critic analyze"):
                    return self._analyse_all(engine)
            return self._analyse_all(engine)
        finally:
            engine.close()

    def _engine(self):
        from critic.engine import open_engine

        return open_engine(self.model, self.server, n_ctx=self.ctx, hardware=self.hardware, cache=self.cache,
                           keep_new=len(self.paths) == 1)

    # -- no model: measured facts ---------------------------------------------------------

    def _measured_only(self, hint: str) -> int:
        if not self.show_facts:
            raise UsageError(f"nothing to do: {hint}; and --no-facts turns off the measured facts, "
                             "the one thing critic can show without a model")
        console = self._console()
        failed = 0
        for path in self.paths:
            try:
                views = list(self._views(path))
            except (BadImage, BadRegion) as err:
                failed += 1
                print(f"critic: error: {safe_name(err)}", file=sys.stderr)
                continue
            for image, facts, detail, compared in views:
                self._measured_one(console, image, facts, detail, compared, hint)
        print(f"critic: {hint}", file=sys.stderr)
        return 1 if failed else 0

    def _views(self, path: Path) -> Iterator[tuple[LoadedImage, object, Detail | None, str]]:
        """(picture, its facts, the detail or None, the detail's facts against the whole's) for each
        part of the painting at `path` this job looks at: the whole, or each region (`BadRegion` for one
        that does not fit this painting, before anything of it is yielded)."""
        from critic.facts.detail import compare_to_whole
        from critic.facts.measure import measure

        if not self.regions:
            image = load_image(path)
            yield image, measure(image.image), None, ""
            return
        whole = load_whole(path)
        for region in self.regions:  # every region checked against this canvas before the first is cut
            region.box(whole.original_size, whole.path.name)
        whole_facts = measure(whole.image)
        for region in self.regions:
            detail = cut_detail(whole, region)
            facts = measure(detail.image.image)
            yield detail.image, facts, detail, compare_to_whole(facts, whole_facts)

    def _measured_one(self, console, image, facts, detail: Detail | None, compared: str, hint: str) -> None:
        """One painting's (or detail's) measured facts, with no model."""
        from critic.facts.describe import facts_paragraph

        if self.fmt == "json":
            record = new_record(image, self.questions[0], None, self.settings, detail=detail, compared=compared)
            record.status = "measured"
            record.facts = facts.to_dict()
            record.analysis = facts_paragraph(facts)
            record.note = "measured from the image, not written by a model; " + hint
            print(json.dumps(record.to_dict(), ensure_ascii=False))
        else:
            self._print_facts(console, image, facts, measured_only=True, detail=detail, compared=compared)

    def _print_facts(self, console, image, facts, measured_only: bool, detail: Detail | None = None,
                     compared: str = "") -> None:
        from rich.rule import Rule

        from critic.facts.render import render_facts

        name = safe_name(image.path.name) + (f", {detail.label}" if detail else "")
        if self.fmt == "markdown":  # unwrapped: a Markdown file must not depend on the terminal's width
            from critic.analyze.handout import facts_markdown

            print(facts_markdown(name, facts) + (f"\n{compared}\n" if compared else ""))
            return
        if measured_only:
            console.print(Rule(f"{name} — measured, no model installed"))
        console.print(render_facts(facts, colour=console.color_system is not None))
        if compared:
            console.print(compared, markup=False, highlight=False)

    # -- with a model -------------------------------------------------------------------

    def _analyse_all(self, engine) -> int:
        log = JsonlLog(self.records_path) if self.out else None
        records = log.records() if log else []  # everything in the log, kept up to date below
        done = {r.get("key") for r in records if r.get("status") == "ok"}
        # A failure already recorded is retried, but the same failure is not recorded again.
        known_errors = {_error_key(r) for r in records if r.get("status") == "error"}
        failed = skipped = total = 0
        progress = self._progress() if (log or len(self.paths) > 1) and not self.streaming else None
        task = progress.add_task("analysing", total=len(self.paths)) if progress else None
        from critic.core.parallel import InFlight

        def work(path: Path):
            yield from self._one(engine, path, done)
            yield _PAINTING_DONE

        def keep(value) -> None:
            nonlocal total, skipped, failed
            if value is _PAINTING_DONE:
                if progress:
                    progress.advance(task)
                return
            record, show = value
            total += 1
            if record is None:
                skipped += 1
                return
            if record.status != "ok":
                failed += 1
            if show:
                show()
            data = record.to_dict()
            if log and (record.status == "ok" or _error_key(data) not in known_errors):
                log.append(data)
                records.append(data)
                if self.fmt != "json":
                    self._write_document(records)

        # several paintings in flight only against a server; one painting streams as before
        pool = InFlight(work, self.paths, self.parallel)
        self._whole = pool.parallel > 1
        try:
            if progress:
                progress.start()
            pool.each(keep)  # what finished before a stop is kept
        except KeyboardInterrupt:
            if log:
                # the file is the truth: the Ctrl-C may have landed between a record's write and its count
                records = log.records()
                if self.fmt != "json":
                    self._write_document(records)
                saved = sum(1 for r in records if r.get("status") == "ok")
                print(f"critic: interrupted: {saved} results are saved in {safe_name(self.out)}; run the same command again "
                      "to continue where it stopped", file=sys.stderr)
            raise
        finally:
            if progress:
                progress.stop()
        if log:
            print(f"critic: {total - skipped - failed} analysed, {skipped} already done, "
                  f"{failed} failed → {safe_name(self.out)}", file=sys.stderr)
        if failed:
            print(f"critic: {failed} of {total} analyses failed", file=sys.stderr)
        return 1 if failed else 0

    def _progress(self):
        from rich.console import Console

        from critic.core.progress import counting_bar

        return counting_bar(console=Console(stderr=True))

    def painting_records(self, engine, path: Path, done: set) -> Iterator[AnalysisRecord | None]:
        """The records `--out` gets for one painting (None for each already in `done`); `critic gallery`
        analyses through here, so its results file is the one this verb writes."""
        return (record for record, _ in self._one(engine, path, done))

    def _one(self, engine, path: Path, done: set) -> Iterator[tuple[AnalysisRecord | None, Callable | None]]:
        """One record per question about the painting at `path` (None for one already done), each
        with what prints it when answers are printed whole (None when it is printed already).

        The painting is encoded once; each question is asked after that shared prefix and its
        turn rewound, so every answer is what a run with that question alone would give.
        """
        views = self._views(path)
        try:
            view = next(views)
        except (BadImage, BadRegion) as err:
            print(f"critic: error: {safe_name(err)}", file=sys.stderr)
            yield AnalysisRecord(key="", image={"path": str(path)}, question=self.questions[0], prompt="",
                                 settings=self.settings.to_dict(), status="error", error=str(err),
                                 model=engine.info.to_dict()), None
            return
        # A detail is a picture of its own to the model: one more encode, its own cached prefix.
        for image, facts, detail, compared in chain([view], views):
            self._measured[image.sha256] = facts  # for the document's facts sections
            session = engine.open_session(image)
            try:
                for question in self.questions:
                    yield self._ask(engine, session, image, facts, question, done, detail, compared)
            finally:
                session.close()

    def _ask(self, engine, session, image, facts, question: str, done: set, detail: Detail | None = None,
             compared: str = "") -> tuple[AnalysisRecord | None, Callable | None]:
        from critic.facts.check import check_analysis
        from critic.facts.describe import grounding_summary

        ground = grounding_summary(facts) if self.ground else None
        record = new_record(image, question, engine.info, self.settings, ground, detail, compared)
        if record.key in done:
            return None, None
        record.facts = facts.to_dict()
        console = self._console()
        asked = f"{ground}\n{question}" if ground else question
        seen = len(session.notices)
        if self.streaming and not self._whole:
            self._title(console, engine, image, question, detail)
            reading = ReadingStatus()  # a first answer at 7B on a CPU takes a minute: say what runs, how far
            session.on_progress = reading.update
            try:
                for piece in session.ask(asked, self.settings):
                    reading.stop()
                    console.print(piece, end="", markup=False, highlight=False)
                    console.file.flush()
            finally:
                reading.stop()
                session.on_progress = None
            console.print()
        else:
            for _ in session.ask(asked, self.settings):
                pass
        for notice in session.notices[seen:]:
            print(f"critic: note: {safe_name(notice)}", file=sys.stderr)
        turn = session.rewind()  # the next question branches from the painting again
        finish(record, turn.answer, turn.timings, engine.load_seconds, turn.partial, turn.stopped)
        record.runtime = turn.runtime or None
        record.settings = {**record.settings, "seed": turn.seed}  # the one drawn when none was given
        flags = check_analysis(turn.answer, facts)
        record.flags = [_flag_dict(f) for f in flags]

        def show() -> None:
            self._show(console, engine, record, image, facts, flags, question, detail)

        if self._whole:
            return record, show  # the main thread prints it as it arrives
        show()
        return record, None

    def _title(self, console, engine, image, question: str, detail: Detail | None = None) -> None:
        """The rule above one streamed answer."""
        from rich.rule import Rule

        if console.is_terminal or len(self.paths) > 1 or len(self.questions) > 1 or detail:
            seen = safe_name(image.path.name) + (f", {detail.label}" if detail else "")
            title = f"{seen} — {engine.info.name} {engine.info.quantization}".strip()
            console.print(Rule(title if len(self.questions) == 1 else f"{title} — {question}"))

    def _show(self, console, engine, record: AnalysisRecord, image, facts, flags, question: str,
              detail: Detail | None = None) -> None:
        """Print one finished analysis as the format asks (the streamed text is printed already)."""
        compared = (record.region or {}).get("compared", "")
        if self.streaming:
            from critic.facts.render import render_flag_notes, render_flags

            if self._whole:
                self._title(console, engine, image, question, detail)
                console.print(render_flags(record.analysis, flags) if flags else record.analysis,
                              markup=False, highlight=False)
            elif flags:  # the answer is on screen already: the contradicted sentences and measurements
                console.print(render_flag_notes(flags))
            if self.show_facts and question == self.questions[-1]:
                self._print_facts(console, image, facts, False, detail, compared)
        elif self.fmt == "json" and not self.out:
            print(json.dumps(record.to_dict(), ensure_ascii=False))
        elif self.fmt == "markdown" and not self.out:
            print(self._markdown(record.to_dict()))
            if self.show_facts and question == self.questions[-1]:
                self._print_facts(console, image, facts, False, detail, compared)

    def _markdown(self, record: dict) -> str:
        """One analysis as Markdown, from its record."""
        model, image, settings = record.get("model") or {}, record["image"], record.get("settings") or {}
        lines = [f"# Formal analysis — {safe_name(Path(image['path']).name)}", "",
                 f"- **Image:** `{safe_name(image['path'])}` ({image['width']}×{image['height']}, sha256 `{image['sha256'][:16]}…`)",
                 f"- **Model:** {model.get('name', '')} {model.get('quantization', '')}".rstrip(),
                 f"- **Question:** {record['question']}"]
        if settings.get("temperature"):
            lines.append(f"- **Sampling:** temperature {settings['temperature']}, seed {settings.get('seed')}")
        if record.get("runtime"):
            lines.append(f"- **Ran on:** {describe_runtime(record['runtime'])}")
        if record.get("region"):
            lines.append(f"- **Detail:** {region_label(record['region'])}; {CROP_NOTE}")
            if record["region"].get("compared"):
                lines.append(f"- **Measured:** {record['region']['compared']}")
        lines += ["", record.get("analysis") or ""]
        if record.get("flags"):
            lines += ["", "## Claims the measurements contradict", ""]
            lines += [f"- “{f.get('sentence', '')}” — {f.get('measurement', '')}" for f in record["flags"]]
        return "\n".join(lines) + "\n"


_PAINTING_DONE = object()
"""Yielded after a painting's last record: the progress bar counts paintings."""


def _regions(args) -> list[Region]:
    """The details --region (repeated) or --detail N ask for; none: the whole painting."""
    if getattr(args, "region", None) and getattr(args, "detail", None):
        raise UsageError("give --region or --detail, not both")
    if getattr(args, "detail", None):
        return detail_tiles(args.detail)
    return [parse_region(text) for text in getattr(args, "region", None) or ()]


def _seen_sha(record: dict) -> str | None:
    """The sha256 of the picture a record's model saw: the detail's own identity, else the painting's."""
    return (record.get("region") or {}).get("sha256") or record["image"].get("sha256")


def _error_key(record: dict) -> tuple:
    """What makes two error records the same failure."""
    return (record.get("image", {}).get("path"), record.get("question"), record.get("error"))


def _flag_dict(flag) -> dict:
    from dataclasses import asdict, is_dataclass

    if hasattr(flag, "to_dict"):
        return flag.to_dict()
    return asdict(flag) if is_dataclass(flag) else dict(flag)

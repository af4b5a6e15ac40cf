"""The work behind `critic analyze`: load each painting, ask the model, print or record the answer.

Kept apart from the CLI module so the verb stays light to import; llama.cpp is loaded
only when there is a model and an image to analyse.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from critic.analyze.record import AnalysisRecord, finish, new_record
from critic.core.errors import BadImage, ModelNotFound, UsageError
from critic.core.images import iter_image_paths, load_image
from critic.core.names import safe_name
from critic.core.perspectives import compose_question, expand_aspects
from critic.core.store import JsonlLog, output_lock
from critic.engine.base import Settings

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
    threads: int | None
    ctx: int | None
    cache: bool = True
    parallel: int = 1
    """Requests in flight (with --server only); records then come in the order they finish."""
    _whole = False
    """Several paintings in flight: each answer is printed whole as it arrives, not streamed."""
    _measured: dict = field(default_factory=dict, init=False, repr=False)
    """Facts by image sha256, for the facts sections of a Markdown or text --out (None: not measurable)."""

    @classmethod
    def from_args(cls, args, settings: Settings) -> "AnalyzeJob":
        """The job `critic analyze`'s arguments describe, with the settings its flags gave
        (critic.cli.options checks them)."""
        questions = [compose_question(aspect, args.ask, args.brief, args.lang) for aspect in expand_aspects(args.aspect)]
        paths = iter_image_paths(args.images)
        if not paths:
            raise UsageError("no images found in " + ", ".join(args.images))
        out = Path(args.out) if args.out else None
        fmt = args.format or (_FORMAT_BY_SUFFIX.get(out.suffix.lower(), "json") if out else "text")
        from critic.core.parallel import check_parallel

        job = cls(paths, questions, settings, fmt, out,
                  args.facts, args.ground, args.model, args.server, args.threads, args.ctx, not args.no_cache,
                  check_parallel(getattr(args, "parallel", None), args.server))
        job.check_out()
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
                parts.append(f"{name} — {r['question']}\n\n{r['analysis']}\n" + flags_text(r.get("flags") or []))
            later = done[n + 1]["image"].get("sha256") if n + 1 < len(done) else None
            facts = self._facts_of(r) if self.show_facts and later != r["image"].get("sha256") else None
            if facts is not None:
                parts.append(facts_markdown(name, facts) if self.fmt == "markdown" else facts_text(facts))
        write_atomic(self.out, "\n".join(parts))

    def _facts_of(self, record: dict):
        """The measured facts of a record's painting: as measured in this run, or measured again from
        its file (an earlier run's painting, still where it was); None when the file is gone or changed."""
        sha = record["image"].get("sha256")
        if sha not in self._measured:
            from critic.facts.measure import measure

            try:
                image = load_image(Path(record["image"]["path"]))
            except (BadImage, KeyError):
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

        return open_engine(self.model, self.server, n_ctx=self.ctx, threads=self.threads, cache=self.cache,
                           keep_new=len(self.paths) == 1)

    # -- no model: measured facts ---------------------------------------------------------

    def _measured_only(self, hint: str) -> int:
        if not self.show_facts:
            raise UsageError(f"nothing to do: {hint}; and --no-facts turns off the measured facts, "
                             "the one thing critic can show without a model")
        from critic.facts.describe import facts_paragraph
        from critic.facts.measure import measure

        console = self._console()
        failed = 0
        for path in self.paths:
            try:
                image = load_image(path)
            except BadImage as err:
                failed += 1
                print(f"critic: error: {safe_name(err)}", file=sys.stderr)
                continue
            facts = measure(image.image)
            if self.fmt == "json":
                record = new_record(image, self.questions[0], None, self.settings)
                record.status = "measured"
                record.facts = facts.to_dict()
                record.analysis = facts_paragraph(facts)
                record.note = "measured from the image, not written by a model; " + hint
                print(json.dumps(record.to_dict(), ensure_ascii=False))
            else:
                self._print_facts(console, image, facts, measured_only=True)
        print(f"critic: {hint}", file=sys.stderr)
        return 1 if failed else 0

    def _print_facts(self, console, image, facts, measured_only: bool) -> None:
        from rich.rule import Rule

        from critic.facts.render import render_facts

        if self.fmt == "markdown":  # unwrapped: a Markdown file must not depend on the terminal's width
            from critic.analyze.handout import facts_markdown

            print(facts_markdown(safe_name(image.path.name), facts))
            return
        if measured_only:
            console.print(Rule(f"{safe_name(image.path.name)} — measured, no model installed"))
        console.print(render_facts(facts, colour=console.color_system is not None))

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
        from critic.facts.measure import measure

        try:
            image = load_image(path)
        except BadImage as err:
            print(f"critic: error: {safe_name(err)}", file=sys.stderr)
            yield AnalysisRecord(key="", image={"path": str(path)}, question=self.questions[0], prompt="",
                                 settings=self.settings.to_dict(), status="error", error=str(err),
                                 model=engine.info.to_dict()), None
            return
        facts = measure(image.image)
        self._measured[image.sha256] = facts  # for the document's facts sections
        session = engine.open_session(image)
        try:
            for question in self.questions:
                yield self._ask(engine, session, image, facts, question, done)
        finally:
            session.close()

    def _ask(self, engine, session, image, facts, question: str,
             done: set) -> tuple[AnalysisRecord | None, Callable | None]:
        from critic.facts.check import check_analysis
        from critic.facts.describe import grounding_summary

        ground = grounding_summary(facts) if self.ground else None
        record = new_record(image, question, engine.info, self.settings, ground)
        if record.key in done:
            return None, None
        record.facts = facts.to_dict()
        console = self._console()
        asked = f"{ground}\n{question}" if ground else question
        if self.streaming and not self._whole:
            self._title(console, engine, image, question)
            for piece in session.ask(asked, self.settings):
                console.print(piece, end="", markup=False, highlight=False)
                console.file.flush()
            console.print()
        else:
            for _ in session.ask(asked, self.settings):
                pass
        turn = session.rewind()  # the next question branches from the painting again
        finish(record, turn.answer, turn.timings, engine.load_seconds, turn.partial, turn.stopped)
        record.settings = {**record.settings, "seed": turn.seed}  # the one drawn when none was given
        flags = check_analysis(turn.answer, facts)
        record.flags = [_flag_dict(f) for f in flags]

        def show() -> None:
            self._show(console, engine, record, image, facts, flags, question)

        if self._whole:
            return record, show  # the main thread prints it as it arrives
        show()
        return record, None

    def _title(self, console, engine, image, question: str) -> None:
        """The rule above one streamed answer."""
        from rich.rule import Rule

        if console.is_terminal or len(self.paths) > 1 or len(self.questions) > 1:
            title = f"{safe_name(image.path.name)} — {engine.info.name} {engine.info.quantization}".strip()
            console.print(Rule(title if len(self.questions) == 1 else f"{title} — {question}"))

    def _show(self, console, engine, record: AnalysisRecord, image, facts, flags, question: str) -> None:
        """Print one finished analysis as the format asks (the streamed text is printed already)."""
        if self.streaming:
            from critic.facts.render import render_flag_notes, render_flags

            if self._whole:
                self._title(console, engine, image, question)
                console.print(render_flags(record.analysis, flags) if flags else record.analysis,
                              markup=False, highlight=False)
            elif flags:  # the answer is on screen already: the contradicted sentences and measurements
                console.print(render_flag_notes(flags))
            if self.show_facts and question == self.questions[-1]:
                self._print_facts(console, image, facts, measured_only=False)
        elif self.fmt == "json" and not self.out:
            print(json.dumps(record.to_dict(), ensure_ascii=False))
        elif self.fmt == "markdown" and not self.out:
            print(self._markdown(record.to_dict()))
            if self.show_facts and question == self.questions[-1]:
                self._print_facts(console, image, facts, measured_only=False)

    def _markdown(self, record: dict) -> str:
        """One analysis as Markdown, from its record."""
        model, image, settings = record.get("model") or {}, record["image"], record.get("settings") or {}
        lines = [f"# Formal analysis — {safe_name(Path(image['path']).name)}", "",
                 f"- **Image:** `{safe_name(image['path'])}` ({image['width']}×{image['height']}, sha256 `{image['sha256'][:16]}…`)",
                 f"- **Model:** {model.get('name', '')} {model.get('quantization', '')}".rstrip(),
                 f"- **Question:** {record['question']}"]
        if settings.get("temperature"):
            lines.append(f"- **Sampling:** temperature {settings['temperature']}, seed {settings.get('seed')}")
        lines += ["", record.get("analysis") or ""]
        if record.get("flags"):
            lines += ["", "## Claims the measurements contradict", ""]
            lines += [f"- “{f.get('sentence', '')}” — {f.get('measurement', '')}" for f in record["flags"]]
        return "\n".join(lines) + "\n"


_PAINTING_DONE = object()
"""Yielded after a painting's last record: the progress bar counts paintings."""


def _error_key(record: dict) -> tuple:
    """What makes two error records the same failure."""
    return (record.get("image", {}).get("path"), record.get("question"), record.get("error"))


def _flag_dict(flag) -> dict:
    from dataclasses import asdict, is_dataclass

    if hasattr(flag, "to_dict"):
        return flag.to_dict()
    return asdict(flag) if is_dataclass(flag) else dict(flag)

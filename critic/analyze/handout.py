"""A Markdown or text handout gets what the terminal shows in that format: the analysis, the
sentences the measurements contradict, and each painting's measured facts.

`critic analyze --format markdown` prints a "Measured facts" section after a painting's last
analysis, and the text format prints the facts panel and the contradicted sentences; the
document `--out handout.md` (or `.txt`) is rebuilt from the records with the same pieces, from
the same functions here. A file is read away from the terminal, so the text form is drawn at
a fixed width (`WIDTH`) and without colour.
"""

from __future__ import annotations

from io import StringIO

from critic.facts.check import Flag
from critic.facts.describe import MEASURED_LABEL, facts_paragraph
from critic.facts.measure import Facts

WIDTH = 100
"""Columns of a text handout's panels: a file does not depend on the terminal that wrote it."""


def plain(renderable) -> str:
    """A Rich renderable as plain text at WIDTH columns, without colour or trailing spaces."""
    from rich.console import Console

    buffer = StringIO()
    Console(file=buffer, width=WIDTH, color_system=None, force_terminal=False, highlight=False,
            legacy_windows=False).print(renderable)
    return "\n".join(line.rstrip() for line in buffer.getvalue().splitlines()) + "\n"


def facts_markdown(name: str, facts: Facts) -> str:
    """The measured facts of the painting called `name` as a Markdown section (unwrapped)."""
    return f"## Measured facts — {name}\n\n*{MEASURED_LABEL}.*\n\n{facts_paragraph(facts)}\n"


def facts_text(facts: Facts) -> str:
    """The measured facts as the terminal's panel, in plain text."""
    from critic.facts.render import render_facts

    return plain(render_facts(facts, colour=False))


def flags_text(flags: list[dict]) -> str:
    """The contradicted sentences of a record (its `flags`) as the terminal lists them, in plain text."""
    from critic.facts.render import render_flag_notes

    return plain(render_flag_notes([Flag(**flag) for flag in flags])) if flags else ""

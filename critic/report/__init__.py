"""Illustrated reports: analyses as one self-contained HTML file, pictures and all.

`records_report(records)` turns `critic analyze --out` results into a page (`critic report`);
`conversation_report(...)` does the same for one chat conversation (ctrl+s to a .html name
in `critic chat`). `page` lays the page out, `figures` draws the painting, palette, value
histogram and composition overlay from the measured facts.
"""

from __future__ import annotations

from critic.report.build import conversation_report, from_records, records_report

__all__ = ["conversation_report", "from_records", "records_report"]

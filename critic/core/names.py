"""Names made safe to print: control characters shown as escapes, never sent raw.

A file name may hold any byte but ``/`` and NUL: a newline that starts a new Markdown
heading, ``ESC [2J`` that clears the terminal, ``ESC ] 0;…`` that retitles it, a right-to-left
override that reverses what follows, or bytes that are not UTF-8 (Python reads them as lone
surrogates, which printing would refuse with a traceback). `safe_name` turns each into a
visible escape (``\\n``, ``\\x1b``, ``\\u202e``, ``\\xff``), so a name reads as one line of
plain text wherever it is printed or written: on the terminal, in error lines, in Markdown
and text documents, in reports.
"""

from __future__ import annotations

import re

_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
"""C0 and C1 controls and DEL, the bidirectional marks and overrides, and lone surrogates."""


def _escape(match: re.Match) -> str:
    char = match.group()
    code = ord(char)
    if char in _NAMED:
        return _NAMED[char]
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as os.fsdecode gives it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_name(text: object) -> str:
    """`text` (a name, a path, a message holding them) with every control character, bidirectional
    override and undecodable byte shown as a visible escape; anything else unchanged."""
    return _UNSAFE.sub(_escape, str(text))


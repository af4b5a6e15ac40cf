"""The status line: model, quantization, speed of the last answer, context used."""

from __future__ import annotations

from textual.reactive import reactive
from textual.widget import Widget


def status_text(model: str, quantization: str, tokens_per_second: float | None, used: int, size: int,
                brief: bool, state: str) -> str:
    """The status line's words."""
    parts = [f"{model} {quantization}".strip() or "no model"]
    parts.append(f"{tokens_per_second:.1f} tok/s" if tokens_per_second else "– tok/s")
    parts.append(f"context {used}/{size}" if size else "context –")
    if brief:
        parts.append("brief")
    if state:
        parts.append(state)
    return " · ".join(parts)


class StatusBar(Widget):
    """One line under the conversation."""

    model: reactive[str] = reactive("")
    quantization: reactive[str] = reactive("")
    tokens_per_second: reactive[float | None] = reactive(None)
    context_used: reactive[int] = reactive(0)
    context_size: reactive[int] = reactive(0)
    brief: reactive[bool] = reactive(False)
    state: reactive[str] = reactive("")

    def render(self) -> str:
        return status_text(self.model, self.quantization, self.tokens_per_second, self.context_used,
                           self.context_size, self.brief, self.state)

"""Facts read back from their JSON form (`Facts.to_dict`), for the gallery's cache and for reports.

Rebuilt field by field from the dataclasses' own type hints, so a measure added to
`critic.facts` is read back without a change here; a dict that lacks a field the
dataclasses now require raises `ValueError`, and the caller measures again.

Nothing read is trusted, since a results file can be edited by anyone: each value must have
its field's type (a number is a finite number, never a string; a tuple has its length), a
colour's ``hex`` is ``#rrggbb`` (it reaches a report's style attributes) and a histogram is
not empty; anything else raises `ValueError` naming the field.
"""

from __future__ import annotations

import dataclasses
import math
import re
import typing
from functools import lru_cache
from typing import Any

from critic.facts.measure import Facts

_HEX = re.compile(r"#[0-9a-fA-F]{6}")
_NOT_EMPTY = frozenset({"histogram"})


def _value(kind: Any, data: Any, name: str) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, data)
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if not isinstance(data, (list, tuple)):
            raise ValueError(f"{name}: expected a list, got {type(data).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            if not data and name in _NOT_EMPTY:
                raise ValueError(f"{name}: empty")
            return tuple(_value(args[0], item, name) for item in data)
        if len(data) != len(args):
            raise ValueError(f"{name}: expected {len(args)} items, got {len(data)}")
        return tuple(_value(arg, item, name) for arg, item in zip(args, data))
    if kind is float and isinstance(data, (int, float)) and not isinstance(data, bool):
        if not math.isfinite(data):
            raise ValueError(f"{name}: {data} is not a finite number")
        return float(data)
    if kind in (int, str, bool) and type(data) is kind:
        if name == "hex" and not _HEX.fullmatch(data):
            raise ValueError(f"hex: {data[:40]!r} is not a colour #rrggbb")
        return data
    if kind in (float, int, str, bool):
        raise ValueError(f"{name}: expected {'a number' if kind in (float, int) else kind.__name__}, "
                         f"got {type(data).__name__}")
    return data


@lru_cache(maxsize=None)
def _fields(cls: type) -> tuple[tuple[str, Any, bool], ...]:
    """(name, type, required) of each field; resolving the hints is most of the cost, so once per class."""
    hints = typing.get_type_hints(cls)
    return tuple((f.name, hints[f.name], f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING)
                 for f in dataclasses.fields(cls))


def _build(cls: type, data: dict) -> Any:
    if not isinstance(data, dict):
        raise ValueError(f"{cls.__name__}: expected an object, got {type(data).__name__}")
    kwargs = {}
    for name, kind, required in _fields(cls):
        if name in data:
            kwargs[name] = _value(kind, data[name], name)
        elif required:
            raise ValueError(f"{cls.__name__}: no {name!r}")
    return cls(**kwargs)


def facts_from_dict(data: dict) -> Facts:
    """The `Facts` whose `to_dict()` gave `data`; ValueError when `data` is not such a dict."""
    try:
        return _build(Facts, data)
    except (TypeError, KeyError, IndexError) as err:
        raise ValueError(f"not a facts record: {err}") from None

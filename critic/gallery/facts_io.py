"""Facts read back from their JSON form (`Facts.to_dict`), for the gallery's cache and for reports.

Rebuilt field by field from the dataclasses' own type hints, so a measure added to
`critic.facts` is read back without a change here; a dict that lacks a field the
dataclasses now require raises `ValueError`, and the caller measures again.
"""

from __future__ import annotations

import dataclasses
import typing
from functools import lru_cache
from typing import Any

from critic.facts.measure import Facts


def _value(kind: Any, data: Any) -> Any:
    if dataclasses.is_dataclass(kind):
        return _build(kind, data)
    if typing.get_origin(kind) is tuple:
        args = typing.get_args(kind)
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_value(args[0], item) for item in data)
        return tuple(_value(arg, item) for arg, item in zip(args, data))
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
            kwargs[name] = _value(kind, data[name])
        elif required:
            raise ValueError(f"{cls.__name__}: no {name!r}")
    return cls(**kwargs)


def facts_from_dict(data: dict) -> Facts:
    """The `Facts` whose `to_dict()` gave `data`; ValueError when `data` is not such a dict."""
    try:
        return _build(Facts, data)
    except (TypeError, KeyError, IndexError) as err:
        raise ValueError(f"not a facts record: {err}") from None

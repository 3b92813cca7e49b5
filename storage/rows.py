"""Rows to dataclasses, so nothing above storage/ sees sqlite3.Row."""

from __future__ import annotations

from dataclasses import fields
from typing import Any, TypeVar

T = TypeVar("T")

_PLANS: dict[tuple, list[tuple[str, int]]] = {}


def from_row(cls: type[T], row: Any, prefix: str = "") -> T:
    """Build `cls` from the row's columns named like its fields (after `prefix`).

    Which column feeds which field is worked out once per query shape, not per row.
    """
    key = (cls, prefix, tuple(row.keys()))
    plan = _PLANS.get(key)
    if plan is None:
        index = {name: i for i, name in enumerate(key[2])}
        plan = [(f.name, index[prefix + f.name]) for f in fields(cls)  # type: ignore[arg-type]  # T is a dataclass
                if prefix + f.name in index]
        _PLANS[key] = plan
    return cls(**{name: row[i] for name, i in plan})

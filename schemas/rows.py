"""Exported rows read back as schema objects, with one-line errors naming the source, row and field."""

from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from itertools import islice
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

M = TypeVar("M", bound=BaseModel)


class RowError(ValueError):
    """An exported row that does not match its schema; the message is one line."""


@functools.cache
def _adapter(model: type[BaseModel]) -> TypeAdapter[Any]:
    return TypeAdapter(list[model])  # type: ignore[valid-type]


def required_columns(model: type[BaseModel]) -> list[str]:
    """The fields a row of ``model`` must have (the columns an export of it always holds)."""
    return [name for name, f in model.model_fields.items() if f.is_required()]


def columns(model: type[BaseModel], *names: str, every: bool = False) -> tuple[str, ...]:
    """Column names of ``model``'s rows: ``names`` in the order given, each checked to be a field of ``model``
    (no names: every field, in declaration order). ``every``: the names must cover all its fields (a file order).
    """
    fields = model.model_fields
    if not names:
        return tuple(fields)
    unknown = [n for n in names if n not in fields]
    if unknown or len(set(names)) != len(names):
        raise ValueError(f"{model.__name__} has no field(s) {unknown} or repeats one: {names}")
    if every and set(names) != set(fields):
        raise ValueError(f"{model.__name__} columns lack {sorted(set(fields) - set(names))}")
    return names


def _shown(value: Any) -> str:
    if isinstance(value, (str, int, float, bool)) or value is None:
        text = repr(value)
        return f" (got {text[:60]}{'...' if len(text) > 60 else ''})"
    return ""


def validate_rows(model: type[M], rows: Iterable[Mapping[str, Any]], source: str, limit: int | None = None) -> list[M]:
    """Validate (the first ``limit``) ``rows`` as ``model``; a bad row raises :class:`RowError`.

    The message reads ``SOURCE row I: field 'a.0.b': what is wrong (got VALUE)``. Columns the model
    does not have are ignored (a reader takes an export with extra columns, e.g. a pandas index).
    """
    fields = model.model_fields
    batch = [
        {k: v for k, v in row.items() if k in fields} if isinstance(row, Mapping) else row
        for row in islice(rows, limit)
    ]
    try:
        return _adapter(model).validate_python(batch)
    except ValidationError as exc:
        err = exc.errors()[0]
        row, *loc = err["loc"]
        field = ".".join(map(str, loc)) or "row"
        got = "" if err["type"] == "missing" else _shown(err.get("input"))
        raise RowError(f"{source} row {row}: field '{field}': {err['msg']}{got}") from None

"""Numbers as printed in tables and reports: one formatter for a value, a value with its interval, a p-value,
and the header and cells of a results row (a ``results.csv`` line: each column, then ``COLUMN lo`` /
``COLUMN hi`` for every column with an interval).

Standard library only; no stage imports (part of the shared kernel).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

MISSING = "-"
LO, HI = " lo", " hi"  # a column's interval bounds are the columns "COLUMN lo" and "COLUMN hi"


def fmt(value: float | None, digits: int = 1, missing: str = MISSING, *, signed: bool = False) -> str:
    """``value`` with ``digits`` decimals (``+`` before a positive one when ``signed``); ``missing`` for none."""
    if value is None:
        return missing
    return f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"


def _bounds(interval: Any) -> tuple[float, float]:
    return (interval["lo"], interval["hi"]) if isinstance(interval, Mapping) else (interval.lo, interval.hi)


def fmt_cell(value: float | None, interval: Any = None, digits: int = 1) -> str:
    """``71.1 ± 1.9``: the value and half the width of its interval (an object with ``lo``/``hi`` or a mapping
    with those keys); just the value without one, ``-`` for none."""
    if value is None or interval is None:
        return fmt(value, digits)
    lo, hi = _bounds(interval)
    return f"{value:.{digits}f} ± {(hi - lo) / 2:.{digits}f}"


def fmt_p(p: float) -> str:
    """A p-value for a table: three decimals, ``<0.001`` below that."""
    return f"{p:.3f}" if p >= 0.001 else "<0.001"


def bound_columns(
    header: list[str], intervals: Mapping[str, Mapping[str, float]] | None, digits: int = 1
) -> tuple[list[str], list[str]]:
    """A results row's extra columns: ``COLUMN lo``, ``COLUMN hi`` for every column of ``header`` with an
    interval in ``intervals``."""
    extra_h: list[str] = []
    extra_c: list[str] = []
    for col in header:
        if intervals and col in intervals:
            extra_h += [col + LO, col + HI]
            extra_c += [fmt(intervals[col]["lo"], digits), fmt(intervals[col]["hi"], digits)]
    return extra_h, extra_c


def table_row(
    cells: Iterable[tuple[str, float | None] | tuple[str, float | None, int]],
    intervals: Mapping[str, Mapping[str, float]] | None = None,
    digits: int = 1,
) -> tuple[list[str], list[str]]:
    """A results row: the header and the formatted cells of ``(column, value)`` pairs (or ``(column, value,
    digits)`` for a column with its own precision), then the ``lo``/``hi`` bounds of each column with an
    interval, in column order."""
    header: list[str] = []
    out: list[str] = []
    places: dict[str, int] = {}
    for column, value, *own in cells:
        places[column] = own[0] if own else digits
        header.append(column)
        out.append(fmt(value, places[column]))
    bounds_h: list[str] = []
    bounds_c: list[str] = []
    for col in header:
        if intervals and col in intervals:
            h, c = bound_columns([col], intervals, places[col])
            bounds_h += h
            bounds_c += c
    return header + bounds_h, out + bounds_c

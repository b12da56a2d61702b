"""Before a ``--loss margin`` run: does every pair have its margin?

A pair whose margin column is null or NaN (e.g. ``margin_judge`` where the judge scored only one of the
two replies), or data without the column at all, would otherwise stop the run at the first batch that
holds one. :func:`check_margin_coverage` finds them all up front: ``error`` (the default) names how
many, the first ids and the command that fills them; ``drop`` trains without them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from datasets import Dataset

from training.rm.data import DataError

MISSING_MARGIN: tuple[str, ...] = ("error", "drop")
SHOWN_IDS = 5


def missing_margin_rows(rows: Dataset, column: str) -> list[int]:
    """Positions of the rows whose ``column`` is null or NaN (every row when the column is absent)."""
    if column not in rows.column_names:
        return list(range(len(rows)))
    return [i for i, v in enumerate(rows[column]) if v is None or (isinstance(v, float) and math.isnan(v))]


def fill_hint(column: str, data: Path | str) -> str:
    """How to fill ``column`` for the pairs of ``data``."""
    if column == "margin_judge":
        p = Path(data)
        judged = p.with_name(f"{p.stem}-judged{p.suffix}") if p.suffix else p.with_name(f"{p.name}-judged")
        return (
            f"fill them with `charm-build judge --file {p} --out {judged} --judge MODEL` and train on {judged} "
            "(or `charm-build judge --judge MODEL`, then `charm-build export` again)"
        )
    if column == "label_confidence":
        return (
            "label_confidence comes from the annotator-reliability model: `charm-build export --aggregate dawid-skene`"
        )
    if column in ("margin_agreement", "margin_bws"):
        return f"{column} comes from submitted annotations: annotate those pairs and `charm-build export` again"
    return f"fill column {column!r}"


def check_margin_coverage(
    rows: Dataset, column: str, source: str, policy: str, data: Path | str
) -> tuple[Dataset, int]:
    """``rows`` with every pair's margin present, and how many were dropped. With ``policy="error"`` a
    missing margin raises DataError (one line: count, first ids, the fill command); ``"drop"`` removes
    those pairs (DataError if none is left)."""
    if policy not in MISSING_MARGIN:
        raise DataError(f"--missing-margin {policy!r}: choose one of {', '.join(MISSING_MARGIN)}")
    missing = missing_margin_rows(rows, column)
    if not missing:
        return rows, 0
    if policy == "error":
        absent = "" if column in rows.column_names else f" (no such column; found: {', '.join(rows.column_names)})"
        ids = ", ".join(_row_id(rows, i) for i in missing[:SHOWN_IDS]) + (", ..." if len(missing) > SHOWN_IDS else "")
        raise DataError(
            f"{source}: {len(missing)} of {len(rows)} pairs have no {column}{absent} (first: {ids}); "
            f"{fill_hint(column, data)}, or pass --missing-margin drop to train without them"
        )
    if len(missing) == len(rows):
        raise DataError(f"{source}: none of the {len(rows)} pairs has a {column}; nothing left to train on")
    drop = set(missing)
    return rows.select([i for i in range(len(rows)) if i not in drop]), len(missing)


def _row_id(rows: Dataset, i: int) -> str:
    value: Any = rows[i].get("id") if "id" in rows.column_names else None
    return str(value) if value not in (None, "") else f"row {i}"

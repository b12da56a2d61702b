"""Files every evaluation run writes (eval-rm, eval-dq, eval-ce), so `charm-train compare` can read any,
and the cell formatters their tables share (``charm_kernel.formatting``: a value, or ``value ± half-width``).

A run with intervals also writes ``items.jsonl`` (each scored item's stratum, id and value: what the
cells average) and a ``bootstrap`` block in ``summary.json`` (resamples, seed, level and each column's
stratum weights), so `charm-train compare` can resample two runs' shared items together."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from charm_kernel.formatting import HI, LO, bound_columns, fmt, fmt_cell, fmt_p  # noqa: F401 (the tables' names)
from training.common.stats import LEVEL, Interval, Item, Weights

ITEMS = "items.jsonl"


def interval_note(bootstrap: dict[str, Any] | None) -> str:
    """The sentence under a table saying what ± means (empty without intervals)."""
    if not bootstrap:
        return ""
    return (
        f"± is half the width of the {100 * bootstrap['level']:g} % percentile bootstrap interval "
        f"({bootstrap['resamples']} resamples of the items, {bootstrap['resampling']}; seed {bootstrap['seed']}); "
        f"the bounds are in summary.json (lo, hi) and results.csv."
    )


def bootstrap_block(resamples: int, seed: int, resampling: str, items: list[Item], weights: Weights) -> dict[str, Any]:
    """``summary.json``'s ``bootstrap``: how the intervals were drawn and each column's stratum weights."""
    sizes: dict[str, int] = {}
    for it in items:
        sizes[it.stratum] = sizes.get(it.stratum, 0) + 1
    return {
        "resamples": resamples,
        "seed": seed,
        "level": LEVEL,
        "interval": "percentile",
        "resampling": resampling,
        "strata": sizes,
        "cells": weights,
    }


def intervals_json(intervals: dict[str, Interval]) -> dict[str, dict[str, float]]:
    """``{column: {value, lo, hi}}`` for summary.json."""
    return {c: {"value": i.value, "lo": i.lo, "hi": i.hi} for c, i in intervals.items()}


def write_items(folder: Path, items: list[Item]) -> None:
    """``items.jsonl``: one scored item per line (what `compare` resamples)."""
    write_jsonl(folder / ITEMS, ({"stratum": i.stratum, "id": i.id, "value": i.value} for i in items))


def write_table_files(
    folder: Path, markdown: str, header: list[str], cells: list[Any], method: str, summary: dict[str, Any]
) -> None:
    """``results.md``, ``results.csv`` (one row per method) and ``summary.json`` into ``folder``."""
    (folder / "results.md").write_text(markdown, encoding="utf-8")
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Method", *header])
        writer.writerow([method, *cells])
    (folder / "summary.json").write_text(
        json.dumps({"method": method, **summary}, indent=2, ensure_ascii=False), encoding="utf-8"
    )


def write_atomically(out_dir: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path:
    """Let ``fill`` write a run's files into a temporary folder next to ``out_dir``, then move them in.

    A run that fails while writing leaves ``out_dir`` as it was (no half-written report); files of an
    earlier run that this one does not write (e.g. ``llm_cache.db``) are kept.
    """
    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        if target.exists():
            for f in sorted(tmp.iterdir()):
                os.replace(f, target / f.name)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_jsonl(path: Path, records: Any) -> None:
    """One JSON object per line (UTF-8, non-ASCII kept)."""
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")

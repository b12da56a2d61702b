"""Compare two evaluation runs (``eval-rm``, ``eval-rm --benchmark``, ``eval-dq``, ``eval-ce`` output
folders) column by column: each run's value with its interval, the change B - A, and, where both runs
wrote ``items.jsonl``, a paired bootstrap of the change over the items both scored (its 95 % interval
and two-sided p-value)."""

from __future__ import annotations

import csv
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charm_kernel.errors import CharmError
from training.common.reporting import HI, ITEMS, LO, fmt_cell, fmt_p
from training.common.stats import BOOTSTRAP, Delta, Item, Weights, paired_deltas

RESULTS = "results.csv"
SUMMARY = "summary.json"


class CompareError(CharmError):
    """A run folder or results file cannot be compared."""


@dataclass
class RunTable:
    method: str
    values: dict[str, float | None]
    source: Path
    bounds: dict[str, tuple[float, float]] = field(default_factory=dict)  # column -> (lo, hi)
    items: list[Item] | None = None  # items.jsonl, when the run wrote one
    weights: Weights = field(default_factory=dict)  # column -> stratum weights (summary.json's bootstrap)


@dataclass
class CompareRow:
    column: str
    a: float | None
    b: float | None
    a_bounds: tuple[float, float] | None = None
    b_bounds: tuple[float, float] | None = None
    paired: Delta | None = None  # paired bootstrap of B - A over the shared items

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def _bootstrap_blocks(summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Every ``bootstrap`` block of a summary.json (one; or one per benchmark of eval-rm --benchmark)."""
    blocks = [summary["bootstrap"]] if isinstance(summary.get("bootstrap"), dict) else []
    for bench in (summary.get("benchmarks") or {}).values():
        if isinstance(bench, dict) and isinstance(bench.get("bootstrap"), dict):
            blocks.append(bench["bootstrap"])
    return blocks


def _read_items(path: Path) -> list[Item]:
    items = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                rec = json.loads(line)
                items.append(Item(str(rec["stratum"]), str(rec["id"]), float(rec["value"])))
            except (ValueError, KeyError, TypeError):
                raise CompareError(
                    f"{path} line {n}: expected {{stratum, id, value}} (rerun the evaluation to rewrite it)"
                ) from None
    return items


def read_results(run: str | os.PathLike[str]) -> RunTable:
    """The one-row ``results.csv`` of a run folder (or the CSV file itself), its ``COLUMN lo``/``hi`` bounds,
    and, from the same folder, ``summary.json``'s column weights and ``items.jsonl`` when present."""
    p = Path(run)
    path = p / RESULTS if p.is_dir() else p
    if not path.exists():
        raise CompareError(f"{path}: not found; pass an eval-rm/eval-dq/eval-ce --out folder")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2 or not rows[0] or rows[0][0] != "Method":
        raise CompareError(f"{path}: not an evaluation table (expected a 'Method' header and one row)")
    raw = {h: _number(c) for h, c in zip(rows[0][1:], rows[1][1:], strict=False)}
    bound_cols = {c for c in raw if c.endswith((LO, HI)) and c[: -len(LO)] in raw}
    values = {c: v for c, v in raw.items() if c not in bound_cols}
    bounds = {
        c: (lo, hi) for c in values if (lo := raw.get(c + LO)) is not None and (hi := raw.get(c + HI)) is not None
    }
    table = RunTable(rows[1][0], values, path, bounds)
    folder = path.parent
    if (folder / SUMMARY).is_file() and (folder / ITEMS).is_file():
        try:
            summary = json.loads((folder / SUMMARY).read_text(encoding="utf-8"))
        except ValueError as exc:
            raise CompareError(f"{folder / SUMMARY}: not JSON ({exc})") from None
        for block in _bootstrap_blocks(summary if isinstance(summary, dict) else {}):
            table.weights |= {c: {s: float(w) for s, w in ws.items()} for c, ws in (block.get("cells") or {}).items()}
        if table.weights:
            table.items = _read_items(folder / ITEMS)
    return table


def compare(a: RunTable, b: RunTable, resamples: int = BOOTSTRAP, seed: int = 0) -> list[CompareRow]:
    """Rows for every column of A (in A's order), then columns only B has. With ``resamples`` > 0 and both
    runs' items, a column both define with the same weights gets a paired bootstrap of B - A."""
    columns = list(a.values) + [c for c in b.values if c not in a.values]
    if not set(a.values) & set(b.values):
        raise CompareError(f"{a.source} and {b.source} share no columns (an eval-rm and an eval-dq table?)")
    paired: dict[str, Delta] = {}
    if resamples > 0 and a.items and b.items:
        same = {c: w for c, w in a.weights.items() if b.weights.get(c) == w}
        paired = paired_deltas(a.items, b.items, same, resamples, seed)
    return [
        CompareRow(c, a.values.get(c), b.values.get(c), a.bounds.get(c), b.bounds.get(c), paired.get(c))
        for c in columns
    ]


def _with_bounds(value: float | None, bounds: tuple[float, float] | None) -> str:
    return fmt_cell(value, None if bounds is None else {"lo": bounds[0], "hi": bounds[1]}, 2)


def print_comparison(a: RunTable, b: RunTable, rows: list[CompareRow], console: object | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = console if isinstance(console, Console) else Console()
    t = Table(title=f"{a.method} (A) vs {b.method} (B)")
    t.add_column("Column")
    t.add_column(f"A: {a.method}", justify="right")
    t.add_column(f"B: {b.method}", justify="right")
    t.add_column("Δ (B−A)", justify="right")
    t.add_column("95 % CI of Δ (paired)", justify="right")
    t.add_column("p", justify="right")
    for r in rows:
        d = r.delta
        delta = "-" if d is None else (f"[green]{d:+.2f}[/]" if d > 0 else f"[red]{d:+.2f}[/]" if d < 0 else "+0.00")
        ci = "-" if r.paired is None else f"[{r.paired.lo:+.2f}, {r.paired.hi:+.2f}]"
        t.add_row(
            r.column,
            _with_bounds(r.a, r.a_bounds),
            _with_bounds(r.b, r.b_bounds),
            delta,
            ci,
            "-" if r.paired is None else fmt_p(r.paired.p),
        )
    con.print(t)
    if any(r.a_bounds or r.b_bounds for r in rows):
        con.print("A, B: value ± half the width of each run's 95 % percentile bootstrap interval.", highlight=False)
    shared = [r.paired.n for r in rows if r.paired is not None]
    if shared:
        con.print(
            f"Δ interval and p: paired bootstrap over the items both runs scored (up to {max(shared)} per column), "
            "two-sided; p is 1.0 when the runs agree on every item, and at least 2 / (resamples + 1).",
            highlight=False,
        )
    elif a.items is None or b.items is None:
        con.print(f"No paired p-values: {ITEMS} is missing in a run (rerun it with --bootstrap > 0).", highlight=False)

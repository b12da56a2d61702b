"""Compare two evaluation runs (``eval-rm`` or ``eval-dq`` output folders) column by column."""

from __future__ import annotations

import csv
import os
from dataclasses import dataclass
from pathlib import Path

from charm_builder.errors import CharmError

RESULTS = "results.csv"


class CompareError(CharmError):
    """A run folder or results file cannot be compared."""


@dataclass
class RunTable:
    method: str
    values: dict[str, float | None]
    source: Path


@dataclass
class CompareRow:
    column: str
    a: float | None
    b: float | None

    @property
    def delta(self) -> float | None:
        return None if self.a is None or self.b is None else self.b - self.a


def _number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


def read_results(run: str | os.PathLike[str]) -> RunTable:
    """The one-row ``results.csv`` of a run folder (or the CSV file itself)."""
    p = Path(run)
    path = p / RESULTS if p.is_dir() else p
    if not path.exists():
        raise CompareError(f"{path}: not found; pass an eval-rm/eval-dq --out folder")
    with path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    if len(rows) < 2 or not rows[0] or rows[0][0] != "Method":
        raise CompareError(f"{path}: not an evaluation table (expected a 'Method' header and one row)")
    header, cells = rows[0], rows[1]
    return RunTable(cells[0], {h: _number(c) for h, c in zip(header[1:], cells[1:], strict=False)}, path)


def compare(a: RunTable, b: RunTable) -> list[CompareRow]:
    """Rows for every column of A (in A's order), then columns only B has."""
    columns = list(a.values) + [c for c in b.values if c not in a.values]
    if not set(a.values) & set(b.values):
        raise CompareError(f"{a.source} and {b.source} share no columns (an eval-rm and an eval-dq table?)")
    return [CompareRow(c, a.values.get(c), b.values.get(c)) for c in columns]


def print_comparison(a: RunTable, b: RunTable, rows: list[CompareRow], console: object | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    con = console if isinstance(console, Console) else Console()
    t = Table(title=f"{a.method} (A) vs {b.method} (B)")
    t.add_column("Column")
    t.add_column(f"A: {a.method}", justify="right")
    t.add_column(f"B: {b.method}", justify="right")
    t.add_column("Δ (B−A)", justify="right")

    def fmt(v: float | None) -> str:
        return "-" if v is None else f"{v:.2f}"

    for r in rows:
        d = r.delta
        delta = "-" if d is None else (f"[green]{d:+.2f}[/]" if d > 0 else f"[red]{d:+.2f}[/]" if d < 0 else "+0.00")
        t.add_row(r.column, fmt(r.a), fmt(r.b), delta)
    con.print(t)

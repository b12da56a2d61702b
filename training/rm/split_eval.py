"""Per-split roleReward accuracy in one table, for shift exports (``test_id`` vs ``test_ood``).

``charm-train eval-rm RM --data EXPORT/roleReward`` evaluates every split of the export when it
holds more than one (a ``charm-build export --shift ...`` writes ``test_id`` and ``test_ood``) and
prints one row per split plus the OOD - ID drop, so the generalisation gap is a single table.
"""

from __future__ import annotations

import csv
import json
import os
from pathlib import Path
from typing import Any

from charm_kernel.formatting import fmt
from schemas import LANGUAGES
from training.rm.evaluate import DIMENSIONS

SPLIT_ORDER = ("test", "test_id", "test_ood")


def list_splits(path: str | os.PathLike[str]) -> list[str]:
    """Split names of an export folder (save_to_disk DatasetDict, or ``{split}.parquet/jsonl`` files).

    A plain file or a plain saved dataset has no named splits: ``[]``.
    """
    p = Path(path)
    if p.is_file() or not p.is_dir():
        return []
    names: list[str] = []
    if (p / "dataset_dict.json").exists():
        names = list(json.loads((p / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", []))
    else:
        names = sorted({f.name.split(".")[0].split("-")[0] for f in [*p.glob("*.parquet"), *p.glob("*.jsonl")]})
    return sorted(names, key=lambda s: (SPLIT_ORDER.index(s) if s in SPLIT_ORDER else len(SPLIT_ORDER), s))


def split_rows(summaries: dict[str, dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    """Header and rows: one row per split (accuracy %), then ``test_ood - test_id`` when both exist."""
    header = ["Split", "n"] + [f"{title} {lang}" for title in DIMENSIONS.values() for lang in (*LANGUAGES, "avg.")]
    header.append("Avg.")

    def cells(s: dict[str, Any]) -> list[float | None]:
        return [s[d][k] for d in DIMENSIONS for k in (*LANGUAGES, "avg")] + [s["avg"]]

    rows = [[name, str(s["n"]), *(fmt(v) for v in cells(s))] for name, s in summaries.items()]
    if "test_id" in summaries and "test_ood" in summaries:
        drop = [
            None if a is None or b is None else b - a
            for a, b in zip(cells(summaries["test_id"]), cells(summaries["test_ood"]), strict=True)
        ]
        rows.append(["test_ood - test_id", "", *("-" if v is None else f"{v:+.1f}" for v in drop)])
    return header, rows


def splits_markdown(summaries: dict[str, dict[str, Any]], method: str) -> str:
    header, rows = split_rows(summaries)
    lines = [
        f"Pairwise accuracy (%) of {method} per split.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines) + "\n"


def print_splits(summaries: dict[str, dict[str, Any]], method: str, console: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    header, rows = split_rows(summaries)
    table = Table(title=f"{method}: accuracy (%) per split")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    (console or Console()).print(table)


def write_splits_report(out_dir: str | os.PathLike[str], summaries: dict[str, dict[str, Any]], method: str) -> Path:
    """``splits.md``, ``splits.csv`` and ``splits.json`` in ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "splits.md").write_text(splits_markdown(summaries, method), encoding="utf-8")
    header, rows = split_rows(summaries)
    with (out / "splits.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["Method", *header])
        w.writerows([method, *r] for r in rows)
    (out / "splits.json").write_text(json.dumps({"method": method, "splits": summaries}, indent=2), encoding="utf-8")
    return out

"""CharacterEval results in the paper's Table 4 layout (Attr. / Conv. / Know. / Avg., zh) and the run's files."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from charm_kernel.formatting import table_row
from training.common.reporting import fmt_cell, interval_note
from training.evaluation.character_eval import AVG, GROUPS, METRICS, CERun, ce_items
from training.evaluation.tables import finish_markdown, write_judged_run

COLUMNS = (*GROUPS.values(), AVG)


def table_rows(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """CSV header: ``Attr. zh`` ... ``Avg. zh``, then every metric (``Fluency zh`` ...), then ``COLUMN lo``/
    ``hi`` bounds; the method's cells."""
    cells = [(f"{c} zh", summary["columns"][c]) for c in COLUMNS]
    cells += [(f"{m} zh", summary["metrics"][m]["mean"]) for m in METRICS]
    return table_row(cells, summary.get("intervals"), 2)


def _cell(summary: dict[str, Any], column: str) -> str:
    return fmt_cell(summary["columns"][column], (summary.get("intervals") or {}).get(f"{column} zh"), 2)


def to_markdown(summary: dict[str, Any], method: str) -> str:
    lines = [
        "| Model | " + " | ".join(f"{c} zh" for c in COLUMNS) + " |",
        "|---|" + "---:|" * len(COLUMNS),
        f"| {method} | " + " | ".join(_cell(summary, c) for c in COLUMNS) + " |",
        "",
        "| Metric | Column | Mean (1-5) | Judged | Failed |",
        "|---|---|---:|---:|---:|",
    ]
    for name, m in METRICS.items():
        cell = summary["metrics"][name]
        mean = fmt_cell(cell["mean"], cell if "lo" in cell else None, 2)
        lines.append(f"| {name} {m.zh} | {GROUPS[m.group]} | {mean} | {cell['n']} | {cell['failed']} |")
    metrics = "as listed in id2metric.jsonl (sparse, as published)" if summary["sparse_metrics"] else "all twelve"
    lines += [
        "",
        f"Examples: {summary['examples']}; metrics per example: {metrics}. Failed replies: "
        f"{summary['failed_replies']}; failed judgements: {summary['failed_judgements']} of "
        f"{summary['judgements']}.",
        "",
        f"Note: {summary['note']}",
    ]
    return finish_markdown(lines, summary)


def print_table(summary: dict[str, Any], method: str, console: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title="CharacterEval (1-5, zh)")
    t.add_column("Model")
    for c in COLUMNS:
        t.add_column(c, justify="right")
    t.add_row(method, *[_cell(summary, c) for c in COLUMNS])
    console.print(t)
    console.print(f"Note: {summary['note']}", highlight=False)
    console.print(
        f"Failed replies: {summary['failed_replies']}; failed judgements: {summary['failed_judgements']} "
        f"of {summary['judgements']}.",
        highlight=False,
    )
    if note := interval_note(summary.get("bootstrap")):
        console.print(note, highlight=False)


def write_report(out_dir: str | os.PathLike[str], summary: dict[str, Any], run: CERun, method: str) -> Path:
    """``results.md``, ``results.csv``, ``summary.json``, ``judgements.jsonl``, ``replies.jsonl`` and, with
    intervals, ``items.jsonl`` (atomic)."""
    header, cells = table_rows(summary)
    items = ce_items(run) if summary.get("intervals") else None
    return write_judged_run(out_dir, to_markdown(summary, method), header, cells, method, summary, run, items)

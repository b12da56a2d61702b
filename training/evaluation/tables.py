"""Charm-DialogueQuality results in the paper's Table 4 layout, and the files of an eval-dq run.

Table 4 columns: Knowledge, Fluency, Behavior, Diversity, Empathy, Consistency, Avg., each ``zh/en``.
A cell is the mean item score (items scored by several judges count with their judge mean). ``Avg.``
of a language is the mean of its dimension means (each dimension weighs the same). Items no judge
could score are excluded from the means and counted as ``failed`` in the summary and the printout.
Every cell gets a 95 % percentile bootstrap interval (scored items resampled within each dimension x
language cell; ``Avg.`` from the same resamples).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

from charm_kernel.formatting import table_row
from schemas import LANGUAGES
from training.common.reporting import (
    bootstrap_block,
    fmt,
    fmt_cell,
    interval_note,
    intervals_json,
    write_atomically,
    write_items,
    write_jsonl,
    write_table_files,
)
from training.common.stats import BOOTSTRAP, Item, Weights, cell_intervals, mean_weights
from training.evaluation.dialogue_quality import DQRun
from training.evaluation.judges import agreement, item_scores

TABLE4_DIMENSIONS: dict[str, str] = {
    "knowledge": "Knowledge",
    "fluency": "Fluency",
    "behavior": "Behavior",
    "diversity": "Diversity",
    "empathy": "Empathy",
    "consistency": "Consistency",
}
AVG = "Avg."


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(run: DQRun, resamples: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Per dimension x language: mean score, n scored, n failed; per-language Avg.; failure counts. With
    ``resamples`` > 0: ``lo``/``hi`` of each cell's bootstrap interval, ``intervals`` per CSV column and
    ``bootstrap`` (how they were drawn)."""
    scores = item_scores(run.judgements)
    failed_replies = {r.item_id for r in run.replies if r.text is None}
    cells: dict[str, dict[str, Any]] = {}
    for dim in TABLE4_DIMENSIONS:
        cells[dim] = {}
        for lang in LANGUAGES:
            sel = [it for it in run.items if it.dimension == dim and it.language == lang]
            vals = [scores[it.id] for it in sel if it.id in scores]
            cells[dim][lang] = {"mean": _mean(vals), "n": len(vals), "failed": len(sel) - len(vals)}
    cells[AVG] = {}
    for lang in LANGUAGES:
        dim_means = [cells[d][lang]["mean"] for d in TABLE4_DIMENSIONS if cells[d][lang]["mean"] is not None]
        cells[AVG][lang] = {
            "mean": _mean(dim_means),
            "n": sum(cells[d][lang]["n"] for d in TABLE4_DIMENSIONS),
            "failed": sum(cells[d][lang]["failed"] for d in TABLE4_DIMENSIONS),
        }
    judge_failures = [j for j in run.judgements if j.score is None]
    summary: dict[str, Any] = {
        "model": run.model,
        "judges": run.judges,
        "cells": cells,
        "items": len(run.items),
        "scored_items": len(scores),
        "failed_replies": len(failed_replies),
        "failed_judgements": len(judge_failures),
        "judgements": len(run.judgements),
        "judge_cost": sum(j.cost for j in run.judgements),
    }
    how = "within each dimension x language cell"
    found = add_judge_statistics(summary, run, bool(scores), dq_items, column_weights(cells), resamples, seed, how)
    for key, title in [*TABLE4_DIMENSIONS.items(), (AVG, AVG)]:
        for lang in LANGUAGES:
            if (iv := found.get(f"{title} {lang}")) is not None:
                cells[key][lang] |= {"lo": iv.lo, "hi": iv.hi}
    return summary


def add_judge_statistics(
    summary: dict[str, Any],
    run: Any,
    scored: bool,
    items_of: Callable[[Any], list[Item]],
    weights: Weights,
    resamples: int,
    seed: int,
    how: str,
) -> dict[str, Any]:
    """Add to a judged run's ``summary`` the judges' agreement (several judges) and, with ``resamples`` > 0 and
    ``scored`` items, the bootstrap ``intervals`` and ``bootstrap`` block (``how`` says how it resampled).
    Returns the intervals by column (empty when none were drawn)."""
    if len(run.judges) > 1:
        summary["agreement"] = agreement(run.judgements)
    if not (resamples > 0 and scored):
        return {}
    items = items_of(run)
    found = cell_intervals(items, weights, resamples, seed)
    summary["intervals"] = intervals_json(found)
    summary["bootstrap"] = bootstrap_block(resamples, seed, how, items, weights)
    return found


def dq_items(run: DQRun) -> list[Item]:
    """Each scored item as a bootstrap item: its dimension x language cell, id and (judge-mean) score."""
    scores = item_scores(run.judgements)
    return [Item(f"{it.dimension}/{it.language}", it.id, scores[it.id]) for it in run.items if it.id in scores]


def column_weights(cells: dict[str, dict[str, Any]]) -> Weights:
    """Each column (``Knowledge zh`` ... ``Avg. en``) as weights of its cells, as :func:`summarize` averages."""
    weights: Weights = {}
    for lang in LANGUAGES:
        dims = [{f"{d}/{lang}": 1.0} for d in TABLE4_DIMENSIONS if cells[d][lang]["n"]]
        for d, title in TABLE4_DIMENSIONS.items():
            if cells[d][lang]["n"]:
                weights[f"{title} {lang}"] = {f"{d}/{lang}": 1.0}
        if dims:
            weights[f"{AVG} {lang}"] = mean_weights(*dims)
    return weights


def table_rows(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """CSV header (``Knowledge zh``, ``Knowledge en``, ..., ``Avg. en``, then ``COLUMN lo``/``hi``) and cells."""
    cells = [
        (f"{title} {lang}", summary["cells"][key][lang]["mean"])
        for key, title in [*TABLE4_DIMENSIONS.items(), (AVG, AVG)]
        for lang in LANGUAGES
    ]
    return table_row(cells, summary.get("intervals"), 2)


def _zh_en(summary: dict[str, Any], key: str) -> str:
    """A Table 4 cell: ``zh / en``, each ``mean ± half-width``."""
    return " / ".join(
        fmt_cell(c["mean"], c if "lo" in c else None, 2) for c in (summary["cells"][key][lang] for lang in LANGUAGES)
    )


def to_markdown(summary: dict[str, Any], method: str) -> str:
    """Table 4 (DialogueQuality half): one row, ``zh/en`` cells; then failures and agreement."""
    titles = [*TABLE4_DIMENSIONS.values(), AVG]
    keys = [*TABLE4_DIMENSIONS, AVG]
    lines = ["| Model | " + " | ".join(f"{t} zh/en" for t in titles) + " |", "|---|" + "---:|" * len(titles)]
    lines.append(f"| {method} | " + " | ".join(_zh_en(summary, k) for k in keys) + " |")
    lines += [
        "",
        f"Judges: {', '.join(summary['judges'])}. Items: {summary['items']}, scored: "
        f"{summary['scored_items']}, failed replies: {summary['failed_replies']}, failed judgements: "
        f"{summary['failed_judgements']} of {summary['judgements']}.",
    ]
    return finish_markdown(lines, summary)


def finish_markdown(lines: list[str], summary: dict[str, Any]) -> str:
    """A judged run's Markdown: ``lines``, then the judge-agreement and bootstrap notes where ``summary`` has them."""
    if "agreement" in summary:
        lines.append(agreement_line(summary["agreement"]))
    if note := interval_note(summary.get("bootstrap")):
        lines.append(note)
    return "\n".join(lines) + "\n"


def agreement_line(ag: dict[str, Any]) -> str:
    """One sentence on how far several judges agree (see :func:`training.evaluation.judges.agreement`)."""
    return (
        f"Judge agreement: mean |diff| {fmt(ag['mean_abs_diff'], 2)}, Spearman {fmt(ag['spearman'], 2)}, "
        f"Krippendorff's alpha (interval) {fmt(ag['krippendorff_alpha_interval'], 2)}."
    )


def print_table(summary: dict[str, Any], method: str, console: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title="Charm-DialogueQuality (1-5)")
    t.add_column("Model")
    for title in [*TABLE4_DIMENSIONS.values(), AVG]:
        t.add_column(f"{title}\nzh/en", justify="right")
    t.add_row(method, *[_zh_en(summary, k) for k in [*TABLE4_DIMENSIONS, AVG]])
    console.print(t)
    console.print(to_markdown(summary, method).split("\n", 3)[3].strip())


def write_report(out_dir: str | os.PathLike[str], summary: dict[str, Any], run: DQRun, method: str) -> Path:
    """``results.md``, ``results.csv``, ``summary.json``, ``judgements.jsonl``, ``replies.jsonl`` and, with
    intervals, ``items.jsonl`` (atomic)."""
    header, cells = table_rows(summary)
    items = dq_items(run) if summary.get("intervals") else None
    return write_judged_run(out_dir, to_markdown(summary, method), header, cells, method, summary, run, items)


def write_judged_run(
    out_dir: str | os.PathLike[str],
    markdown: str,
    header: list[str],
    cells: list[str],
    method: str,
    summary: dict[str, Any],
    run: Any,
    items: list[Item] | None = None,
) -> Path:
    """The table files plus the run's ``judgements.jsonl`` and ``replies.jsonl`` (and ``items.jsonl`` when
    given), atomically (any run with ``judgements`` and ``replies``: eval-dq, eval-ce)."""

    def fill(tmp: Path) -> None:
        write_table_files(tmp, markdown, header, cells, method, summary)
        write_jsonl(tmp / "judgements.jsonl", [asdict(j) for j in run.judgements])
        write_jsonl(tmp / "replies.jsonl", [asdict(r) for r in run.replies])
        if items:
            write_items(tmp, items)

    return write_atomically(out_dir, fill)

"""``charm-train table3``: train every paper preset on the same data and seed, evaluate each on
roleReward, and write the paper's Table 3 layout.

Details: docs/design.md#table3.
"""

from __future__ import annotations

import csv
import gc
import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import LANGUAGES
from training.common.reporting import fmt_cell, fmt_p, interval_note
from training.common.stats import BOOTSTRAP, Delta, Interval, Item, Weights, cell_intervals, mean_weights, paired_deltas
from training.rm.evaluate import DIMENSIONS
from training.rm.presets import BASELINE, Preset
from training.rm.trainer import RMTrainConfig

RUNS = "runs"
EVAL_MAX_LENGTH = 2048  # eval-rm's default
BOTH = "both"
TABLE_TITLES: dict[str, str] = {**DIMENSIONS, BOTH: "Charm-RoleReward (both dimensions)"}
KEYS: dict[str, str] = {"zh": "zh", "en": "en", "avg": "avg."}  # cell key -> column label


class Table3Error(ValueError):
    """A user-caused problem (paths, columns, a run folder with other settings); the message names it."""


@dataclass
class Table3Row:
    preset: Preset
    run_dir: Path
    summary: dict[str, Any]  # training.rm.evaluate.summarize output
    resolved: dict[str, Any]
    steps: int
    reused: bool = False
    cells: dict[str, dict[str, float | None]] = field(default_factory=dict)  # table -> zh/en/avg
    items: list[Item] = field(default_factory=list)  # the evaluated pairs (bootstrap items)
    intervals: dict[str, Interval] = field(default_factory=dict)  # CSV column -> interval
    paired: dict[str, Delta] = field(default_factory=dict)  # CSV column -> paired change vs paper-bt


# ------------------------------------------------------------------------------------ inputs


def split_export(data: Path, eval_data: Path | None) -> tuple[Path, Path]:
    """(preferenceTraining, roleReward): an export root holding both, or the two given paths."""
    if eval_data is not None:
        return data, eval_data
    pt, rr = data / "preferenceTraining", data / "roleReward"
    if not (pt.exists() and rr.exists()):
        raise Table3Error(
            f"--data {data}: not an export root (needs preferenceTraining/ and roleReward/); "
            "or pass --data PREFERENCE_TRAINING --eval ROLE_REWARD"
        )
    return pt, rr


def preset_config(preset: Preset, data: Path, run_dir: Path, overrides: dict[str, Any]) -> RMTrainConfig:
    """The run config of ``preset``: its settings, then the table-wide ``overrides`` (model, seed ...)."""
    return RMTrainConfig.from_preset(preset.name, data=data, output_dir=run_dir, **overrides)


def _check_margins(rows: Any, column: str, source: str, preset: str) -> None:
    for i, value in enumerate(rows[column]):
        if not isinstance(value, int | float) or not math.isfinite(value):
            raise Table3Error(
                f"{source} row {i}: column {column!r} must be a finite number for {preset}, got "
                f"{value!r} (fill it, e.g. with an LLM judge, or leave {preset} out of --presets)"
            )


def _finished_run(run_dir: Path) -> dict[str, Any] | None:
    from training.rm.model import MARKER

    marker = run_dir / MARKER
    return json.loads(marker.read_text(encoding="utf-8")) if marker.exists() else None


def preflight(configs: Sequence[RMTrainConfig], role_reward: Path) -> Any:
    """Every check that needs no weights, for all presets, before the first one trains; returns roleReward rows."""
    from training.rm.data import PREFERENCE_COLUMNS, load_rows, require_columns
    from training.rm.evaluate import load_role_reward
    from training.rm.trainer import resolve_model_path, validate_config

    first = configs[0]
    resolve_model_path(first.model)
    rows, source = load_rows(first.data[0], first.split)  # table3 trains on one --data
    require_columns(rows, PREFERENCE_COLUMNS, source)
    for cfg in configs:
        if cfg.loss == "margin":
            require_columns(rows, [cfg.margin_column], source)
            _check_margins(rows, cfg.margin_column, source, str(cfg.preset))
        done = _finished_run(cfg.output_dir)
        if done is None and not cfg.output_dir.exists():
            validate_config(cfg)
        if done is not None and done.get("resolved_config") != cfg.resolved():
            raise Table3Error(
                f"{cfg.output_dir}: holds a {cfg.preset} model trained with other settings; choose a new --out"
            )
    rr_rows, _ = load_role_reward(role_reward)
    return rr_rows


# --------------------------------------------------------------------------------------- run


def run_table3(
    presets: Sequence[Preset],
    data: Path,
    eval_data: Path | None,
    out: Path,
    overrides: dict[str, Any],
    progress: bool = True,
    on_preset: Callable[[int, Preset], None] | None = None,
    bootstrap: int = BOOTSTRAP,
) -> list[Table3Row]:
    """Train (or reuse) and evaluate every preset; write the table files into ``out``. With ``bootstrap``
    > 0, cells get intervals and changes vs ``paper-bt`` paired p-values (seeded by the table's seed)."""
    import torch

    from charm_kernel.progress import count_bar
    from training.rm.evaluate import evaluate_reward_model, pair_items, summarize, write_report
    from training.rm.model import load_reward_model
    from training.rm.trainer import RewardModelTrainer

    if out.exists() and not out.is_dir():
        raise Table3Error(f"--out {out}: exists and is not a folder")
    presets = [p for p in presets if not p.is_ablation] + [p for p in presets if p.is_ablation]
    pt, rr = split_export(data, eval_data)
    configs = [preset_config(p, pt, out / RUNS / p.name, overrides) for p in presets]
    rr_rows = preflight(configs, rr)
    rows: list[Table3Row] = []
    for i, (preset, cfg) in enumerate(zip(presets, configs, strict=True)):
        if on_preset:
            on_preset(i, preset)
        done = _finished_run(cfg.output_dir)
        if done is not None:
            device = "cuda" if torch.cuda.is_available() else "cpu"
            model, steps = load_reward_model(cfg.output_dir, device=device), int(done.get("steps", 0))
        else:
            if cfg.output_dir.exists():  # an interrupted run of this table: start it again
                shutil.rmtree(cfg.output_dir)
            trainer = RewardModelTrainer(cfg, progress=progress)
            result = trainer.train()
            model, steps = trainer.model, result.steps
            del trainer
        with count_bar(f"eval {preset.name}", disable=not progress) as bar:
            task = bar.add_task("eval", total=len(rr_rows))
            results = evaluate_reward_model(
                model,
                rr_rows,
                batch_size=cfg.batch_size,
                max_length=EVAL_MAX_LENGTH,
                on_progress=lambda k: bar.advance(task, k),  # noqa: B023
            )
        summary = summarize(results, bootstrap, int(overrides.get("seed") or 0))
        write_report(cfg.output_dir / "eval", summary, results, preset.label)
        rows.append(
            Table3Row(
                preset,
                cfg.output_dir,
                summary,
                cfg.resolved(),
                steps,
                reused=done is not None,
                cells=table_cells(summary),
                items=pair_items(results),
            )
        )
        del model
        gc.collect()
    add_intervals(rows, bootstrap, int(overrides.get("seed") or 0))
    write_table3(out, rows, overrides, bootstrap)
    return rows


# ----------------------------------------------------------------------------------- layout


def table_cells(summary: dict[str, Any]) -> dict[str, dict[str, float | None]]:
    """zh / en / avg per table: each dimension as summarised, and both dimensions (mean of the dimensions)."""
    cells: dict[str, dict[str, float | None]] = {d: {k: summary[d][k] for k in (*LANGUAGES, "avg")} for d in DIMENSIONS}
    both: dict[str, float | None] = {}
    for lang in LANGUAGES:
        vals = [summary[d][lang] for d in DIMENSIONS if summary[d][lang] is not None]
        both[lang] = sum(vals) / len(vals) if vals else None
    both["avg"] = summary["avg"]
    cells[BOTH] = both
    return cells


def column(table: str, key: str) -> str:
    """The CSV column of a cell: ``Charm-Consistency zh`` ... ``Charm-RoleReward (both dimensions) avg.``."""
    return f"{TABLE_TITLES[table]} {KEYS[key]}"


def column_weights(summary: dict[str, Any]) -> Weights:
    """Every cell of the three tables as weights of the dimension x language strata (as :func:`table_cells`)."""
    from training.rm.evaluate import column_weights as table2_weights

    t2 = table2_weights(summary)
    out: Weights = {}
    for dim, title in DIMENSIONS.items():
        for key, label in KEYS.items():
            if f"{title} {label}" in t2:
                out[column(dim, key)] = t2[f"{title} {label}"]
    for lang in LANGUAGES:
        present = [t2[f"{title} {lang}"] for title in DIMENSIONS.values() if f"{title} {lang}" in t2]
        if present:
            out[column(BOTH, lang)] = mean_weights(*present)
    if "Avg." in t2:
        out[column(BOTH, "avg")] = t2["Avg."]
    return out


def add_intervals(rows: Sequence[Table3Row], resamples: int, seed: int) -> None:
    """Each row's cell intervals and, against the ``paper-bt`` row, paired changes with p-values (the same
    resamples of the shared pairs for both rows)."""
    if resamples <= 0 or not rows:
        return
    weights = column_weights(rows[0].summary)
    base = next((r for r in rows if r.preset.name == BASELINE), None)
    for r in rows:
        r.intervals = cell_intervals(r.items, weights, resamples, seed)
        if base is not None and r is not base:
            r.paired = paired_deltas(base.items, r.items, weights, resamples, seed)


def deltas(rows: Sequence[Table3Row]) -> dict[str, dict[str, dict[str, float | None]]]:
    """preset -> table -> key -> change vs the ``paper-bt`` row (None without that row or a value)."""
    base = next((r for r in rows if r.preset.name == BASELINE), None)
    out: dict[str, dict[str, dict[str, float | None]]] = {}
    for r in rows:
        out[r.preset.name] = {
            t: {
                k: (None if base is None or v is None or base.cells[t][k] is None else v - base.cells[t][k])
                for k, v in cells.items()
            }
            for t, cells in r.cells.items()
        }
    return out


def _yes(flag: bool) -> str:
    return "Yes" if flag else "No"


def _cell(r: Table3Row, table: str, key: str, delta: float | None) -> str:
    """``71.1 ± 1.9 ↑2.0 (p 0.031)``: value ± half-width, change vs paper-bt (``=0.0`` for none) and its
    paired p-value; parts without data are left out."""
    value = r.cells[table][key]
    if value is None:
        return "-"
    text = fmt_cell(value, r.intervals.get(column(table, key)))
    if delta is None or r.preset.name == BASELINE:
        return text
    change = "=0.0" if round(delta, 1) == 0 else f"{'↑' if delta > 0 else '↓'}{abs(delta):.1f}"
    paired = r.paired.get(column(table, key))
    return f"{text} {change}" + ("" if paired is None else f" (p {fmt_p(paired.p)})")


def to_markdown(rows: Sequence[Table3Row], overrides: dict[str, Any], bootstrap: dict[str, Any] | None = None) -> str:
    d = deltas(rows)
    has_base = any(r.preset.name == BASELINE for r in rows)
    parts = []
    for table, title in TABLE_TITLES.items():
        lines = [
            f"### {title}",
            "",
            "| Method | SFT Pre-train | SFT Reg. | zh | en | avg. |",
            "|---|---|---|---:|---:|---:|",
        ]
        for i, r in enumerate(rows):
            if r.preset.is_ablation and (i == 0 or not rows[i - 1].preset.is_ablation):
                lines.append("| *Ablations (not paper rows)* | | | | | |")
            vals = [_cell(r, table, k, d[r.preset.name][table][k]) for k in KEYS]
            lines.append(
                f"| {r.preset.label} | {_yes(r.preset.sft_init)} | {_yes(r.preset.sft_reg > 0)} | "
                + " | ".join(vals)
                + " |"
            )
        parts.append("\n".join(lines))
    n = rows[0].summary["n"] if rows else 0
    notes = [
        f"Pairwise accuracy (%) on Charm-RoleReward ({n} pairs); the paper's Table 3 is the "
        "Charm-Consistency table."
        + (
            f" ↑/↓/=: change vs {BASELINE} (BT baseline)"
            + (
                ", p: two-sided paired bootstrap p-value of that change (same pairs resampled for both rows)."
                if any(r.paired for r in rows)
                else "."
            )
            if has_base
            else ""
        ),
        "Presets: "
        + ", ".join(
            f"{r.preset.label} = `{r.preset.name}` ({r.steps} steps" + (", reused" if r.reused else "") + ")"
            for r in rows
        )
        + ".",
        "Shared settings: " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())) + ".",
    ]
    if bootstrap:
        notes.append(interval_note(bootstrap))
    ablations = [r.preset for r in rows if r.preset.is_ablation]
    if ablations:
        notes.append(
            "Ablations (not paper rows): "
            + "; ".join(f"`{p.name}` is `{p.ablation_of}` except that {p.differs}" for p in ablations)
            + "."
        )
    return "## Table 3 (AAM ablation)\n\n" + "\n\n".join(parts) + "\n\n" + "\n".join(notes) + "\n"


def csv_rows(rows: Sequence[Table3Row]) -> tuple[list[str], list[list[Any]]]:
    """One row per preset: the cells, then (with intervals) each cell's ``lo``/``hi`` bounds and paired
    p-value vs paper-bt (``COLUMN p vs paper-bt``)."""
    header = ["Method", "Preset", "Ablation of", "SFT Pre-train", "SFT Reg.", "loss"]
    columns = [column(t, k) for t in TABLE_TITLES for k in KEYS]
    header += columns
    with_ci = any(r.intervals for r in rows)
    with_p = any(r.paired for r in rows)
    if with_ci:
        header += [f"{c}{b}" for c in columns for b in (" lo", " hi")]
    if with_p:
        header += [f"{c} p vs {BASELINE}" for c in columns]
    body = []
    for r in rows:
        line: list[Any] = [
            r.preset.label,
            r.preset.name,
            r.preset.ablation_of or "",
            _yes(r.preset.sft_init),
            _yes(r.preset.sft_reg > 0),
            r.preset.loss,
        ]
        for table in TABLE_TITLES:
            line += [
                "" if r.cells[table][k] is None else round(r.cells[table][k], 4)  # type: ignore[arg-type]
                for k in (*LANGUAGES, "avg")
            ]
        if with_ci:
            for c in columns:
                iv = r.intervals.get(c)
                line += ["", ""] if iv is None else [round(iv.lo, 4), round(iv.hi, 4)]
        if with_p:
            line += ["" if (pd := r.paired.get(c)) is None else round(pd.p, 4) for c in columns]
        body.append(line)
    return header, body


def bootstrap_info(rows: Sequence[Table3Row], resamples: int, seed: int) -> dict[str, Any] | None:
    """summary.json's ``bootstrap`` block for the table (None without intervals)."""
    if resamples <= 0 or not rows or not any(r.intervals for r in rows):
        return None
    from training.common.reporting import bootstrap_block

    return bootstrap_block(
        resamples,
        seed,
        f"within each dimension x language cell, the same resamples for every preset and for changes vs {BASELINE}",
        rows[0].items,
        column_weights(rows[0].summary),
    )


def write_table3(out: Path, rows: Sequence[Table3Row], overrides: dict[str, Any], resamples: int = BOOTSTRAP) -> Path:
    """``results.md``, ``results.csv`` and ``summary.json`` (temp files moved in at the end)."""
    out.mkdir(parents=True, exist_ok=True)
    boot = bootstrap_info(rows, resamples, int(overrides.get("seed") or 0))
    tmp = Path(tempfile.mkdtemp(prefix=".table3-", dir=out))
    try:
        (tmp / "results.md").write_text(to_markdown(rows, overrides, boot), encoding="utf-8")
        header, body = csv_rows(rows)
        with (tmp / "results.csv").open("w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(header)
            writer.writerows(body)
        d = deltas(rows)
        summary = {
            "table": "Table 3",
            "baseline": BASELINE if any(r.preset.name == BASELINE for r in rows) else None,
            "settings": overrides,
            "bootstrap": boot,
            "rows": [
                {
                    "preset": r.preset.name,
                    "label": r.preset.label,
                    "paper_table": r.preset.table,
                    "ablation_of": r.preset.ablation_of,
                    "differs": r.preset.differs or None,
                    "sft_pretrain": r.preset.sft_init,
                    "sft_reg": r.preset.sft_reg,
                    "loss": r.preset.loss,
                    "run_dir": str(r.run_dir),
                    "steps": r.steps,
                    "reused": r.reused,
                    "cells": r.cells,
                    "delta_vs_baseline": d[r.preset.name],
                    "intervals": {c: {"value": i.value, "lo": i.lo, "hi": i.hi} for c, i in r.intervals.items()},
                    "paired_vs_baseline": {
                        c: {"delta": x.delta, "lo": x.lo, "hi": x.hi, "p": x.p, "pairs": x.n}
                        for c, x in r.paired.items()
                    },
                    "accuracy": r.summary,
                    "resolved_config": r.resolved,
                }
                for r in rows
            ],
        }
        (tmp / "summary.json").write_text(
            json.dumps(summary, indent=2, ensure_ascii=False, default=str), encoding="utf-8"
        )
        for f in sorted(tmp.iterdir()):
            os.replace(f, out / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def print_table3(rows: Sequence[Table3Row], console: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    d = deltas(rows)
    for table, title in TABLE_TITLES.items():
        t = Table(title=title)
        for col in ("Method", "SFT Pre-train", "SFT Reg.", "zh", "en", "avg."):
            t.add_column(col, justify="right" if col in ("zh", "en", "avg.") else "left")
        for i, r in enumerate(rows):
            if r.preset.is_ablation and i > 0 and not rows[i - 1].preset.is_ablation:
                t.add_section()
            t.add_row(
                r.preset.label,
                _yes(r.preset.sft_init),
                _yes(r.preset.sft_reg > 0),
                *[_cell(r, table, k, d[r.preset.name][table][k]) for k in KEYS],
            )
        console.print(t)

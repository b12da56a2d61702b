"""``charm-train table3``: train every paper preset on the same data and seed, evaluate each on
roleReward, and write the paper's Table 3 layout.

Rows are presets (``training/presets.py``) with their "SFT Pre-train" / "SFT Reg." columns; cells are
pairwise accuracy (%) per language and their mean (``avg.`` = mean of zh and en, as in the paper),
with the change against ``paper-bt`` (BT baseline) as ``↑x`` / ``↓x`` (``±0.0``) when that row is present. The
paper's Table 3 reports Charm-Consistency (the ``knowledge_consistency`` dimension); the same layout
follows for Charm-Attractiveness and for both dimensions together (each dimension weighs the same).
Ablation presets (``--ablations``: one open choice of a paper row flipped, ``training/presets.py``)
come after the paper rows, under their own heading, with their changes against ``paper-bt`` too.

Layout of ``OUT``: ``runs/PRESET/`` (the reward model, ``train_log.jsonl``, model card and
``eval/`` with that model's eval-rm files), then ``results.md``, ``results.csv`` and ``summary.json``.
A preset whose finished model in ``runs/PRESET`` was trained with the same resolved settings is
evaluated again without retraining, so an interrupted table can be rerun; an unfinished run folder is
trained from scratch.
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
from training.presets import BASELINE, Preset
from training.rm.evaluate import DIMENSIONS
from training.rm.trainer import RMTrainConfig

RUNS = "runs"
EVAL_MAX_LENGTH = 2048  # eval-rm's default
BOTH = "both"
TABLE_TITLES: dict[str, str] = {**DIMENSIONS, BOTH: "Charm-RoleReward (both dimensions)"}


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
    from training.margin_sources import margin_column_for

    values = preset.settings()
    source = values.pop("margin_source", None)
    if source is not None:
        values["margin_column"] = margin_column_for(source)
    return RMTrainConfig(data=data, output_dir=run_dir, preset=preset.name, **(values | overrides))


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
) -> list[Table3Row]:
    """Train (or reuse) and evaluate every preset; write the table files into ``out``."""
    import torch

    from charm_builder.llm.progress import count_bar
    from training.rm.evaluate import evaluate_reward_model, summarize, write_report
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
        summary = summarize(results)
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
            )
        )
        del model
        gc.collect()
    write_table3(out, rows, overrides)
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


def _cell(value: float | None, delta: float | None, baseline_row: bool) -> str:
    if value is None:
        return "-"
    if delta is None or baseline_row:
        return f"{value:.1f}"
    if round(delta, 1) == 0:
        return f"{value:.1f} ±0.0"
    return f"{value:.1f} {'↑' if delta > 0 else '↓'}{abs(delta):.1f}"


def to_markdown(rows: Sequence[Table3Row], overrides: dict[str, Any]) -> str:
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
            vals = [
                _cell(r.cells[table][k], d[r.preset.name][table][k], r.preset.name == BASELINE)
                for k in (*LANGUAGES, "avg")
            ]
            lines.append(
                f"| {r.preset.label} | {_yes(r.preset.sft_init)} | {_yes(r.preset.sft_reg > 0)} | "
                + " | ".join(vals)
                + " |"
            )
        parts.append("\n".join(lines))
    n = rows[0].summary["n"] if rows else 0
    notes = [
        f"Pairwise accuracy (%) on Charm-RoleReward ({n} pairs); the paper's Table 3 is the "
        "Charm-Consistency table." + (f" ↑/↓: change vs {BASELINE} (BT baseline)." if has_base else ""),
        "Presets: "
        + ", ".join(
            f"{r.preset.label} = `{r.preset.name}` ({r.steps} steps" + (", reused" if r.reused else "") + ")"
            for r in rows
        )
        + ".",
        "Shared settings: " + ", ".join(f"{k}={v}" for k, v in sorted(overrides.items())) + ".",
    ]
    ablations = [r.preset for r in rows if r.preset.is_ablation]
    if ablations:
        notes.append(
            "Ablations (not paper rows): "
            + "; ".join(f"`{p.name}` is `{p.ablation_of}` except that {p.differs}" for p in ablations)
            + "."
        )
    return "## Table 3 (AAM ablation)\n\n" + "\n\n".join(parts) + "\n\n" + "\n".join(notes) + "\n"


def csv_rows(rows: Sequence[Table3Row]) -> tuple[list[str], list[list[Any]]]:
    header = ["Method", "Preset", "Ablation of", "SFT Pre-train", "SFT Reg.", "loss"]
    for title in TABLE_TITLES.values():
        header += [f"{title} {k}" for k in ("zh", "en", "avg.")]
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
        body.append(line)
    return header, body


def write_table3(out: Path, rows: Sequence[Table3Row], overrides: dict[str, Any]) -> Path:
    """``results.md``, ``results.csv`` and ``summary.json`` (temp files moved in at the end)."""
    out.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".table3-", dir=out))
    try:
        (tmp / "results.md").write_text(to_markdown(rows, overrides), encoding="utf-8")
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
                *[
                    _cell(r.cells[table][k], d[r.preset.name][table][k], r.preset.name == BASELINE)
                    for k in (*LANGUAGES, "avg")
                ],
            )
        console.print(t)

"""A PNG of the GRPO training curves: reward (mean ± std), KL to the reference, completion length."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

PANELS: tuple[tuple[str, str, str | None], ...] = (
    ("reward", "reward (mean ± std)", "reward_std"),
    ("kl", "KL to reference", None),
    ("completions/mean_length", "completion length (tokens)", None),
)


def series(history: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    """``(steps, values)`` of a logged metric (entries without it, or with None, are skipped)."""
    steps, values = [], []
    for entry in history:
        value = entry.get(key)
        if isinstance(value, int | float) and "step" in entry:
            steps.append(float(entry["step"]))
            values.append(float(value))
    return steps, values


def plot_curves(history: Sequence[dict[str, Any]], path: str | os.PathLike[str]) -> Path:
    """Draw the three panels from TRL's ``log_history`` and save a PNG (written atomically)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    target = Path(path)
    fig, axes = plt.subplots(1, len(PANELS), figsize=(4.2 * len(PANELS), 3.4))
    for ax, (key, title, std_key) in zip(axes, PANELS, strict=True):
        steps, values = series(history, key)
        ax.set_title(title)
        ax.set_xlabel("step")
        if not steps:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="grey")
            continue
        ax.plot(steps, values, marker="o", markersize=3)
        if std_key:
            _, stds = series(history, std_key)
            if len(stds) == len(values):
                lo = [v - s for v, s in zip(values, stds, strict=True)]
                hi = [v + s for v, s in zip(values, stds, strict=True)]
                ax.fill_between(steps, lo, hi, alpha=0.2)
        ax.grid(alpha=0.3)
    fig.tight_layout()
    tmp = target.with_name(f".{target.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, target)
    return target

"""Small statistics shared by the diagnostics, the judge-agreement code and the evaluation tables' bootstrap
intervals (numpy, no scipy)."""

from __future__ import annotations

import math
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np


def rankdata(values: Sequence[float]) -> list[float]:
    """1-based ranks; ties get the mean of the ranks they span."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks); None when undefined (n < 2 or a constant)."""
    if len(x) != len(y):
        raise ValueError(f"spearman: lengths differ ({len(x)} vs {len(y)})")
    if len(x) < 2:
        return None
    rx, ry = rankdata(x), rankdata(y)
    mx, my = sum(rx) / len(rx), sum(ry) / len(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    vx, vy = sum((a - mx) ** 2 for a in rx), sum((b - my) ** 2 for b in ry)
    if vx == 0 or vy == 0:
        return None
    return cov / math.sqrt(vx * vy)


def bootstrap_ci(
    values: Sequence[float], level: float = 0.95, resamples: int = 2000, seed: int = 0
) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean of ``values`` (items resampled with replacement).

    The same ``values`` and ``seed`` give the same interval; an empty input raises ``ValueError``."""
    if not values:
        raise ValueError("bootstrap_ci needs at least one value")
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    data = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = data[rng.integers(0, len(data), size=(resamples, len(data)))].mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


# ------------------------------------------------------------------ bootstrap intervals for tables
#
# Every evaluation table cell is a weighted sum of stratum means: a Table 2 cell is the mean of one
# (dimension, language) stratum and ``avg.`` the mean of two such cells; a RewardBench section is the
# EXAMPLE_COUNTS-weighted mean of its subsets; a Table 4 ``Avg.`` the mean of dimension means. So one
# resample of each stratum's items gives every cell of the table at once (``resampled_means`` then
# ``combine``): cells are consistent with each other, and two runs resampled with the same indices
# give a paired difference.

LEVEL = 0.95  # the tables' interval level
BOOTSTRAP = 1000  # default resamples of the evaluation commands (--bootstrap)

_BLOCK = 1 << 20  # indices drawn at a time by resampled_means
# cell -> stratum -> weight; a cell's value is sum(weight * mean of the stratum's item values)
Weights = dict[str, dict[str, float]]


@dataclass(frozen=True)
class Item:
    """One scored item of a table: its stratum (e.g. ``knowledge_consistency/zh``), id and value."""

    stratum: str
    id: str
    value: float


@dataclass(frozen=True)
class Interval:
    value: float
    lo: float
    hi: float

    @property
    def half_width(self) -> float:
        return (self.hi - self.lo) / 2


@dataclass(frozen=True)
class Delta:
    """A paired difference B - A with its percentile interval and two-sided bootstrap p-value."""

    delta: float
    lo: float
    hi: float
    p: float
    n: int  # items both runs share (in the cell's strata)


def group_items(items: Iterable[Item]) -> dict[str, np.ndarray]:
    """Stratum -> item values (in input order), strata in order of first appearance."""
    out: dict[str, list[float]] = {}
    for it in items:
        out.setdefault(it.stratum, []).append(float(it.value))
    return {s: np.asarray(v, dtype=np.float64) for s, v in out.items()}


def resample_index(n: int, resamples: int, seed: int, stratum: str) -> np.ndarray:
    """A ``(resamples, n)`` matrix of item indices drawn with replacement for one stratum.

    It depends only on ``seed``, the stratum's name and ``n``: two runs over the same items get the
    same resamples (so their cells pair up), and a stratum keeps its size in every resample."""
    rng = np.random.default_rng([seed, zlib.crc32(stratum.encode("utf-8"))])
    return rng.integers(0, n, size=(resamples, n), dtype=np.int64)


def resampled_means(strata: dict[str, np.ndarray], resamples: int, seed: int) -> dict[str, np.ndarray]:
    """Stratum -> ``(resamples,)`` means of its resampled items (stratified bootstrap).

    The rows of :func:`resample_index` are drawn in blocks of about a million indices (the generator's
    stream is the same, so the means are too) to keep memory and cache use small for large item sets."""
    out: dict[str, np.ndarray] = {}
    for s, v in strata.items():
        n = len(v)
        if n == 0:
            continue
        rng = np.random.default_rng([seed, zlib.crc32(s.encode("utf-8"))])
        block = max(1, _BLOCK // n)
        out[s] = np.concatenate(
            [
                v[rng.integers(0, n, size=(min(block, resamples - start), n), dtype=np.int64)].mean(axis=1)
                for start in range(0, resamples, block)
            ]
        )
    return out


def combine(means: dict[str, Any], weights: dict[str, float]) -> Any:
    """A cell from stratum means (floats or resample arrays): ``sum(weight * mean)``."""
    missing = [s for s in weights if s not in means]
    if missing:
        raise KeyError(f"no items in stratum {missing[0]!r}")
    return sum(w * means[s] for s, w in weights.items())


def mean_weights(*cells: dict[str, float]) -> dict[str, float]:
    """The weights of the plain mean of several cells (each cell weighs the same)."""
    out: dict[str, float] = {}
    for cell in cells:
        for s, w in cell.items():
            out[s] = out.get(s, 0.0) + w / len(cells)
    return out


def weighted_weights(cells: Sequence[tuple[dict[str, float], float]]) -> dict[str, float]:
    """The weights of a weighted mean of cells, ``cells`` as ``(cell, weight)``; weights are normalised."""
    total = sum(w for _, w in cells)
    out: dict[str, float] = {}
    for cell, w in cells:
        for s, x in cell.items():
            out[s] = out.get(s, 0.0) + x * w / total
    return out


def percentile_interval(samples: np.ndarray, level: float = LEVEL) -> tuple[float, float]:
    """The central ``level`` percentile interval of bootstrap ``samples``."""
    if not 0 < level < 1:
        raise ValueError(f"level must be in (0, 1), got {level}")
    lo, hi = np.quantile(samples, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def two_sided_p(delta_samples: np.ndarray) -> float:
    """Two-sided bootstrap p-value of "no difference": ``2 * min(P(d* <= 0), P(d* >= 0))`` with the
    ``(k + 1) / (B + 1)`` convention (never exactly 0), capped at 1. Identical runs give 1.0."""
    b = len(delta_samples)
    below = (np.count_nonzero(delta_samples <= 0) + 1) / (b + 1)
    above = (np.count_nonzero(delta_samples >= 0) + 1) / (b + 1)
    return float(min(1.0, 2 * min(below, above)))


def cell_intervals(
    items: Iterable[Item], weights: Weights, resamples: int = BOOTSTRAP, seed: int = 0, level: float = LEVEL
) -> dict[str, Interval]:
    """A percentile interval for every cell of ``weights`` from one stratified resample of ``items``
    (resampled within each stratum, the same resamples for every cell). A cell whose strata have no
    items is left out."""
    strata = group_items(items)
    point = {s: float(v.mean()) for s, v in strata.items() if len(v)}
    boot = resampled_means(strata, resamples, seed)
    out: dict[str, Interval] = {}
    for cell, w in weights.items():
        if not w or any(s not in point for s in w):
            continue
        out[cell] = Interval(combine(point, w), *percentile_interval(combine(boot, w), level))
    return out


def paired_deltas(
    items_a: Iterable[Item],
    items_b: Iterable[Item],
    weights: Weights,
    resamples: int = BOOTSTRAP,
    seed: int = 0,
    level: float = LEVEL,
) -> dict[str, Delta]:
    """Paired bootstrap of B - A per cell over the items both runs scored (matched by stratum and id;
    a repeated id pairs in order of appearance). Both runs are resampled with the same indices, so the
    per-item differences are what varies. Cells with a stratum that has no shared item are left out."""

    def keyed(items: Iterable[Item]) -> dict[tuple[str, str, int], float]:
        seen: dict[tuple[str, str], int] = {}
        out: dict[tuple[str, str, int], float] = {}
        for it in items:
            k = seen.get((it.stratum, it.id), 0)
            seen[(it.stratum, it.id)] = k + 1
            out[(it.stratum, it.id, k)] = float(it.value)
        return out

    a, b = keyed(items_a), keyed(items_b)
    shared = [k for k in a if k in b]
    diffs = group_items(Item(k[0], k[1], b[k] - a[k]) for k in shared)
    sizes = {s: len(v) for s, v in diffs.items()}
    point = {s: float(v.mean()) for s, v in diffs.items()}
    boot = resampled_means(diffs, resamples, seed)
    out: dict[str, Delta] = {}
    for cell, w in weights.items():
        if not w or any(s not in point for s in w):
            continue
        samples = combine(boot, w)
        lo, hi = percentile_interval(samples, level)
        out[cell] = Delta(combine(point, w), lo, hi, two_sided_p(samples), sum(sizes[s] for s in w))
    return out

"""Correlation coefficients between two score lists, plain and row-wise over bootstrap resamples (numpy,
no scipy): Pearson's r, Spearman's rho (Pearson on average ranks) and Kendall's tau-b (scipy's
``kendalltau`` default). Each is ``None`` (one pair of lists) or NaN (a resample row) where it is
undefined: fewer than two items, or one side constant."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

_PAIRS_PER_BLOCK = 1 << 22  # item pairs compared at a time by kendall_rows


def _defined(value: float) -> float | None:
    return None if not np.isfinite(value) else float(value)


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None when undefined."""
    return _defined(pearson_rows(np.asarray([x], dtype=np.float64), np.asarray([y], dtype=np.float64))[0])


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's rho (ties get the mean of their ranks); None when undefined."""
    return _defined(spearman_rows(np.asarray([x], dtype=np.float64), np.asarray([y], dtype=np.float64))[0])


def kendall(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Kendall's tau-b (tie-corrected); None when undefined."""
    return _defined(kendall_rows(np.asarray([x], dtype=np.float64), np.asarray([y], dtype=np.float64))[0])


def _check(x: np.ndarray, y: np.ndarray) -> None:
    if x.shape != y.shape or x.ndim != 2:
        raise ValueError(f"expected two (rows, n) arrays of one shape, got {x.shape} and {y.shape}")


def pearson_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson's r of each row of ``x`` with the same row of ``y`` (NaN where undefined)."""
    _check(x, y)
    if x.shape[1] < 2:
        return np.full(x.shape[0], np.nan)
    dx = x - x.mean(axis=1, keepdims=True)
    dy = y - y.mean(axis=1, keepdims=True)
    vx, vy = (dx * dx).sum(axis=1), (dy * dy).sum(axis=1)
    # a row of equal values can leave rounding noise in dx: treat a variance that small as zero
    tiny = 1e-24 * np.maximum(1.0, np.abs(x).max(axis=1) * np.abs(y).max(axis=1)) ** 2
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (dx * dy).sum(axis=1) / np.sqrt(vx * vy)
    r[(vx <= tiny) | (vy <= tiny)] = np.nan
    return np.clip(r, -1.0, 1.0)


def rank_rows(x: np.ndarray) -> np.ndarray:
    """1-based ranks within each row; ties get the mean of the ranks they span."""
    rows, n = x.shape
    if n == 0:
        return x.astype(np.float64)
    order = np.argsort(x, axis=1, kind="stable")
    s = np.take_along_axis(x, order, axis=1)
    # in each sorted row, a tie group's rank is (first + last position) / 2 + 1
    new = np.ones((rows, n), dtype=bool)
    new[:, 1:] = s[:, 1:] != s[:, :-1]
    pos = np.arange(n)
    first = np.maximum.accumulate(np.where(new, pos, 0), axis=1)
    end = np.ones((rows, n), dtype=bool)
    end[:, :-1] = new[:, 1:]
    last = np.flip(np.minimum.accumulate(np.flip(np.where(end, pos, n), axis=1), axis=1), axis=1)
    ranks = np.empty((rows, n), dtype=np.float64)
    np.put_along_axis(ranks, order, (first + last) / 2 + 1, axis=1)
    return ranks


def spearman_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Spearman's rho of each row pair (NaN where undefined)."""
    _check(x, y)
    return pearson_rows(rank_rows(x), rank_rows(y))


def kendall_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Kendall's tau-b of each row pair: ``(concordant - discordant) / sqrt((n0 - ties_x) * (n0 - ties_y))``
    over all item pairs (NaN where undefined). Compares every pair of items, a block of rows at a time."""
    _check(x, y)
    rows, n = x.shape
    out = np.full(rows, np.nan)
    if n < 2:
        return out
    iu, ju = np.triu_indices(n, 1)
    block = max(1, _PAIRS_PER_BLOCK // len(iu))
    for start in range(0, rows, block):
        xs, ys = x[start : start + block], y[start : start + block]
        sx = np.sign(xs[:, iu] - xs[:, ju])
        sy = np.sign(ys[:, iu] - ys[:, ju])
        s = (sx * sy).sum(axis=1)
        nx, ny = np.count_nonzero(sx, axis=1), np.count_nonzero(sy, axis=1)
        with np.errstate(invalid="ignore", divide="ignore"):
            tau = s / np.sqrt(nx.astype(np.float64) * ny)
        tau[(nx == 0) | (ny == 0)] = np.nan
        out[start : start + block] = tau
    return out

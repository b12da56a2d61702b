"""How ``charm-train rm --data A --data B --mix wA,wB`` combines preference sources.

Without weights every row of every source is used once (plain concatenation). With weights
``w_1..w_k`` (normalised to ``p_i = w_i / sum w``) the run keeps the size of that concatenation,
``N = n_1 + ... + n_k`` pairs, and gives source ``i`` its share ``t_i = p_i * N`` (rounded by largest
remainder, so the shares add up to ``N``):

* ``t_i <= n_i``: a random subset of ``t_i`` of its rows (each at most once);
* ``t_i > n_i``: every row ``t_i // n_i`` times, plus a random subset of ``t_i % n_i`` rows once more.

The subsets are drawn with the run's seed (source ``i`` from its own generator), so a rerun with the
same seed trains on the same pairs. Keeping ``N`` fixed means ``--epochs`` costs the same compute
whatever the weights.
"""

from __future__ import annotations

import math
import random
from collections.abc import Sequence


def normalise_weights(weights: Sequence[float], n_sources: int) -> list[float]:
    """``weights`` scaled to sum 1; raises ValueError unless there is one positive finite weight per source."""
    if len(weights) != n_sources:
        raise ValueError(f"--mix has {len(weights)} weight(s) for {n_sources} --data source(s); give one per --data")
    if any(not math.isfinite(w) or w <= 0 for w in weights):
        raise ValueError(f"--mix weights must be positive numbers, got {','.join(f'{w:g}' for w in weights)}")
    total = sum(weights)
    return [w / total for w in weights]


def mix_counts(sizes: Sequence[int], weights: Sequence[float] | None) -> list[int]:
    """Pairs taken from each source (see module docstring); ``weights=None`` takes every row once."""
    if weights is None:
        return list(sizes)
    probs = normalise_weights(weights, len(sizes))
    total = sum(sizes)
    exact = [p * total for p in probs]
    counts = [math.floor(x) for x in exact]
    by_remainder = sorted(range(len(sizes)), key=lambda i: (-(exact[i] - counts[i]), i))
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts


def mix_indices(sizes: Sequence[int], weights: Sequence[float] | None, seed: int) -> list[list[int]]:
    """For each source, the row positions it contributes (repeats allowed when up-sampled), sorted."""
    out = []
    for i, (n, take) in enumerate(zip(sizes, mix_counts(sizes, weights), strict=True)):
        if weights is None or take == n:
            out.append(list(range(n)))
            continue
        rng = random.Random(f"charm-rm-mix:{seed}:{i}")
        whole, extra = divmod(take, n)
        picked = [j for j in range(n) for _ in range(whole)] + rng.sample(range(n), extra)
        out.append(sorted(picked))
    return out


__all__ = ["mix_counts", "mix_indices", "normalise_weights"]

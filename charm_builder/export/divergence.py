"""Jensen-Shannon divergence between the train and test marginals of a shift-aware export.

Details: docs/design.md#shift-divergence.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Hashable, Mapping, Sequence

import numpy as np

EMBED_SAMPLE = 1000
KMEANS_K = 8


def _normalise(weights: Sequence[float]) -> list[float]:
    total = float(sum(weights))
    if total <= 0 or any(w < 0 for w in weights):
        raise ValueError("a distribution needs non-negative weights with a positive sum")
    return [float(w) / total for w in weights]


def js_divergence(
    p: Mapping[Hashable, float] | Sequence[float], q: Mapping[Hashable, float] | Sequence[float]
) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) between two distributions.

    ``p`` and ``q`` are either aligned weight sequences or mappings outcome -> weight (missing
    outcomes weigh 0). Weights are normalised first, so raw counts are fine.

    .. math:: JS(P, Q) = \\tfrac12 KL(P \\| M) + \\tfrac12 KL(Q \\| M), \\quad M = \\tfrac12 (P + Q)
    """
    if isinstance(p, Mapping) or isinstance(q, Mapping):
        if not (isinstance(p, Mapping) and isinstance(q, Mapping)):
            raise TypeError("pass two mappings or two sequences")
        keys = sorted(set(p) | set(q), key=repr)
        pv, qv = [p.get(k, 0.0) for k in keys], [q.get(k, 0.0) for k in keys]
    else:
        if len(p) != len(q):
            raise ValueError(f"distributions differ in length ({len(p)} vs {len(q)})")
        pv, qv = list(p), list(q)
    pn, qn = _normalise(pv), _normalise(qv)
    js = 0.0
    for a, b in zip(pn, qn, strict=True):
        m = (a + b) / 2
        if a > 0:
            js += 0.5 * a * math.log2(a / m)
        if b > 0:
            js += 0.5 * b * math.log2(b / m)
    return min(1.0, max(0.0, js))


def categorical_js(train: Sequence[Hashable], test: Sequence[Hashable]) -> float | None:
    """JS divergence between the empirical distributions of two samples (None if one is empty)."""
    if not train or not test:
        return None
    return js_divergence(dict(Counter(train)), dict(Counter(test)))


def kmeans(x: np.ndarray, k: int, seed: int = 0, iters: int = 100) -> tuple[np.ndarray, np.ndarray]:
    """Lloyd's k-means with k-means++ initialisation (deterministic for a seed).

    Returns ``(centroids (k, d), labels (n,))``. ``k`` is capped at the number of distinct rows.
    """
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or len(x) == 0:
        raise ValueError("kmeans needs a non-empty 2-d array")
    k = max(1, min(k, len(np.unique(x, axis=0))))
    rng = np.random.default_rng(seed)
    centroids = [x[rng.integers(len(x))]]
    for _ in range(1, k):
        d2 = np.min(((x[:, None, :] - np.asarray(centroids)[None]) ** 2).sum(-1), axis=1)
        if d2.sum() <= 0:
            break
        centroids.append(x[rng.choice(len(x), p=d2 / d2.sum())])
    c = np.asarray(centroids)
    labels = np.zeros(len(x), dtype=np.int64)
    for i in range(iters):
        new = ((x[:, None, :] - c[None]) ** 2).sum(-1).argmin(axis=1)
        if i > 0 and np.array_equal(new, labels):
            break
        labels = new
        for j in range(len(c)):
            members = x[labels == j]
            if len(members):
                c[j] = members.mean(axis=0)
    return c, labels


def embedding_js(train: np.ndarray, test: np.ndarray, k: int = KMEANS_K, seed: int = 0) -> float | None:
    """JS between the cluster-assignment histograms of two embedding samples (see module doc)."""
    if len(train) == 0 or len(test) == 0:
        return None
    both = np.concatenate([np.asarray(train, dtype=np.float64), np.asarray(test, dtype=np.float64)])
    norms = np.linalg.norm(both, axis=1, keepdims=True)
    both = both / np.where(norms > 0, norms, 1.0)
    _, labels = kmeans(both, k, seed)
    n_clusters = int(labels.max()) + 1
    p = np.bincount(labels[: len(train)], minlength=n_clusters)
    q = np.bincount(labels[len(train) :], minlength=n_clusters)
    return js_divergence(p.tolist(), q.tolist())


def subsample(n: int, size: int, seed: int) -> list[int]:
    """Sorted seeded sample of ``min(n, size)`` row positions out of ``n``."""
    if n <= size:
        return list(range(n))
    return sorted(np.random.default_rng(seed).choice(n, size=size, replace=False).tolist())

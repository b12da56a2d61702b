"""Helpers for training on several processes (``accelerate launch``): who writes, and global metrics.

Only the main process (global rank 0) writes files and talks on the console; every process computes
metrics on its own shard of the batch, and :func:`gather_metrics` pools them into the numbers one
process would have logged for the whole global batch.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any


def process_rank() -> int:
    """Global rank of this process (0 when not launched by ``accelerate launch`` / ``torchrun``)."""
    return int(os.environ.get("RANK", "0") or 0)


def is_main_process() -> bool:
    """True on the process that writes files and logs (global rank 0, or a plain single process)."""
    return process_rank() == 0


def pool_metrics(parts: Sequence[tuple[dict[str, float], float]]) -> dict[str, float]:
    """Combine per-process metric means, each computed over ``n`` items, into global means.

    Every key is a mean over items, weighted by ``n``; a key ``X_std`` (population std) whose
    ``X_mean`` is also present is pooled exactly through second moments.
    """
    total = sum(n for _, n in parts)
    if not parts or total <= 0:
        raise ValueError("pool_metrics needs at least one part with n > 0")
    keys = list(parts[0][0])
    out = {k: sum(m[k] * n for m, n in parts) / total for k in keys}
    for k in keys:
        mean_key = k[: -len("_std")] + "_mean"
        if k.endswith("_std") and mean_key in out:
            second = sum((m[k] ** 2 + m[mean_key] ** 2) * n for m, n in parts) / total
            out[k] = max(0.0, second - out[mean_key] ** 2) ** 0.5
    return out


def gather_metrics(accelerator: Any, metrics: dict[str, float], n: int) -> tuple[dict[str, float], float]:
    """All processes' metrics for this micro-batch pooled with :func:`pool_metrics`, and the number of
    items they cover (a collective call: every process must make it). A single process gets its own."""
    if accelerator.num_processes == 1:
        return metrics, float(n)
    import torch

    keys = list(metrics)
    local = torch.tensor([float(n), *(metrics[k] for k in keys)], dtype=torch.float64, device=accelerator.device)
    rows = accelerator.gather(local.unsqueeze(0)).cpu().tolist()
    parts = [(dict(zip(keys, row[1:], strict=True)), row[0]) for row in rows]
    return pool_metrics(parts), sum(n for _, n in parts)

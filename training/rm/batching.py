"""Which pairs go into which micro-batch, epoch by epoch, rank by rank.

Pairs are shuffled with a generator seeded by ``(seed, epoch)``, so a run and its resume see the same
batches. Pairs may carry a *group* (the candidate set they were cut from): ``export --pairs maxdiff``
makes nine pairs per set, and those are kept together. Sets are shuffled as units and packed into
micro-batches of at most ``batch_size`` pairs: a set that fits shares one micro-batch (with
``--batch-size 9`` or more every maxdiff set does); a larger set fills consecutive micro-batches, so
``--batch-size`` always bounds memory. With one pair per group (the paper's best-worst export, or data
without set ids) the batches are exactly the plain shuffle's.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def epoch_batches(
    n: int,
    batch_size: int,
    seed: int,
    epoch: int,
    rank: int = 0,
    world: int = 1,
    groups: Sequence[str | None] | None = None,
) -> list[list[int]]:
    """Deterministic shuffled micro-batches of pair positions for one epoch, sharded by rank.

    Without groups, global batch ``i`` (``batch_size * world`` pairs) gives rank ``r`` its pairs
    ``r, r + world, ...``. With groups, groups are packed in shuffled order into micro-batches of at
    most ``batch_size`` pairs (``pack_groups``), and global batch ``i`` gives rank ``r`` micro-batch
    ``i * world + r``.
    Every rank gets the same number of micro-batches (a rank left without pairs in the last, short
    global batch repeats its first pair, as ``DistributedSampler`` pads), so collective steps never
    wait forever."""
    g = torch.Generator().manual_seed(seed * 1000 + epoch)
    members = _members(n, groups)
    if members is None:
        order = torch.randperm(n, generator=g).tolist()
        step = batch_size * world
        return [order[i : i + step][rank::world] or order[i : i + 1] for i in range(0, n, step)]
    micro = pack_groups([members[k] for k in torch.randperm(len(members), generator=g).tolist()], batch_size)
    out = []
    for i in range(0, len(micro), world):
        share = micro[i : i + world]
        out.append(share[rank] if rank < len(share) else share[0][:1])
    return out


def pack_groups(groups: Sequence[list[int]], batch_size: int) -> list[list[int]]:
    """Fill micro-batches of at most ``batch_size`` pairs in order with whole groups; a group larger
    than ``batch_size`` starts a new micro-batch and fills as many consecutive ones as it needs."""
    out: list[list[int]] = []
    current: list[int] = []
    for members in groups:
        if current and len(current) + len(members) > batch_size:
            out.append(current)
            current = []
        current = current + members
        while len(current) > batch_size:
            out.append(current[:batch_size])
            current = current[batch_size:]
    if current:
        out.append(current)
    return out


def _members(n: int, groups: Sequence[str | None] | None) -> list[list[int]] | None:
    """Positions per group in first-seen order; None when every pair is its own group."""
    if groups is None:
        return None
    if len(groups) != n:
        raise ValueError(f"groups has {len(groups)} entries for {n} pairs")
    by_key: dict[str, list[int]] = {}
    out: list[list[int]] = []
    for i, key in enumerate(groups):
        if key is None:
            out.append([i])
        elif key in by_key:
            by_key[key].append(i)
        else:
            by_key[key] = [i]
            out.append(by_key[key])
    return None if len(out) == n else out


__all__ = ["epoch_batches", "pack_groups"]

"""Planned rows -> full rows, chunk by chunk, in the planned order.

Selection works on light frames (ids, labels, keys; see ``inputs``). A planned split is turned into
its rows ``chunk_rows`` at a time: the chunk's candidate sets are read from the store by id
(``load.fetch_candidate_sets``), their contexts and replies joined in, and the chunk is handed to the
writer. Memory is bounded by the chunk, whatever the number of rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import polars as pl

from charm_builder.export.load import fetch_candidate_sets
from charm_builder.export.preference import grpo_rows, train_rows
from charm_builder.export.role_reward import role_reward_rows
from charm_builder.store import Workspace

DEFAULT_CHUNK_ROWS = 20_000

RowBuilder = Callable[[pl.DataFrame, pl.DataFrame, pl.DataFrame], pl.DataFrame]
BUILDERS: dict[str, RowBuilder] = {"rr": role_reward_rows, "train": train_rows, "grpo": grpo_rows}


def row_kind(subset: str, split: str) -> str:
    """Which builder makes a split's rows: rr, train, grpo, or dq (dialogueQuality rows are built whole)."""
    if subset == "roleReward":
        return "rr"
    if subset == "preferenceTraining":
        return split
    return "dq"


def iter_rows(
    ws: Workspace, kind: str, plan: pl.DataFrame, characters: pl.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> Iterator[pl.DataFrame]:
    """The split's full rows (+ context_key) in ``plan`` order, ``chunk_rows`` at a time (one empty frame
    with the split's columns when the plan is empty)."""
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    if kind == "dq":  # already whole: its few hundred rows are read with their texts
        yield from (plan.slice(i, chunk_rows) for i in range(0, max(plan.height, 1), chunk_rows))
        return
    build = BUILDERS[kind]
    if plan.is_empty():
        yield build(plan, fetch_candidate_sets(ws, []), characters)
        return
    for start in range(0, plan.height, chunk_rows):
        chunk = plan.slice(start, chunk_rows)
        sets = fetch_candidate_sets(ws, chunk["candidate_set_id"].unique().to_list())
        yield build(chunk, sets, characters)


def materialize(
    ws: Workspace, kind: str, plan: pl.DataFrame, characters: pl.DataFrame, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> pl.DataFrame:
    """All rows of a planned split in one frame (for small exports and tests)."""
    return pl.concat(list(iter_rows(ws, kind, plan, characters, chunk_rows)))

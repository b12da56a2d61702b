"""Everything the subset builders need, loaded once per export."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from charm_builder.export import load
from charm_builder.export.splits import context_key_expr
from charm_builder.export.votes import Votes, aggregate_votes
from charm_builder.store import Workspace


@dataclass
class Inputs:
    """Frames read from the workspace (see ``load``) plus the aggregated votes."""

    characters: pl.DataFrame
    dialogues: pl.DataFrame  # joined with the character columns
    candidate_sets: pl.DataFrame  # candidate_set_id, dialogue_id, context_json
    candidates: pl.DataFrame
    annotations: pl.DataFrame
    simulator_settings: list[str]

    def votes(self, min_annotators: int) -> Votes:
        return aggregate_votes(self.annotations, min_annotators)

    def sets_with_context(self, candidate_set_ids: pl.Series | None = None) -> pl.DataFrame:
        """Candidate sets (optionally only some) with decoded ``context``, ``context_key`` and dialogue columns."""
        sets = self.candidate_sets
        if candidate_set_ids is not None:
            sets = sets.join(pl.DataFrame({"candidate_set_id": candidate_set_ids.unique()}), on="candidate_set_id")
        return (
            sets.with_columns(load.decode_context(pl.col("context_json"))).drop("context_json")
            .with_columns(context_key_expr())
            .join(self.dialogues, on="dialogue_id", how="inner")
        )  # fmt: skip


def read_inputs(ws: Workspace) -> Inputs:
    """Read every table the export needs into polars frames."""
    characters = load.load_characters(ws)
    dialogues = load.load_dialogues(ws).join(characters, on="character_id", how="left")
    return Inputs(
        characters=characters,
        dialogues=dialogues,
        candidate_sets=load.load_candidate_sets(ws),
        candidates=load.load_candidates(ws),
        annotations=load.load_submitted_annotations(ws),
        simulator_settings=load.simulator_settings(ws),
    )

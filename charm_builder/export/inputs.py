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
    candidate_sets: pl.DataFrame  # candidate_set_id, dialogue_id, context, context_key
    candidates: pl.DataFrame
    annotations: pl.DataFrame
    simulator_settings: list[str]
    judge_scores: pl.DataFrame  # candidate_set_id, label, judge, prompt_version, score
    annotation_sources: dict[str, int]  # submitted annotations in the workspace: human / synthetic

    def votes(self, min_annotators: int) -> Votes:
        return aggregate_votes(self.annotations, min_annotators)

    def sets_with_context(self, candidate_set_ids: pl.Series) -> pl.DataFrame:
        """The given candidate sets with ``context``, ``context_key`` and dialogue/character columns."""
        wanted = pl.DataFrame({"candidate_set_id": candidate_set_ids.unique()})
        return self.candidate_sets.join(wanted, on="candidate_set_id", how="semi").join(
            self.dialogues, on="dialogue_id", how="inner"
        )


def read_inputs(ws: Workspace, include_synthetic: bool = False) -> Inputs:
    """Read every table the export needs into polars frames (synthetic annotations only when asked)."""
    characters = load.load_characters(ws)
    dialogues = load.load_dialogues(ws).join(characters, on="character_id", how="left")
    sets, candidates = load.load_sets_and_candidates(ws)
    return Inputs(
        characters=characters,
        dialogues=dialogues,
        candidate_sets=sets.with_columns(context_key_expr()),
        candidates=candidates,
        annotations=load.load_submitted_annotations(ws, include_synthetic),
        simulator_settings=load.simulator_settings(ws),
        judge_scores=load.load_judge_scores(ws),
        annotation_sources=load.annotation_sources(ws),
    )

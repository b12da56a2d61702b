"""Everything the subset builders need, loaded once per export: light frames only.

Selection (votes, roleReward sampling, train/grpo splits, context-overlap drops) needs ids, labels,
categories and context keys, never the texts, so the workspace is read page by page into these light
frames and the texts of the rows that are kept are read again while writing (``materialize``). Memory
therefore grows with ids, not with text.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import polars as pl

from charm_builder.export import load
from charm_builder.export.reliability import Reliability, fit_reliability
from charm_builder.export.votes import Tally, Votes, model_verdicts, tally_votes, verdicts_of
from charm_builder.store import Workspace


@dataclass
class Inputs:
    """Frames read from the workspace (see ``load``) plus the aggregated votes."""

    characters: pl.DataFrame
    dialogues: pl.DataFrame  # joined with the character columns; n_turns, planned_turns
    candidate_sets: pl.DataFrame  # candidate_set_id, dialogue_id, context_key (+ context with keep_context)
    candidates: pl.DataFrame  # candidate_set_id, label, model_id, unusable, text_key
    annotations: pl.DataFrame
    simulator_settings: list[str]
    judge_scores: pl.DataFrame  # candidate_set_id, label, judge, prompt_version, score
    annotation_sources: dict[str, int]  # submitted annotations in the workspace: human / synthetic
    simulator_models: dict[str, list[str]] = field(default_factory=dict)  # role -> model ids
    aggregate: str = "majority"  # how picks become verdicts: majority, or dawid-skene (the reliability model)

    _tally: Tally | None = field(default=None, init=False, repr=False)
    _fit: Reliability | None = field(default=None, init=False, repr=False)

    def votes(self, min_annotators: int) -> Votes:
        if self._tally is None:  # counted once, judged per min_annotators
            self._tally = tally_votes(self.annotations)
        if self.aggregate == "dawid-skene":
            return model_verdicts(self._tally, self.reliability(), min_annotators)
        return verdicts_of(self._tally, min_annotators)

    def reliability(self) -> Reliability:
        """The annotator-reliability model fitted on every submitted pick (once; no bootstrap)."""
        if self._fit is None:
            self._fit = fit_reliability(self.annotations, resamples=0)
        return self._fit

    def sets_with_dialogues(self, candidate_set_ids: pl.Series) -> pl.DataFrame:
        """The given candidate sets with ``context_key`` and their dialogue/character columns."""
        wanted = pl.DataFrame({"candidate_set_id": candidate_set_ids.unique()})
        return self.candidate_sets.join(wanted, on="candidate_set_id", how="semi").join(
            self.dialogues, on="dialogue_id", how="inner"
        )


def read_inputs(
    ws: Workspace,
    include_synthetic: bool = False,
    *,
    keep_context: bool = True,
    page_rows: int = load.PAGE_ROWS,
    on_page: Callable[[Inputs, pl.DataFrame], None] | None = None,
    aggregate: str = "majority",
) -> Inputs:
    """Read every table the export needs into light polars frames (synthetic annotations only when
    asked). ``keep_context`` also keeps every decoded context (the shift divergences read all turns);
    without it memory does not grow with text. ``page_rows``: documents parsed at a time. ``on_page(inputs,
    page)`` sees each parsed page of candidate sets, with everything but the candidate sets already read."""
    facts_read = load.in_background(ws, load.load_dialogue_facts)  # overlaps the annotations
    characters = load.load_characters(ws)
    annotations, sources = load.load_submitted_annotations(ws, include_synthetic, page_rows * 5)
    tally = tally_votes(annotations)
    facts = facts_read.result()
    inputs = Inputs(
        characters=characters,
        dialogues=facts.dialogues.join(characters, on="character_id", how="left"),
        candidate_sets=pl.DataFrame(),
        candidates=pl.DataFrame(),
        annotations=annotations,
        simulator_settings=facts.simulator_settings,
        judge_scores=load.load_judge_scores(ws),
        annotation_sources=sources,
        simulator_models=facts.simulator_models,
        aggregate=aggregate,
    )
    inputs._tally = tally
    hook = (lambda page: on_page(inputs, page)) if on_page is not None else None
    inputs.candidate_sets, inputs.candidates = load.scan_candidate_sets(ws, page_rows, keep_context, hook)
    return inputs

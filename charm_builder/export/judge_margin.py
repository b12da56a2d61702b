"""``margin_judge``: the paper's GPT-Margin, from LLM-judge scores stored by ``charm-build judge``.

``margin_judge = score(chosen) - score(rejected)``, raw 1-10 scores, so in [-9, 9] (negative when the
judge disagrees with the annotators); null when either reply has no parsed score. One judge fills
the column: ``--judge NAME`` (export option), else the (judge, prompt version) with the most parsed
scores (ties: by name). Role-play scores (prompt ``v2``) come before those of another rubric
(``charm-build judge --rubric general`` stores ``v2-general``), which fill the column only when a judge
has no role-play scores. ``charm-train rm --margin-scale`` rescales it.
"""

from __future__ import annotations

import polars as pl

from charm_kernel.errors import CharmError

SCORE_COLUMNS = ("candidate_set_id", "label", "score")


def choose_judge(scores: pl.DataFrame, wanted: str | None) -> tuple[str, str] | None:
    """(judge, prompt version) whose scores fill ``margin_judge``; None when there are no scores."""
    parsed = scores.filter(pl.col("score").is_not_null())
    if wanted is not None:
        parsed = parsed.filter(pl.col("judge") == wanted)
        if parsed.is_empty():
            known = sorted(set(scores["judge"].to_list()))
            raise CharmError(
                f"--judge {wanted!r}: no judge scores in the workspace"
                + (f" (judges: {', '.join(known)})" if known else "; run `charm-build judge` first")
            )
    if parsed.is_empty():
        return None
    top = (
        parsed.group_by("judge", "prompt_version")
        .len()
        .with_columns(pl.col("prompt_version").str.contains("-", literal=True).alias("_other_rubric"))
        .sort(["_other_rubric", "len", "judge", "prompt_version"], descending=[False, True, False, True])
        .row(0)
    )
    return str(top[0]), str(top[1])


def scores_of(scores: pl.DataFrame, judge: tuple[str, str] | None) -> pl.DataFrame:
    """candidate_set_id, label, score of one (judge, prompt version); empty when ``judge`` is None."""
    if judge is None:
        return pl.DataFrame(schema={"candidate_set_id": pl.String, "label": pl.String, "score": pl.Float64})
    return scores.filter(
        (pl.col("judge") == judge[0]) & (pl.col("prompt_version") == judge[1]) & pl.col("score").is_not_null()
    ).select(*SCORE_COLUMNS)


def with_margin_judge(pairs: pl.DataFrame, scores: pl.DataFrame) -> pl.DataFrame:
    """Add ``margin_judge`` to rows with candidate_set_id, chosen_label, rejected_label."""
    chosen = scores.rename({"label": "chosen_label", "score": "_sc"})
    rejected = scores.rename({"label": "rejected_label", "score": "_sr"})
    return (
        pairs.join(chosen, on=["candidate_set_id", "chosen_label"], how="left")
        .join(rejected, on=["candidate_set_id", "rejected_label"], how="left")
        .with_columns((pl.col("_sc") - pl.col("_sr")).cast(pl.Float64).alias("margin_judge"))
        .drop("_sc", "_sr")
    )

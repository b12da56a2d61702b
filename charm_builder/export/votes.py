"""Aggregate annotators' best/worst picks per candidate set: majority labels, ties, agreement.

A *clear majority* is a unique plurality: the top label has strictly more votes than any other
label. With the dataset's overlap of three annotators this means at least two agree. With four
or more annotators the majority best and majority worst can be the same candidate; such sets are
contradictory and excluded (reason ``best_equals_worst``).

``agreement`` = (votes for the majority best + votes for the majority worst) / (2 x annotators),
so 1.0 means everyone agreed on both picks.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import polars as pl

if TYPE_CHECKING:
    from charm_builder.export.reliability import Reliability

# Why a candidate set is not usable, in the order the reasons are tested.
REASONS: tuple[str, ...] = ("too_few_annotators", "tie_best", "tie_worst", "best_equals_worst")


@dataclass(frozen=True)
class Votes:
    """Per-set verdicts plus per-(set, label) vote counts for best and worst."""

    verdicts: pl.DataFrame  # candidate_set_id, n_annotators, best, best_votes, worst, worst_votes, agreement, reason
    best_counts: pl.DataFrame  # candidate_set_id, label, votes
    worst_counts: pl.DataFrame  # candidate_set_id, label, votes
    reliability: Reliability | None = None  # the annotator model behind the verdicts (--aggregate dawid-skene)


def _counts(ann: pl.DataFrame, pick: str) -> pl.DataFrame:
    return (
        ann.filter(pl.col(pick).is_not_null())
        .group_by("candidate_set_id", pick)
        .agg(pl.len().cast(pl.Int64).alias("votes"))
        .rename({pick: "label"})
    )


def _top(counts: pl.DataFrame, pick: str) -> pl.DataFrame:
    return counts.group_by("candidate_set_id").agg(
        pl.col("label").sort_by("votes", "label", descending=[True, False]).first().alias(pick),
        pl.col("votes").max().alias(f"{pick}_votes"),
        (pl.col("votes") == pl.col("votes").max()).sum().alias(f"{pick}_n_top"),
    )


@dataclass(frozen=True)
class Tally:
    """Vote counts per candidate set, before any ``min_annotators`` rule (``verdicts_of`` applies one)."""

    per_set: (
        pl.DataFrame
    )  # candidate_set_id, n_annotators, best, best_votes, best_n_top, worst, worst_votes, worst_n_top
    best_counts: pl.DataFrame
    worst_counts: pl.DataFrame


def tally_votes(annotations: pl.DataFrame) -> Tally:
    """Count every candidate set's best and worst votes (one vote per annotator)."""
    ann = annotations.unique(["candidate_set_id", "annotator"], keep="first", maintain_order=True)
    best_counts, worst_counts = _counts(ann, "best"), _counts(ann, "worst")
    per_set = (
        ann.group_by("candidate_set_id")
        .agg(pl.col("annotator").n_unique().cast(pl.Int64).alias("n_annotators"))
        .join(_top(best_counts, "best"), on="candidate_set_id", how="left")
        .join(_top(worst_counts, "worst"), on="candidate_set_id", how="left")
    )
    return Tally(per_set, best_counts, worst_counts)


def verdicts_of(tally: Tally, min_annotators: int) -> Votes:
    """The verdict of every counted candidate set under ``min_annotators``."""
    verdicts = (
        tally.per_set.with_columns(
            pl.when(pl.col("n_annotators") < min_annotators)
            .then(pl.lit("too_few_annotators"))
            .when(pl.col("best_n_top").fill_null(0) != 1)
            .then(pl.lit("tie_best"))
            .when(pl.col("worst_n_top").fill_null(0) != 1)
            .then(pl.lit("tie_worst"))
            .when(pl.col("best") == pl.col("worst"))
            .then(pl.lit("best_equals_worst"))
            .otherwise(pl.lit("ok"))
            .alias("reason"),
            ((pl.col("best_votes") + pl.col("worst_votes")) / (2 * pl.col("n_annotators"))).alias("agreement"),
        )
        .drop("best_n_top", "worst_n_top")
        .sort("candidate_set_id")
    )
    return Votes(verdicts, tally.best_counts, tally.worst_counts)


def model_verdicts(tally: Tally, fit: Reliability, min_annotators: int) -> Votes:
    """Verdicts from the annotator-reliability model (``--aggregate dawid-skene``): best and worst are the
    most probable (best, worst) of each set's posterior, so a tie or a best == worst vote never leaves a
    set without a verdict; only ``min_annotators`` excludes (reason ``too_few_annotators``). The vote
    columns count the votes for the model's picks."""
    post = fit.posterior.select("candidate_set_id", "best", "worst")

    def votes_for(counts: pl.DataFrame, pick: str) -> pl.DataFrame:
        return counts.rename({"label": pick, "votes": f"{pick}_votes"})

    verdicts = (
        tally.per_set.select("candidate_set_id", "n_annotators")
        .join(post, on="candidate_set_id", how="left")
        .join(votes_for(tally.best_counts, "best"), on=["candidate_set_id", "best"], how="left")
        .join(votes_for(tally.worst_counts, "worst"), on=["candidate_set_id", "worst"], how="left")
        .with_columns(pl.col("best_votes", "worst_votes").fill_null(0))
        .with_columns(
            pl.when(pl.col("n_annotators") < min_annotators)
            .then(pl.lit("too_few_annotators"))
            .otherwise(pl.lit("ok"))
            .alias("reason"),
            ((pl.col("best_votes") + pl.col("worst_votes")) / (2 * pl.col("n_annotators"))).alias("agreement"),
        )
        .select("candidate_set_id", "n_annotators", "best", "best_votes", "worst", "worst_votes", "reason", "agreement")
        .sort("candidate_set_id")
    )
    return Votes(verdicts, tally.best_counts, tally.worst_counts, fit)


def aggregate_votes(annotations: pl.DataFrame, min_annotators: int) -> Votes:
    """Verdict for every candidate set that has at least one submitted annotation."""
    return verdicts_of(tally_votes(annotations), min_annotators)


def reason_counts(verdicts: pl.DataFrame) -> dict[str, int]:
    """How many sets were excluded for each reason (zeros included), plus how many were usable."""
    found = dict(verdicts.group_by("reason").len().iter_rows())
    return {"ok": int(found.get("ok", 0)), **{r: int(found.get(r, 0)) for r in REASONS}}


def fleiss_kappa(counts: pl.DataFrame) -> float | None:
    """Fleiss' kappa generalised to a varying number of raters per item (items with >= 2 raters)."""
    per_item = (
        counts.group_by("candidate_set_id")
        .agg(pl.col("votes").sum().alias("n"), (pl.col("votes") ** 2).sum().alias("sq"))
        .filter(pl.col("n") >= 2)
    )
    if per_item.is_empty():
        return None
    p_bar = per_item.select(((pl.col("sq") - pl.col("n")) / (pl.col("n") * (pl.col("n") - 1))).mean()).item()
    kept = counts.join(per_item.select("candidate_set_id"), on="candidate_set_id")
    total = kept["votes"].sum()
    p_e = kept.group_by("label").agg(pl.col("votes").sum()).select(((pl.col("votes") / total) ** 2).sum()).item()
    if p_e >= 1:
        return None
    return round(float((p_bar - p_e) / (1 - p_e)), 4)


def agreement_stats(votes: Votes, usable: pl.DataFrame | None = None) -> dict[str, object]:
    """Summary for the dataset card: agreement of the usable sets, unanimity, Fleiss' kappa."""
    v = votes.verdicts.filter(pl.col("reason") == "ok") if usable is None else usable
    multi = v.filter(pl.col("n_annotators") >= 2)

    def share(expr: pl.Expr) -> float | None:
        return None if multi.is_empty() else round(float(multi.select(expr.mean()).item()), 4)

    return {
        "sets_with_submitted_annotations": votes.verdicts.height,
        "mean_annotators_per_set": round(float(votes.verdicts["n_annotators"].mean() or 0), 3),
        "mean_agreement": None if v.is_empty() else round(float(v["agreement"].mean()), 4),
        "unanimous_best_share": share(pl.col("best_votes") == pl.col("n_annotators")),
        "unanimous_worst_share": share(pl.col("worst_votes") == pl.col("n_annotators")),
        "fleiss_kappa_best": fleiss_kappa(votes.best_counts),
        "fleiss_kappa_worst": fleiss_kappa(votes.worst_counts),
    }

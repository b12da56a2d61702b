"""The preferenceTraining subset: TRL conversational preference pairs plus GRPO prompts.

``train`` rows follow TRL's conversational preference format (``prompt`` = system prompt + context
with user->"user", character->"assistant"; ``chosen``/``rejected`` = one assistant message each),
so ``trl.RewardTrainer`` tokenises them with the model's chat template unchanged. ``grpo`` holds
prompt-only rows from other dialogues (or characters with ``split_by="character"``).

Human-agreement columns of ``train`` (a human-calibrated margin to hold AAM's self-calibrated one
against; ``charm-train rm --loss margin --margin-source agreement|bws``):

* ``n_annotators``: submitted annotations of the candidate set (N);
* ``chosen_best_votes`` / ``rejected_worst_votes``: how many of the N picked ``chosen`` as best and
  ``rejected`` as worst;
* ``margin_agreement`` = (chosen_best_votes + rejected_worst_votes) / (2N), in [0, 1];
* ``margin_judge``: the LLM judge's score(chosen) - score(rejected), raw 1-10 scores, in [-9, 9]
  (the paper's GPT-Margin; see ``judge_margin``); null when a reply has no judge score;
* ``margin_bws``: best-worst scaling gap. A reply's BWS score is (#best - #worst) / N in [-1, 1];
  ``margin_bws`` = score(chosen) - score(rejected), in [-2, 2] (2 = everyone picked chosen as best and
  rejected as worst).
* ``label_confidence``: with ``--aggregate dawid-skene``, the posterior probability that chosen beats
  rejected under the annotator-reliability model (``reliability.pair_win_probability``), in [0, 1];
  null with majority votes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from charm_builder.export.inputs import Inputs
from charm_builder.export.judge_margin import scores_of, with_margin_judge
from charm_builder.export.load import system_prompt_expr
from charm_builder.export.role_reward import attach_candidates, drop_flagged, drop_identical, with_texts
from charm_builder.export.splits import SPLIT_UNITS, SplitBy, pick_fraction, row_ids
from charm_builder.export.votes import Votes, reason_counts
from schemas import CHAT_ROLES, GRPO_COLUMNS, PAIR_TEXT_COLUMNS, TRAIN_COLUMNS

PairPolicy = Literal["best-worst", "maxdiff", "all"]  # "all": maxdiff's first name, still accepted

# Planned rows before their texts are read: what selection needs (see ``train_rows`` / ``grpo_rows``).
TRAIN_PLAN_COLUMNS: tuple[str, ...] = (
    *(c for c in TRAIN_COLUMNS if c not in PAIR_TEXT_COLUMNS),
    "chosen_label",
    "rejected_label",
    "context_key",
)
GRPO_PLAN_COLUMNS: tuple[str, ...] = (*(c for c in GRPO_COLUMNS if c not in PAIR_TEXT_COLUMNS), "context_key")


@dataclass
class PreferenceResult:
    train: pl.DataFrame  # TRAIN_PLAN_COLUMNS
    grpo: pl.DataFrame  # GRPO_PLAN_COLUMNS
    exclusions: dict[str, int] = field(default_factory=dict)
    units: dict[str, int] = field(default_factory=dict)  # split units per split


def prompt_expr() -> pl.Expr:
    """System prompt, then the context as TRL chat messages."""
    system = pl.struct(role=pl.lit("system"), content=pl.col("system_prompt"))
    turns = pl.col("context").list.eval(
        pl.struct(
            role=pl.element().struct.field("role").replace_strict(CHAT_ROLES),
            content=pl.element().struct.field("text"),
        )
    )
    return pl.concat_list(system, turns).alias("prompt")


def _assistant(column: str) -> pl.Expr:
    return pl.concat_list(pl.struct(role=pl.lit("assistant"), content=pl.col(column))).alias(column)


def candidate_pairs(usable: pl.DataFrame, candidates: pl.DataFrame, policy: PairPolicy) -> pl.DataFrame:
    """(candidate_set_id, chosen_label, rejected_label) under the pair policy: best-worst gives one pair per
    set; maxdiff (alias all) the nine a best/worst pick of six implies (best over the five others, each
    of the four middle replies over worst)."""
    base = usable.select(
        "candidate_set_id", pl.col("best").alias("chosen_label"), pl.col("worst").alias("rejected_label")
    )
    if policy == "best-worst":
        return base
    labels = candidates.select("candidate_set_id", "label").join(
        usable.select("candidate_set_id", "best", "worst"), on="candidate_set_id"
    )
    best_vs_other = labels.filter(pl.col("label") != pl.col("best")).select(
        "candidate_set_id", pl.col("best").alias("chosen_label"), pl.col("label").alias("rejected_label")
    )
    other_vs_worst = labels.filter((pl.col("label") != pl.col("best")) & (pl.col("label") != pl.col("worst"))).select(
        "candidate_set_id", pl.col("label").alias("chosen_label"), pl.col("worst").alias("rejected_label")
    )
    return pl.concat([best_vs_other, other_vs_worst]).unique(maintain_order=True)


def pair_policy_block(policy: PairPolicy, train: pl.DataFrame) -> dict[str, object]:
    """The card's record of the pair policy: its name, pairs and candidate sets in ``train``."""
    sets = train["candidate_set_id"].n_unique() if train.height else 0
    return {
        "policy": "maxdiff" if policy == "all" else policy,
        "pairs": train.height,
        "candidate_sets": sets,
    }


def build_preference(
    inputs: Inputs,
    votes: Votes,
    *,
    seed: int,
    claimed_dialogues: Collection[str],
    policy: PairPolicy = "best-worst",
    split_by: SplitBy = "dialogue",
    grpo_fraction: float = 0.1,
    judge: tuple[str, str] | None = None,
) -> PreferenceResult:
    """Split the unclaimed candidate sets into RM pairs (``train``) and GRPO prompts (``grpo``).

    ``judge`` = (judge, prompt version) whose scores fill ``margin_judge`` (null everywhere when None)."""
    unit = SPLIT_UNITS[split_by]
    sets = inputs.candidate_sets.select("candidate_set_id", "dialogue_id").join(
        inputs.dialogues.select("dialogue_id", "character_id"), on="dialogue_id", how="inner"
    )
    claimed = list(claimed_dialogues)
    claimed_units = sets.filter(pl.col("dialogue_id").is_in(claimed))[unit].unique()
    if split_by == "character":  # reserved dialogues may have no candidate set: look their characters up directly
        claimed_units = pl.concat(
            [claimed_units, inputs.dialogues.filter(pl.col("dialogue_id").is_in(claimed))["character_id"]]
        ).unique()
    pool = sets.filter(~pl.col("dialogue_id").is_in(claimed) & ~pl.col(unit).is_in(claimed_units.implode()))
    units = pool[unit].unique().to_list()
    grpo_units = pick_fraction(units, grpo_fraction, seed)
    pool = pool.with_columns(pl.col(unit).is_in(list(grpo_units)).alias("_grpo"))
    exclusions = {"claimed_by_other_subsets": sets.height - pool.height}

    # train: pairs from annotated sets with a clear verdict
    train_sets = pool.filter(~pl.col("_grpo")).select("candidate_set_id")
    verdicts = votes.verdicts.join(train_sets, on="candidate_set_id", how="inner")
    exclusions.update({k: v for k, v in reason_counts(verdicts).items() if k != "ok"})
    exclusions["unannotated"] = train_sets.height - verdicts.height
    usable = verdicts.filter(pl.col("reason") == "ok")
    pairs = attach_candidates(candidate_pairs(usable, inputs.candidates, policy), inputs.candidates)
    pairs, exclusions["flagged_candidate"] = drop_flagged(pairs)  # pairs with an empty/duplicate side
    pairs, exclusions["identical_texts"] = drop_identical(pairs)
    n = usable.select("candidate_set_id", "n_annotators")

    def votes_of(counts: pl.DataFrame, side: str, name: str) -> pl.DataFrame:
        return counts.rename({"label": f"{side}_label", "votes": name})

    pairs = (
        pairs.join(n, on="candidate_set_id")
        .join(votes_of(votes.best_counts, "chosen", "_cb"), on=["candidate_set_id", "chosen_label"], how="left")
        .join(votes_of(votes.worst_counts, "chosen", "_cw"), on=["candidate_set_id", "chosen_label"], how="left")
        .join(votes_of(votes.best_counts, "rejected", "_rb"), on=["candidate_set_id", "rejected_label"], how="left")
        .join(votes_of(votes.worst_counts, "rejected", "_rw"), on=["candidate_set_id", "rejected_label"], how="left")
        .with_columns(pl.col("_cb", "_cw", "_rb", "_rw").fill_null(0))
        .with_columns(
            ((pl.col("_cb") + pl.col("_rw")) / (2 * pl.col("n_annotators"))).alias("margin_agreement"),
            pl.col("_cb").alias("chosen_best_votes"),
            pl.col("_rw").alias("rejected_worst_votes"),
            ((pl.col("_cb") - pl.col("_cw") - pl.col("_rb") + pl.col("_rw")) / pl.col("n_annotators")).alias(
                "margin_bws"
            ),
        )
    )
    pairs = pairs.with_columns(
        votes.reliability.pair_confidence(pairs)
        if votes.reliability is not None
        else pl.lit(None, dtype=pl.Float64).alias("label_confidence")
    )
    pairs = with_margin_judge(pairs, scores_of(inputs.judge_scores, judge))
    train = _with_dialogue(inputs, pairs)
    train = train.with_columns(row_ids("pair", train, ["candidate_set_id", "chosen_label", "rejected_label"]))
    train = train.select(*TRAIN_PLAN_COLUMNS).sort("id")

    grpo = _with_dialogue(inputs, pool.filter(pl.col("_grpo")).select("candidate_set_id"))
    grpo = grpo.with_columns(row_ids("grpo", grpo, ["candidate_set_id"])).select(*GRPO_PLAN_COLUMNS)
    units_per_split = {"train": len(units) - len(grpo_units), "grpo": len(grpo_units)}
    return PreferenceResult(train, grpo.sort("id"), exclusions, units_per_split)


def _with_dialogue(inputs: Inputs, frame: pl.DataFrame) -> pl.DataFrame:
    """Join context_key + dialogue/character columns (the texts come later: ``train_rows``/``grpo_rows``)."""
    ctx = inputs.sets_with_dialogues(frame["candidate_set_id"]).select(
        "candidate_set_id", "context_key", "dialogue_id", "character_id", "language", "dimension"
    )
    return frame.join(ctx, on="candidate_set_id", how="inner")


def train_rows(plan: pl.DataFrame, sets: pl.DataFrame, characters: pl.DataFrame) -> pl.DataFrame:
    """Planned train rows (``TRAIN_PLAN_COLUMNS``, in order) with prompt and replies: ``TRAIN_COLUMNS`` +
    context_key. ``sets``: the rows' candidate sets as ``load.fetch_candidate_sets`` returns them."""
    return (
        _prompted(with_texts(plan, sets, characters))
        .with_columns(_assistant("chosen"), _assistant("rejected"))
        .select(*TRAIN_COLUMNS, "context_key")
    )


def grpo_rows(plan: pl.DataFrame, sets: pl.DataFrame, characters: pl.DataFrame) -> pl.DataFrame:
    """Planned grpo rows with their prompt: ``GRPO_COLUMNS`` + context_key."""
    return _prompted(with_texts(plan, sets, characters)).select(*GRPO_COLUMNS, "context_key")


def _prompted(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.with_columns(system_prompt_expr()).with_columns(prompt_expr())

"""The roleReward subset: the RM benchmark of paper Table 2.

One item per candidate set whose dialogue targets knowledge_consistency or attractiveness, with
at least ``min_annotators`` submitted annotations and a clear majority best and worst (see
``votes``). Items are balanced over dimension x language: ``size`` is divided evenly between the
four cells; a cell with fewer usable items contributes all it has and the shortfall is reported.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field

import polars as pl

from charm_builder.export.inputs import Inputs
from charm_builder.export.load import explode_candidates, system_prompt_expr
from charm_builder.export.splits import row_ids, with_seeded_key
from charm_builder.export.votes import Votes, reason_counts
from schemas import LANGUAGES, ROLE_REWARD_DIMENSIONS
from schemas import ROLE_REWARD_COLUMNS as COLUMNS

CELLS: tuple[tuple[str, str], ...] = tuple((d, lang) for d in ROLE_REWARD_DIMENSIONS for lang in LANGUAGES)
DEFAULT_SIZE = 4000  # paper Table 2
SMALL_POOL_SHARE = 0.2  # roleReward's share of a pool smaller than DEFAULT_SIZE when --size is not given


# A planned row before its texts are read: what selection needs (see ``role_reward_rows``).
TEXT_COLUMNS: tuple[str, ...] = ("context", "system_prompt", "chosen", "rejected")
PLAN_COLUMNS: tuple[str, ...] = (
    *(c for c in COLUMNS if c not in TEXT_COLUMNS),
    "chosen_label",
    "rejected_label",
    "context_key",
)


@dataclass
class RoleRewardResult:
    rows: pl.DataFrame  # PLAN_COLUMNS (texts are added by role_reward_rows)
    exclusions: dict[str, int] = field(default_factory=dict)
    available: dict[str, int] = field(default_factory=dict)  # usable items per "dimension/language" cell
    quota: dict[str, int] = field(default_factory=dict)
    shortfall: dict[str, int] = field(default_factory=dict)
    mode: str = "size"  # size (--size given) | quota (DEFAULT_SIZE) | share (small pool, SMALL_POOL_SHARE)
    size: int = DEFAULT_SIZE  # the target actually used


def auto_quotas(available: dict[str, int], size: int | None) -> tuple[dict[str, int], str, int]:
    """Per-cell quotas, the mode and the target size (see the module docstring)."""
    if size is not None:
        return cell_quotas(size), "size", size
    if sum(available.values()) >= DEFAULT_SIZE:
        return cell_quotas(DEFAULT_SIZE), "quota", DEFAULT_SIZE
    quotas = {cell: int(n * SMALL_POOL_SHARE) for cell, n in available.items()}
    return quotas, "share", sum(quotas.values())


def cell_quotas(size: int) -> dict[str, int]:
    """``size`` split as evenly as possible over the dimension x language cells."""
    base, extra = divmod(size, len(CELLS))
    return {f"{d}/{lang}": base + (1 if i < extra else 0) for i, (d, lang) in enumerate(CELLS)}


def attach_candidates(pairs: pl.DataFrame, candidates: pl.DataFrame) -> pl.DataFrame:
    """Add chosen/rejected model from the candidates of each pair's set, ``_flagged`` (either side is
    flagged empty or duplicate) and ``_same_text`` (both replies have the same text, compared by hash).
    Pairs whose labels are not among the set's candidates are dropped."""
    cand = candidates.select("candidate_set_id", "label", "text_key", "model_id", "unusable")
    return (
        pairs.join(
            cand.rename({"label": "chosen_label", "text_key": "_ck", "model_id": "chosen_model", "unusable": "_cu"}),
            on=["candidate_set_id", "chosen_label"],
            how="inner",
        )
        .join(
            cand.rename(
                {"label": "rejected_label", "text_key": "_rk", "model_id": "rejected_model", "unusable": "_ru"}
            ),
            on=["candidate_set_id", "rejected_label"],
            how="inner",
        )
        .with_columns(
            (pl.col("_cu") | pl.col("_ru")).alias("_flagged"), (pl.col("_ck") == pl.col("_rk")).alias("_same_text")
        )
        .drop("_cu", "_ru", "_ck", "_rk")
    )


def drop_identical(pairs: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop pairs whose chosen and rejected replies have the same text; returns the kept pairs and how many
    were dropped."""
    kept = pairs.filter(~pl.col("_same_text")).drop("_same_text")
    return kept, pairs.height - kept.height


def drop_flagged(pairs: pl.DataFrame) -> tuple[pl.DataFrame, int]:
    """Drop pairs whose chosen or rejected reply is flagged empty/duplicate (no substitute is taken:
    the annotators judged that reply, so another candidate in its place would be a preference nobody
    expressed). Returns the kept pairs and how many were dropped."""
    kept = pairs.filter(~pl.col("_flagged")).drop("_flagged")
    return kept, pairs.height - kept.height


def build_role_reward(
    inputs: Inputs, votes: Votes, *, size: int | None, seed: int, reserved_dialogues: Collection[str] = ()
) -> RoleRewardResult:
    """Select the roleReward items (planned rows; ``role_reward_rows`` adds the texts)."""
    sets = inputs.candidate_sets.select("candidate_set_id", "dialogue_id").join(
        inputs.dialogues.select("dialogue_id", "dimension", "language"), on="dialogue_id", how="inner"
    )
    targeted = sets.filter(pl.col("dimension").is_in(ROLE_REWARD_DIMENSIONS))
    if reserved_dialogues:
        targeted = targeted.filter(~pl.col("dialogue_id").is_in(list(reserved_dialogues)))
    verdicts = votes.verdicts.join(targeted.select("candidate_set_id"), on="candidate_set_id", how="inner")
    exclusions = {k: v for k, v in reason_counts(verdicts).items() if k != "ok"}
    exclusions["unannotated"] = targeted.height - verdicts.height

    usable = (
        verdicts.filter(pl.col("reason") == "ok")
        .rename({"best": "chosen_label", "worst": "rejected_label"})
        .join(targeted, on="candidate_set_id", how="inner")
    )
    usable, exclusions["flagged_candidate"] = drop_flagged(attach_candidates(usable, inputs.candidates))
    usable, exclusions["identical_texts"] = drop_identical(usable)

    available = {f"{d}/{lang}": 0 for d, lang in CELLS}
    available.update(
        {f"{d}/{lang}": int(n) for d, lang, n in usable.group_by("dimension", "language").len().iter_rows()}
    )
    quotas, mode, target = auto_quotas(available, size)
    ranked = with_seeded_key(usable, "candidate_set_id", seed).sort("_key", "candidate_set_id")
    chosen = ranked.filter(
        pl.int_range(pl.len()).over("dimension", "language")
        < pl.concat_str("dimension", pl.lit("/"), "language").replace_strict(quotas)
    )
    shortfall = {cell: quotas[cell] - available[cell] for cell in quotas if available[cell] < quotas[cell]}

    chosen = (
        inputs.sets_with_dialogues(chosen["candidate_set_id"])
        .select("candidate_set_id", "context_key", "character_id")
        .join(chosen, on="candidate_set_id", how="inner")
    )
    rows = (
        chosen.with_columns(row_ids("rr", chosen, ["candidate_set_id", "chosen_label", "rejected_label"]))
        .select(*PLAN_COLUMNS)
        .sort("dimension", "language", "id")
    )
    return RoleRewardResult(rows, exclusions, available, quotas, shortfall, mode, target)


def role_reward_rows(plan: pl.DataFrame, sets: pl.DataFrame, characters: pl.DataFrame) -> pl.DataFrame:
    """Planned rows (``PLAN_COLUMNS``, in order) with their texts: ``COLUMNS`` + context_key. ``sets`` are the
    rows' candidate sets as ``load.fetch_candidate_sets`` returns them."""
    return with_texts(plan, sets, characters).with_columns(system_prompt_expr()).select(*COLUMNS, "context_key")


def with_texts(plan: pl.DataFrame, sets: pl.DataFrame, characters: pl.DataFrame) -> pl.DataFrame:
    """Add ``context``, chosen/rejected reply texts (when the plan has labels) and the character's system
    prompts (``system_prompt_zh``/``_en``) to planned rows, keeping their order."""
    frame = plan.join(
        sets.select("candidate_set_id", "context"), on="candidate_set_id", how="left", maintain_order="left"
    )
    if "chosen_label" in plan.columns:
        texts = explode_candidates(sets).select("candidate_set_id", "label", "text")
        for side in ("chosen", "rejected"):
            frame = frame.join(
                texts.rename({"label": f"{side}_label", "text": side}),
                on=["candidate_set_id", f"{side}_label"],
                how="left",
                maintain_order="left",
            )
    prompts = characters.select("character_id", "system_prompt_zh", "system_prompt_en")
    return frame.join(prompts, on="character_id", how="left", maintain_order="left")

"""Shift-aware splits (`charm-build export --shift user|character|dialogue`).

Details: docs/design.md#shift-splits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import polars as pl

from charm_builder.export import divergence as dv
from charm_builder.export.inputs import Inputs
from charm_builder.export.load import query_frame, system_prompt_expr
from charm_builder.store import Workspace, reads
from charm_kernel.errors import CharmError

SHIFTS: tuple[str, ...] = ("user", "character", "dialogue")
OOD_SHARE = 0.2
CULTURE_TAGS: tuple[str, ...] = (
    "zh-culture",
    "western",
    "overseas-chinese",
    "japanese",
    "korean",
    "indian",
    "brazilian",
    "african",
    "latin-american",
    "middle-eastern",
    "european",
)
FEATURE_COLUMNS: tuple[str, ...] = (
    "candidate_set_id",
    "dialogue_id",
    "language",
    "user_group",
    "user_tags",
    "user_text",
    "primary_category",
    "sub_category",
    "character_text",
    "n_turns",
    "turn_texts",
    "dialogue_text",
)


@dataclass
class ShiftPlan:
    """Which candidate sets are out of distribution, and why."""

    kind: str
    holdout: list[str]
    ood_sets: set[str]
    group_shares: dict[str, float] = field(default_factory=dict)  # share of candidate sets per group
    threshold: int | None = None  # dialogue shift: max turns of an ID context

    def describe(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "holdout": self.holdout,
            "threshold": self.threshold,
            "ood_candidate_sets": len(self.ood_sets),
            "group_shares": {k: round(v, 4) for k, v in sorted(self.group_shares.items())},
        }


def culture_group(tags: list[str] | None) -> str:
    """The persona's culture group: first tag in CULTURE_TAGS or ending in '-culture', else 'unknown'."""
    for tag in tags or []:
        if tag in CULTURE_TAGS or tag.endswith("-culture"):
            return tag
    return "unknown"


def load_users(ws: Workspace) -> pl.DataFrame:
    """dialogue_id -> user_id, the persona's tags and prompts (nulls for dialogues without a persona)."""
    dialogues = query_frame(reads.dialogue_users(ws), {"dialogue_id": pl.String, "user_id": pl.String})
    users = query_frame(
        reads.users(ws),
        {"user_id": pl.String, "tags_json": pl.String, "user_prompt_zh": pl.String, "user_prompt_en": pl.String},
    )
    users = users.with_columns(pl.col("tags_json").str.json_decode(pl.List(pl.String)).alias("user_tags")).drop(
        "tags_json"
    )
    return dialogues.join(users, on="user_id", how="left")


def set_features(inputs: Inputs, users: pl.DataFrame) -> pl.DataFrame:
    """One row per candidate set with the attributes the shifts and the divergences use."""
    zh, en = pl.col("user_prompt_zh"), pl.col("user_prompt_en")
    frame = (
        inputs.candidate_sets.select("candidate_set_id", "dialogue_id", "context")
        .join(inputs.dialogues, on="dialogue_id", how="inner")
        .join(users, on="dialogue_id", how="left")
        .with_columns(
            system_prompt_expr().alias("character_text"),
            pl.when(pl.col("language") == "zh")
            .then(pl.coalesce(zh, en))
            .otherwise(pl.coalesce(en, zh))
            .fill_null("")
            .alias("user_text"),
            pl.col("user_tags").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("context").list.len().cast(pl.Int64).alias("n_turns"),
            pl.col("context").list.eval(pl.element().struct.field("text")).alias("turn_texts"),
            pl.col("primary_category").fill_null("unknown"),
            pl.col("sub_category").fill_null("unknown"),
        )
    )
    groups = [culture_group(t) for t in frame["user_tags"].to_list()]
    return frame.with_columns(
        pl.Series("user_group", groups, dtype=pl.String), pl.col("turn_texts").list.join("\n").alias("dialogue_text")
    ).select(FEATURE_COLUMNS)


def _default_group(shares: dict[str, float]) -> str:
    eligible = {g: s for g, s in shares.items() if g != "unknown" and s <= 0.5}
    if not eligible or len([g for g in shares if g != "unknown"]) < 2:
        raise CharmError(
            f"cannot choose a held-out group automatically (groups: {_shares_text(shares)}); pass --holdout"
        )
    return min(eligible, key=lambda g: (abs(eligible[g] - OOD_SHARE), g))


def _shares_text(shares: dict[str, float]) -> str:
    return ", ".join(f"{g} {s:.0%}" for g, s in sorted(shares.items())) or "none"


def _shares(values: list[Any]) -> dict[str, float]:
    total = len(values)
    out: dict[str, float] = {}
    for v in values:
        out[str(v)] = out.get(str(v), 0.0) + 1.0 / total
    return out


def _tokens(holdout: str | None) -> list[str]:
    return [t.strip() for t in (holdout or "").split(",") if t.strip()]


def plan_shift(features: pl.DataFrame, kind: str, holdout: str | None = None) -> ShiftPlan:
    """Decide the OOD candidate sets for ``kind`` (see module doc). Raises CharmError on bad input."""
    if kind not in SHIFTS:
        raise CharmError(f"unknown --shift {kind!r}; choose one of: {', '.join(SHIFTS)}")
    if features.is_empty():
        raise CharmError("--shift: the workspace has no candidate sets to split")
    sets = features["candidate_set_id"].to_list()
    if kind == "dialogue":
        plan = _plan_dialogue(features, holdout)
    else:
        column = "user_group" if kind == "user" else "primary_category"
        shares = _shares(features[column].to_list())
        tokens = _tokens(holdout) or [_default_group(shares)]
        match = _matcher(features, kind, tokens)
        plan = ShiftPlan(kind, tokens, {s for s, m in zip(sets, match, strict=True) if m}, shares)
    if not plan.ood_sets:
        raise CharmError(f"--shift {kind} --holdout {','.join(plan.holdout)}: matches no candidate set")
    if len(plan.ood_sets) == len(sets):
        raise CharmError(
            f"--shift {kind} --holdout {','.join(plan.holdout)}: holds out every candidate set; "
            "nothing is left for training"
        )
    return plan


def _matcher(features: pl.DataFrame, kind: str, tokens: list[str]) -> list[bool]:
    if kind == "user":
        tags = {t for row in features["user_tags"].to_list() for t in row}
        langs = set(features["language"].to_list())
        for tok in tokens:
            if tok.startswith("lang:") and tok[5:] not in langs:
                raise CharmError(
                    f"--holdout {tok}: no dialogue in language {tok[5:]!r} (have: {', '.join(sorted(langs))})"
                )
            if not tok.startswith("lang:") and tok not in tags:
                raise CharmError(
                    f"--holdout {tok}: no persona has this tag (tags: {', '.join(sorted(tags)) or 'none'})"
                )
        rows = zip(features["user_tags"].to_list(), features["language"].to_list(), strict=True)
        return [
            any((t.startswith("lang:") and lang == t[5:]) or t in user_tags for t in tokens) for user_tags, lang in rows
        ]
    cats = set(features["primary_category"].to_list()) | set(features["sub_category"].to_list())
    for tok in tokens:
        if tok not in cats:
            raise CharmError(f"--holdout {tok}: no character of this category (have: {', '.join(sorted(cats))})")
    rows = zip(features["primary_category"].to_list(), features["sub_category"].to_list(), strict=True)
    return [p in tokens or s in tokens for p, s in rows]


def _plan_dialogue(features: pl.DataFrame, holdout: str | None) -> ShiftPlan:
    turns = features["n_turns"].to_list()
    shares = _shares(turns)
    lengths = sorted(set(turns))
    if holdout:
        try:
            threshold = int(holdout)
        except ValueError:
            raise CharmError(
                f"--shift dialogue --holdout {holdout!r}: expected a number of turns N "
                "(contexts longer than N are held out)"
            ) from None
        if threshold < 1:
            raise CharmError(f"--shift dialogue --holdout {threshold}: must be at least 1")
    else:
        if len(lengths) < 2:
            raise CharmError(f"--shift dialogue: every context has {lengths[0]} turns; nothing to hold out")
        ood = {n: sum(t > n for t in turns) / len(turns) for n in lengths[:-1]}
        eligible = {n: s for n, s in ood.items() if s <= 0.5} or ood
        threshold = min(eligible, key=lambda n: (abs(eligible[n] - OOD_SHARE), -n))
    sets = features["candidate_set_id"].to_list()
    ood_sets = {s for s, t in zip(sets, turns, strict=True) if t > threshold}
    return ShiftPlan("dialogue", [f">{threshold} turns"], ood_sets, shares, threshold)


def split_inputs(inputs: Inputs, plan: ShiftPlan) -> tuple[Inputs, Inputs]:
    """(ID inputs, OOD inputs): the same frames with the candidate sets restricted to each side."""
    ood = pl.col("candidate_set_id").is_in(list(plan.ood_sets))
    return (
        dataclasses.replace(inputs, candidate_sets=inputs.candidate_sets.filter(~ood)),
        dataclasses.replace(inputs, candidate_sets=inputs.candidate_sets.filter(ood)),
    )


# ------------------------------------------------------------------------------- divergences

CATEGORICAL: dict[str, tuple[str, ...]] = {
    "user": ("user_group", "language"),
    "character": ("primary_category", "sub_category"),
    "dialogue": ("n_turns",),
}
TEXTS: dict[str, str] = {"user": "user_text", "character": "character_text", "dialogue": "dialogue_text"}


def shift_divergences(
    features: pl.DataFrame,
    splits: dict[str, pl.DataFrame],
    *,
    train: str = "train",
    embed: Callable[[list[str]], np.ndarray] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """JS divergence between ``train`` and every other split, per user / character / dialogue.

    Marginals are over the distinct candidate sets of each split (one input X per set, however
    many pairs it yields). ``embed`` (texts -> vectors) adds the embedding estimator.
    """
    by_split = {
        name: features.join(frame.select("candidate_set_id").unique(), on="candidate_set_id", how="semi").sort(
            "candidate_set_id"
        )
        for name, frame in splits.items()
    }
    tests = [name for name in splits if name != train]
    out: dict[str, Any] = {}
    for aspect, columns in CATEGORICAL.items():
        out[aspect] = {
            col: {
                t: _round(dv.categorical_js(by_split[train][col].to_list(), by_split[t][col].to_list())) for t in tests
            }
            for col in columns
        }
    if embed is not None:
        sampled = {name: f[dv.subsample(f.height, dv.EMBED_SAMPLE, seed)] for name, f in by_split.items()}
        texts = sorted({t for f in sampled.values() for aspect in TEXTS.values() for t in f[aspect].to_list()})
        vectors = dict(zip(texts, embed(texts), strict=True)) if texts else {}
        dim = len(next(iter(vectors.values()))) if vectors else 0

        def matrix(split: str, column: str) -> np.ndarray:
            rows = [vectors[t] for t in sampled[split][column].to_list()]
            return np.asarray(rows) if rows else np.zeros((0, dim))

        for aspect, column in TEXTS.items():
            out[aspect]["embedding"] = {
                t: _round(dv.embedding_js(matrix(train, column), matrix(t, column), seed=seed)) for t in tests
            }
    return out


def turn_overlap(features: pl.DataFrame, train: pl.DataFrame, test: pl.DataFrame) -> float | None:
    """Share of the test contexts' turns (by text) that occur in some training context."""

    def turns(frame: pl.DataFrame) -> list[str]:
        sets = features.join(frame.select("candidate_set_id").unique(), on="candidate_set_id", how="semi")
        return [t for texts in sets["turn_texts"].to_list() for t in texts]

    test_turns = turns(test)
    if not test_turns:
        return None
    seen = set(turns(train))
    return _round(sum(t in seen for t in test_turns) / len(test_turns))


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)

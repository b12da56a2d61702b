"""Workspace -> polars frames, from the store's bulk reads (``charm_builder.store.reads``).

Exports touch every candidate set and annotation, so validating hundreds of thousands of
pydantic objects would dominate the run time. The store validated each record when it was
written; its reads pull the few fields we need with SQLite JSON functions and polars decodes
the nested context lists only for the rows that are exported.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

import polars as pl

from charm_builder.store import Workspace, reads

BATCH_ROWS = 50_000

# A dialogue turn as stored (schemas.Message) and as exported in roleReward / dialogueQuality.
MESSAGE_DTYPE = pl.Struct({"role": pl.String, "speaker": pl.String, "text": pl.String})
CONTEXT_DTYPE = pl.List(MESSAGE_DTYPE)


def query_frame(cur: sqlite3.Cursor, schema: dict[str, pl.DataType]) -> pl.DataFrame:
    """Build a frame from a store read's cursor in batches (bounded Python-object memory)."""
    parts = []
    while rows := cur.fetchmany(BATCH_ROWS):
        parts.append(pl.DataFrame(rows, schema=schema, orient="row"))
    if not parts:
        return pl.DataFrame(schema=schema)
    return pl.concat(parts, rechunk=True)


def load_characters(ws: Workspace) -> pl.DataFrame:
    """One row per character: id, categories, names and system prompts per language."""
    return query_frame(
        reads.characters(ws),
        {
            "character_id": pl.String,
            "primary_category": pl.String,
            "sub_category": pl.String,
            "name_zh": pl.String,
            "name_en": pl.String,
            "system_prompt_zh": pl.String,
            "system_prompt_en": pl.String,
        },
    )


def load_dialogues(ws: Workspace) -> pl.DataFrame:
    """One row per dialogue: id, character, language, target dimension (no turns)."""
    return query_frame(
        reads.dialogues(ws),
        {
            "dialogue_id": pl.String,
            "character_id": pl.String,
            "language": pl.String,
            "dimension": pl.String,
        },
    )


def load_dialogue_turns(ws: Workspace, dialogue_ids: Sequence[str]) -> pl.DataFrame:
    """Turns of the given dialogues as a decoded ``context`` column."""
    ids = sorted(set(dialogue_ids))
    frames = []
    for start in range(0, len(ids), 900):  # stay under SQLite's bound-parameter limit
        chunk = ids[start : start + 900]
        frames.append(
            query_frame(reads.dialogue_turns(ws, chunk), {"dialogue_id": pl.String, "context_json": pl.String})
        )
    frame = pl.concat(frames) if frames else pl.DataFrame(schema={"dialogue_id": pl.String, "context_json": pl.String})
    return frame.with_columns(decode_context(pl.col("context_json"))).drop("context_json")


CANDIDATES_DTYPE = pl.List(
    pl.Struct({"label": pl.String, "model_id": pl.String, "text": pl.String, "flags": pl.List(pl.String)})
)
# Candidate flags (set when candidates are generated) that keep a reply out of every chosen/rejected slot.
UNUSABLE_FLAGS: tuple[str, ...] = ("empty", "duplicate")


def unusable_expr() -> pl.Expr:
    """True for a candidate flagged ``empty`` or ``duplicate``."""
    flags = pl.col("flags").fill_null(pl.lit([], dtype=pl.List(pl.String)))
    return flags.list.eval(pl.element().is_in(list(UNUSABLE_FLAGS))).list.any().fill_null(False).alias("unusable")


def load_sets_and_candidates(ws: Workspace) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Candidate sets (id, dialogue id, decoded ``context``) and their candidates (set, label, model, text,
    ``unusable``: flagged empty or duplicate).

    One pass over ``candidate_sets``: polars decodes each batch right away, so the JSON text of
    all sets is never held at once next to the decoded lists.
    """
    cur = reads.candidate_sets(ws)
    schema = {
        "candidate_set_id": pl.String,
        "dialogue_id": pl.String,
        "context_json": pl.String,
        "candidates_json": pl.String,
    }
    sets, cands = [], []
    while rows := cur.fetchmany(BATCH_ROWS // 5):
        frame = pl.DataFrame(rows, schema=schema, orient="row")
        sets.append(frame.select("candidate_set_id", "dialogue_id", decode_context(pl.col("context_json"))))
        cands.append(
            frame.select("candidate_set_id", pl.col("candidates_json").str.json_decode(CANDIDATES_DTYPE).alias("c"))
            .explode("c")
            .unnest("c")
            .filter(pl.col("label").is_not_null())
            .with_columns(unusable_expr())
            .drop("flags")
        )
    if not sets:
        return (
            pl.DataFrame(schema={"candidate_set_id": pl.String, "dialogue_id": pl.String, "context": CONTEXT_DTYPE}),
            pl.DataFrame(
                schema={
                    "candidate_set_id": pl.String,
                    "label": pl.String,
                    "model_id": pl.String,
                    "text": pl.String,
                    "unusable": pl.Boolean,
                }
            ),
        )
    return pl.concat(sets), pl.concat(cands)


def load_submitted_annotations(ws: Workspace, include_synthetic: bool = False) -> pl.DataFrame:
    """Submitted best/worst picks (drafts and discarded annotations never count). Synthetic (LLM-judge)
    annotations only with ``include_synthetic``: they are never mixed in silently."""
    return query_frame(
        reads.submitted_annotations(ws, include_synthetic),
        {
            "candidate_set_id": pl.String,
            "annotator": pl.String,
            "best": pl.String,
            "worst": pl.String,
        },
    )


def annotation_sources(ws: Workspace) -> dict[str, int]:
    """Submitted annotations by source: {"human": n, "synthetic": m}."""
    rows = reads.annotation_sources(ws)
    return {"human": int(rows.get("human", 0)), "synthetic": int(rows.get("synthetic", 0))}


def load_judge_scores(ws: Workspace) -> pl.DataFrame:
    """Every stored LLM-judge score: set, label, judge, prompt version, score (null when unparsed)."""
    return query_frame(
        reads.judge_scores(ws),
        {
            "candidate_set_id": pl.String,
            "label": pl.String,
            "judge": pl.String,
            "prompt_version": pl.String,
            "score": pl.Float64,
        },
    )


def simulator_settings(ws: Workspace) -> list[str]:
    """Distinct simulator settings (models + params JSON) over all dialogues, sorted."""
    return sorted(reads.simulator_settings(ws))


def decode_context(expr: pl.Expr) -> pl.Expr:
    """Decode a JSON list of schemas.Message into the ``context`` column."""
    return expr.str.json_decode(CONTEXT_DTYPE).alias("context")


def system_prompt_expr() -> pl.Expr:
    """The character's system prompt in the row's language, falling back to the other one."""
    zh, en = pl.col("system_prompt_zh"), pl.col("system_prompt_en")
    return (
        pl.when(pl.col("language") == "zh")
        .then(pl.coalesce(zh, en))
        .otherwise(pl.coalesce(en, zh))
        .fill_null("")
        .alias("system_prompt")
    )


def simulator_models(ws: Workspace) -> dict[str, list[str]]:
    """Simulator roles (user, character, refine, ...) -> distinct model ids over all dialogues."""
    rows = reads.simulator_models(ws)
    out: dict[str, list[str]] = {}
    for role, model in rows:
        out.setdefault(str(role), []).append(str(model))
    return out

"""The dialogueQuality subset and its workspace table ``dq_annotations``.

The annotation stage writes one row per (dialogue, dimension, language) with
``add_dq_annotation``: a human-written user query that continues the dialogue and probes one of
the six dimensions, plus the evaluation criteria an LLM judge scores against (paper appendix A.1).
``charm-build translate`` adds the other language's rows (``source_id`` points at the original;
``context`` and ``system_prompt`` hold the translated dialogue turns and character prompt).

Selection (the paper's 400 zh items, translated into 400 en): ``select_dq`` keeps at most
``per_language`` hand-written items (``source_id`` empty) per language, in a seeded order that
takes the six dimensions in turn, plus every translation of a kept item. Hand-written in one
language and translated, that is N + N = 2N items (800 with the default 400).
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field

import polars as pl
from pydantic import ValidationError

from charm_builder.export.load import CONTEXT_DTYPE, load_dialogue_turns, query_frame, system_prompt_expr
from charm_builder.export.splits import context_key_expr, row_ids, with_seeded_key
from charm_builder.store import Workspace, dq_annotations
from charm_kernel.errors import CharmError
from schemas import DIALOGUE_QUALITY_COLUMNS, Dialogue, DialogueQualityAnnotation


def add_dq_annotation(
    ws: Workspace,
    *,
    dialogue_id: str,
    dimension: str,
    language: str,
    user_query: str,
    criteria: list[str],
    annotator: str,
    context: list[dict] | None = None,
    system_prompt: str | None = None,
    source_id: str | None = None,
) -> str:
    """Validate and upsert one dialogueQuality annotation; returns its id.

    Raises CharmError (one line) for an unknown dialogue or an invalid field.
    """
    try:
        item = DialogueQualityAnnotation(
            dialogue_id=dialogue_id,
            dimension=dimension,
            language=language,
            user_query=user_query,
            criteria=criteria,
            annotator=annotator,
            context=context,
            system_prompt=system_prompt,
            source_id=source_id,
        )  # type: ignore[arg-type]
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        raise CharmError(f"dialogueQuality annotation for {dialogue_id}: field '{where}': {err['msg']}") from None
    if not ws.has(Dialogue, dialogue_id):
        raise CharmError(f"dialogueQuality annotation: dialogue {dialogue_id} is not in the workspace")
    ctx = json.dumps([m.model_dump() for m in item.context], ensure_ascii=False) if item.context else None
    dq_annotations.upsert(
        ws,
        item.id,
        item.dialogue_id,
        item.dimension,
        item.language,
        item.user_query,
        json.dumps(item.criteria, ensure_ascii=False),
        item.annotator,
        ctx,
        item.system_prompt,
        item.source_id,
    )
    return item.id


def load_dq_annotations(ws: Workspace) -> pl.DataFrame:
    """All rows of ``dq_annotations`` (empty frame when the table does not exist yet)."""
    return query_frame(
        dq_annotations.rows(ws),
        {
            "annotation_id": pl.String,
            "dialogue_id": pl.String,
            "dimension": pl.String,
            "language": pl.String,
            "user_query": pl.String,
            "criteria_json": pl.String,
            "annotator": pl.String,
            "context_json": pl.String,
            "system_prompt_override": pl.String,
            "source_id": pl.String,
        },
    )


DEFAULT_PER_LANGUAGE = 400  # paper: 400 zh items (and their 400 en translations)


def select_dq(ann: pl.DataFrame, per_language: int | None, seed: int) -> pl.DataFrame:
    """At most ``per_language`` hand-written rows per language (seeded, dimensions in turn) plus the
    translations of the kept rows. ``ann`` is ``load_dq_annotations`` (or any frame with
    ``annotation_id``, ``language``, ``dimension``, ``source_id``); None keeps every row."""
    if per_language is None or ann.is_empty():
        return ann
    originals = with_seeded_key(ann.filter(pl.col("source_id").is_null()), "annotation_id", seed)
    ranked = originals.with_columns(pl.col("_key").rank("ordinal").over("language", "dimension").alias("_round")).sort(
        "language", "_round", "_key", "annotation_id"
    )
    kept = ranked.filter(pl.int_range(pl.len()).over("language") < per_language)["annotation_id"]
    return ann.filter(pl.col("annotation_id").is_in(kept.implode()) | pl.col("source_id").is_in(kept.implode()))


@dataclass
class DialogueQualityResult:
    rows: pl.DataFrame  # DIALOGUE_QUALITY_COLUMNS + context_key
    dialogue_ids: set[str] = field(default_factory=set)
    exclusions: dict[str, int] = field(default_factory=dict)


def build_dialogue_quality(
    ws: Workspace,
    dialogues: pl.DataFrame,
    exclude_dialogues: Collection[str] = (),
    per_language: int | None = None,
    seed: int = 0,
) -> DialogueQualityResult:
    """The selected dialogueQuality annotations as items (context, query, criteria, dimension, language).

    ``dialogues`` is ``Inputs.dialogues`` (dialogue + character columns); ``per_language``/``seed``:
    see ``select_dq`` (None = every annotation).
    """
    ann = load_dq_annotations(ws)
    known = ann.join(dialogues.select("dialogue_id"), on="dialogue_id", how="semi")
    exclusions = {"unknown_dialogue": ann.height - known.height}
    selected = select_dq(known, per_language, seed)
    exclusions["over_per_language_quota"] = known.height - selected.height
    known = selected
    if exclude_dialogues:
        kept = known.filter(~pl.col("dialogue_id").is_in(list(exclude_dialogues)))
        exclusions["claimed_by_other_subsets"] = known.height - kept.height
        known = kept
    turns = load_dialogue_turns(ws, known["dialogue_id"].to_list())
    frame = (
        known.join(turns, on="dialogue_id", how="left")
        .join(
            dialogues.select("dialogue_id", "character_id", "system_prompt_zh", "system_prompt_en"),
            on="dialogue_id",
            how="left",
        )
        .with_columns(
            pl.coalesce(pl.col("context_json").str.json_decode(CONTEXT_DTYPE), pl.col("context")).alias("context"),
            pl.col("criteria_json").str.json_decode(pl.List(pl.String)).alias("criteria"),
            pl.coalesce(pl.col("system_prompt_override"), system_prompt_expr()).alias("system_prompt"),
        )
    )
    frame = frame.with_columns(row_ids("dq", frame, ["annotation_id"]), context_key_expr())
    rows = frame.select(*DIALOGUE_QUALITY_COLUMNS, "context_key").sort("language", "dimension", "id")
    return DialogueQualityResult(rows, set(known["dialogue_id"].to_list()), exclusions)

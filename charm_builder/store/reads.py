"""Bulk reads for the export stage: cursors over the few JSON fields it needs (no pydantic on the hot path).

Exports touch every candidate set and annotation; the store validated each record when it was written,
so these queries pull fields with SQLite's ``json_extract`` / ``json_each`` and hand back a cursor that
the caller fetches in batches. Column order is documented per function.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence

from charm_builder.store.workspace import Workspace

# The source of an annotation: human unless the record says otherwise (older records have no field).
ANNOTATION_SOURCE_SQL = "COALESCE(json_extract(data, '$.source'), 'human')"


def characters(ws: Workspace) -> sqlite3.Cursor:
    """Every character: id, primary_category, sub_category, name zh, name en, system prompt zh, system prompt en."""
    return ws.conn.execute("""
        SELECT id, primary_category, sub_category,
               json_extract(data, '$.name.zh'), json_extract(data, '$.name.en'),
               json_extract(data, '$.system_prompt.zh'), json_extract(data, '$.system_prompt.en')
        FROM characters""")


def dialogues(ws: Workspace) -> sqlite3.Cursor:
    """Every dialogue: id, character_id, language, target_dimension (no turns)."""
    return ws.conn.execute("SELECT id, character_id, language, target_dimension FROM dialogues")


def dialogue_users(ws: Workspace) -> sqlite3.Cursor:
    """Every dialogue: id, user_id (null without a persona)."""
    return ws.conn.execute("SELECT id, json_extract(data, '$.user_id') FROM dialogues")


def users(ws: Workspace) -> sqlite3.Cursor:
    """Every user persona: id, tags (JSON list), prompt zh, prompt en."""
    return ws.conn.execute("""
        SELECT id, json_extract(data, '$.tags'), json_extract(data, '$.prompt.zh'), json_extract(data, '$.prompt.en')
        FROM users""")


def dialogue_turns(ws: Workspace, dialogue_ids: Sequence[str]) -> sqlite3.Cursor:
    """The given dialogues (at most 900 ids: SQLite's bound-parameter limit): id, turns (JSON list)."""
    marks = ",".join("?" * len(dialogue_ids))
    return ws.conn.execute(
        f"SELECT id, json_extract(data, '$.turns') FROM dialogues WHERE id IN ({marks})", tuple(dialogue_ids)
    )


def candidate_sets(ws: Workspace) -> sqlite3.Cursor:
    """Every candidate set: id, dialogue_id, context (JSON list), candidates (JSON list).

    One pass: SQLite parses each document once (its JSON cache serves both extracts)."""
    return ws.conn.execute(
        "SELECT id, dialogue_id, json_extract(data, '$.context'), "
        "json_extract(data, '$.candidates') FROM candidate_sets"
    )


def submitted_annotations(ws: Workspace, include_synthetic: bool = False) -> sqlite3.Cursor:
    """Submitted annotations (human only unless ``include_synthetic``): candidate_set_id, annotator, best, worst."""
    where = "" if include_synthetic else f" AND {ANNOTATION_SOURCE_SQL} = 'human'"
    return ws.conn.execute(f"""
        SELECT candidate_set_id, annotator, json_extract(data, '$.best'), json_extract(data, '$.worst')
        FROM annotations WHERE status = 'submitted'{where}""")


def annotation_sources(ws: Workspace) -> dict[str, int]:
    """Submitted annotations counted by source ("human", "synthetic", ...)."""
    return dict(
        ws.conn.execute(
            f"SELECT {ANNOTATION_SOURCE_SQL}, COUNT(*) FROM annotations WHERE status = 'submitted' GROUP BY 1"
        ).fetchall()
    )


def human_annotated_set_ids(ws: Workspace) -> set[str]:
    """Candidate sets with at least one submitted human annotation."""
    rows = ws.conn.execute(
        f"SELECT DISTINCT candidate_set_id FROM annotations WHERE status = 'submitted' AND {ANNOTATION_SOURCE_SQL} = 'human'"
    )
    return {r[0] for r in rows}


def judge_scores(ws: Workspace) -> sqlite3.Cursor:
    """Every stored LLM-judge score: candidate_set_id, label, judge, prompt_version, score (null when unparsed)."""
    return ws.conn.execute("""
        SELECT candidate_set_id, json_extract(data, '$.label'), judge, json_extract(data, '$.prompt_version'),
               json_extract(data, '$.score')
        FROM judge_scores""")


def simulator_settings(ws: Workspace) -> list[str]:
    """Distinct simulator settings ("source models-JSON params-JSON") over all dialogues, unsorted."""
    rows = ws.conn.execute("""
        SELECT DISTINCT COALESCE(json_extract(data, '$.provenance.source'), '') || ' ' ||
               COALESCE(json(json_extract(data, '$.provenance.models')), '{}') || ' ' ||
               COALESCE(json(json_extract(data, '$.provenance.params')), '{}')
        FROM dialogues""").fetchall()
    return [r[0] for r in rows]


def simulator_models(ws: Workspace) -> list[tuple[str, str]]:
    """Distinct (simulator role, model id) pairs over all dialogues' provenance, sorted."""
    return ws.conn.execute("""
        SELECT DISTINCT m.key, m.value FROM dialogues, json_each(dialogues.data, '$.provenance.models') AS m
        ORDER BY 1, 2""").fetchall()

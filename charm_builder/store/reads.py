"""Bulk reads for the export stage (no pydantic on the hot path).

Exports touch every candidate set and annotation; the store validated each record when it was written,
so these reads hand back either the stored JSON documents page by page (the caller parses a page at once)
or cursors over a few fields pulled with SQLite's ``json_extract`` that the caller fetches in batches.
Column order is documented per function.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence

from charm_builder.store.workspace import Workspace

# The source of an annotation: human unless the record says otherwise (older records have no field).
ANNOTATION_SOURCE_SQL = "COALESCE(json_extract(data, '$.source'), 'human')"
# A dialogue's simulator setting: "source models-JSON params-JSON".
SIMULATOR_SETTING_SQL = """COALESCE(json_extract(data, '$.provenance.source'), '') || ' ' ||
               COALESCE(json(json_extract(data, '$.provenance.models')), '{}') || ' ' ||
               COALESCE(json(json_extract(data, '$.provenance.params')), '{}')"""


def characters(ws: Workspace) -> sqlite3.Cursor:
    """Every character: id, primary_category, sub_category, name zh, name en, system prompt zh, system prompt en."""
    return ws.conn.execute("""
        SELECT id, primary_category, sub_category,
               json_extract(data, '$.name.zh'), json_extract(data, '$.name.en'),
               json_extract(data, '$.system_prompt.zh'), json_extract(data, '$.system_prompt.en')
        FROM characters""")


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


def candidate_set_documents(ws: Workspace, page_rows: int) -> Iterator[list[bytes]]:
    """Every candidate set's stored JSON document (UTF-8 bytes, one line each), ``page_rows`` at a time,
    from one cursor (one read snapshot), so memory is bounded by the page, not the table."""
    yield from _pages(ws.conn.execute("SELECT CAST(data AS BLOB) FROM candidate_sets"), page_rows)


def candidate_set_documents_by_id(ws: Workspace, ids: Sequence[str]) -> list[bytes]:
    """The stored JSON documents of the given candidate sets (any number of ids; unknown ids are skipped)."""
    rows = ws.conn.execute(
        "SELECT CAST(data AS BLOB) FROM candidate_sets WHERE id IN (SELECT value FROM json_each(?))",
        (json.dumps(list(ids)),),
    )
    return [r[0] for r in rows]


def submitted_annotation_documents(ws: Workspace, page_rows: int) -> Iterator[list[bytes]]:
    """Submitted annotations' stored JSON documents (UTF-8 bytes), ``page_rows`` at a time (human and
    synthetic: the caller filters on ``source``, see ``ANNOTATION_SOURCE_SQL``)."""
    cur = ws.conn.execute("SELECT CAST(data AS BLOB) FROM annotations WHERE status = 'submitted'")
    yield from _pages(cur, page_rows)


def dialogue_facts(ws: Workspace) -> sqlite3.Cursor:
    """Every dialogue in one pass over its document: id, character_id, language, target_dimension, turns,
    planned turns (``provenance.params.planned_turns`` when a number, else null), simulator setting
    (as ``simulator_settings``) and simulator models (JSON object text, null when absent)."""
    planned = "$.provenance.params.planned_turns"
    return ws.conn.execute(f"""
        SELECT id, character_id, language, target_dimension, json_array_length(data, '$.turns'),
               CASE WHEN json_type(data, '{planned}') IN ('integer', 'real', 'true', 'false')
                    THEN json_extract(data, '{planned}') END,
               {SIMULATOR_SETTING_SQL},
               json(json_extract(data, '$.provenance.models'))
        FROM dialogues""")


def _pages(cur: sqlite3.Cursor, page_rows: int) -> Iterator[list[bytes]]:
    while rows := cur.fetchmany(page_rows):
        yield [r[0] for r in rows]


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

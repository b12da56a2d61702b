"""The workspace table ``dq_annotations``: one dialogueQuality annotation per (dialogue, dimension, language).

Rows are validated by ``schemas.DialogueQualityAnnotation`` before they reach
:func:`upsert`; the table is created on first use.
"""

from __future__ import annotations

import sqlite3

from charm_builder.store.workspace import Workspace

TABLE = "dq_annotations"
TABLE_SQL: tuple[str, ...] = (
    f"""CREATE TABLE IF NOT EXISTS {TABLE} (
        id TEXT PRIMARY KEY,
        dialogue_id TEXT NOT NULL,
        dimension TEXT NOT NULL,
        language TEXT NOT NULL,
        user_query TEXT NOT NULL,
        criteria TEXT NOT NULL,          -- JSON list of strings
        annotator TEXT NOT NULL,
        context TEXT,                    -- JSON list of schemas.Message; NULL = the dialogue's turns
        system_prompt TEXT,              -- NULL = the character's system prompt in `language`
        source_id TEXT,                  -- the row this one was translated from
        created_at TEXT NOT NULL DEFAULT (datetime('now')),
        updated_at TEXT NOT NULL DEFAULT (datetime('now')))""",
    f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_dialogue_id ON {TABLE}(dialogue_id)",
    f"CREATE INDEX IF NOT EXISTS ix_{TABLE}_language ON {TABLE}(language)",
)


def ensure_table(ws: Workspace) -> None:
    """Create ``dq_annotations`` if it does not exist (idempotent)."""
    with ws.transaction() as conn:
        for stmt in TABLE_SQL:
            conn.execute(stmt)


def upsert(
    ws: Workspace,
    row_id: str,
    dialogue_id: str,
    dimension: str,
    language: str,
    user_query: str,
    criteria_json: str,
    annotator: str,
    context_json: str | None,
    system_prompt: str | None,
    source_id: str | None,
) -> None:
    """Insert one row, or replace the query, criteria, annotator, context, prompt and source of ``row_id``."""
    ensure_table(ws)
    with ws.transaction() as conn:
        conn.execute(
            f"""INSERT INTO {TABLE} (id, dialogue_id, dimension, language, user_query, criteria, annotator, context,
                system_prompt, source_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                ON CONFLICT(id) DO UPDATE SET user_query=excluded.user_query, criteria=excluded.criteria,
                annotator=excluded.annotator, context=excluded.context, system_prompt=excluded.system_prompt,
                source_id=excluded.source_id, updated_at=datetime('now')""",
            (
                row_id,
                dialogue_id,
                dimension,
                language,
                user_query,
                criteria_json,
                annotator,
                context_json,
                system_prompt,
                source_id,
            ),
        )


def rows(ws: Workspace) -> sqlite3.Cursor:
    """Every row: id, dialogue_id, dimension, language, user_query, criteria (JSON), annotator,
    context (JSON or null), system_prompt, source_id."""
    ensure_table(ws)
    return ws.conn.execute(
        f"""SELECT id, dialogue_id, dimension, language, user_query, criteria, annotator,
        context, system_prompt, source_id FROM {TABLE}"""
    )


def translation_sources(ws: Workspace, src: str, dst: str) -> list[tuple]:
    """Rows in language ``src``, by id, with what a translation into ``dst`` needs: id, dialogue_id, dimension,
    user_query, criteria (JSON), context (JSON or null), system_prompt, the dialogue's JSON, the character's JSON
    (or null), and whether a ``dst`` row for the same (dialogue, dimension) exists already."""
    ensure_table(ws)
    return ws.conn.execute(
        f"""
        SELECT s.id, s.dialogue_id, s.dimension, s.user_query, s.criteria, s.context, s.system_prompt,
               d.data, c.data,
               EXISTS (SELECT 1 FROM {TABLE} t WHERE t.dialogue_id = s.dialogue_id AND t.dimension = s.dimension
                       AND t.language = ?)
        FROM {TABLE} s JOIN dialogues d ON d.id = s.dialogue_id LEFT JOIN characters c ON c.id = json_extract(d.data, '$.character_id')
        WHERE s.language = ? ORDER BY s.id""",
        (dst, src),
    ).fetchall()

"""Which record kinds the workspace stores, in which table, with which indexed columns."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from schemas import Annotation, CandidateSet, Character, Dialogue, JudgeScore, Record, Scene, UserPersona


@dataclass(frozen=True)
class Table:
    kind: str
    name: str
    model: type[Record]
    # Indexed columns extracted from the record, so stats and filters need no JSON parsing.
    columns: dict[str, Callable[[Any], Any]] = field(default_factory=dict)


TABLES: dict[str, Table] = {
    t.kind: t
    for t in (
        Table(
            "character",
            "characters",
            Character,
            {
                "primary_category": lambda c: c.primary_category,
                "sub_category": lambda c: c.sub_category,
            },
        ),
        Table("user", "users", UserPersona),
        Table("scene", "scenes", Scene),
        Table(
            "dialogue",
            "dialogues",
            Dialogue,
            {
                "character_id": lambda d: d.character_id,
                "language": lambda d: d.language,
                "target_dimension": lambda d: d.target_dimension,
                "source": lambda d: d.provenance.source,
            },
        ),
        Table("candidate_set", "candidate_sets", CandidateSet, {"dialogue_id": lambda s: s.dialogue_id}),
        Table(
            "annotation",
            "annotations",
            Annotation,
            {
                "candidate_set_id": lambda a: a.candidate_set_id,
                "annotator": lambda a: a.annotator,
                "status": lambda a: a.status,
            },
        ),
        Table(
            "judge_score",
            "judge_scores",
            JudgeScore,
            {
                "candidate_set_id": lambda j: j.candidate_set_id,
                "judge": lambda j: j.judge,
            },
        ),
    )
}

TABLE_BY_MODEL: dict[type[Record], Table] = {t.model: t for t in TABLES.values()}


def schema_sql() -> list[str]:
    """CREATE statements for every record table (idempotent)."""
    statements = []
    for table in TABLES.values():
        extra = "".join(f", {col} TEXT" for col in table.columns)
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {table.name} (id TEXT PRIMARY KEY, data TEXT NOT NULL{extra}, "
            "created_at TEXT NOT NULL DEFAULT (datetime('now')), updated_at TEXT NOT NULL DEFAULT (datetime('now')))"
        )
        for col in table.columns:
            statements.append(f"CREATE INDEX IF NOT EXISTS ix_{table.name}_{col} ON {table.name}({col})")
    return statements

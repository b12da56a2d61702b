"""Workspace statistics for `charm-build stats` (plain dicts, JSON-serialisable)."""

from __future__ import annotations

from typing import Any

from charm_builder.store.workspace import Workspace


def _group(ws: Workspace, table: str, column: str) -> dict[str, int]:
    rows = ws.conn.execute(f"SELECT COALESCE({column}, 'none'), COUNT(*) FROM {table} GROUP BY 1 ORDER BY 1")
    return {str(k): v for k, v in rows}


def candidate_quality(ws: Workspace) -> dict[str, Any]:
    """How many candidates the simulator flagged ``degenerate`` (text that loops: over 30% of its
    word 4-grams, character 4-grams in Chinese, repeat; see ``charm_builder.simulate.cleaning``)."""
    total, bad = ws.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(EXISTS(SELECT 1 FROM json_each(c.value, '$.flags') AS f "
        "WHERE f.value = 'degenerate')), 0) FROM candidate_sets, json_each(candidate_sets.data, '$.candidates') AS c"
    ).fetchone()
    return {"candidates": total, "degenerate": bad, "degenerate_share": round(bad / total, 3) if total else 0.0}


def workspace_stats(ws: Workspace) -> dict[str, Any]:
    """Counts of every kind plus breakdowns by category, language, model and annotation state."""
    counts = ws.counts()
    conn = ws.conn
    models = {
        model: n
        for model, n in conn.execute(
            "SELECT json_extract(c.value, '$.model_id'), COUNT(*) FROM candidate_sets, "
            "json_each(candidate_sets.data, '$.candidates') AS c GROUP BY 1 ORDER BY 1"
        )
    }
    per_set = "SELECT cs.id, COUNT(a.id) AS n FROM candidate_sets cs LEFT JOIN annotations a " \
        "ON a.candidate_set_id = cs.id AND a.status = 'submitted' GROUP BY cs.id"  # fmt: skip
    states = {"unannotated": 0, "annotated_1": 0, "annotated_2": 0, "annotated_3_plus": 0}
    for _, n in conn.execute(per_set):
        key = "unannotated" if n == 0 else f"annotated_{n}" if n < 3 else "annotated_3_plus"
        states[key] += 1
    return {
        "workspace": str(ws.root),
        "characters": counts["characters"],
        "users": counts["users"],
        "scenes": counts["scenes"],
        "dialogues": counts["dialogues"],
        "candidate_sets": counts["candidate_sets"],
        "annotations": counts["annotations"],
        "characters_by_primary_category": _group(ws, "characters", "primary_category"),
        "characters_by_sub_category": _group(ws, "characters", "sub_category"),
        "dialogues_by_language": _group(ws, "dialogues", "language"),
        "dialogues_by_dimension": _group(ws, "dialogues", "target_dimension"),
        "dialogues_by_source": _group(ws, "dialogues", "source"),
        "candidates_by_model": models,
        "annotations_by_status": _group(ws, "annotations", "status"),
        "annotations_by_annotator": _group(ws, "annotations", "annotator"),
        "candidate_sets_by_annotation_state": states,
        "candidate_quality": candidate_quality(ws),
    }

"""Workspace statistics for `charm-build stats` (plain dicts, JSON-serialisable)."""

from __future__ import annotations

from typing import Any

from charm_builder.store.workspace import Workspace

HUMAN = "COALESCE(json_extract(data, '$.source'), 'human') = 'human'"  # a human (not LLM-judge) annotation


def _group(ws: Workspace, table: str, column: str, where: str = "1") -> dict[str, int]:
    rows = ws.conn.execute(f"SELECT COALESCE({column}, 'none'), COUNT(*) FROM {table} WHERE {where} GROUP BY 1 "
                           "ORDER BY 1")  # fmt: skip
    return {str(k): v for k, v in rows}


def workspace_stats(ws: Workspace) -> dict[str, Any]:
    """Counts of every kind plus breakdowns by category, language, model and annotation state.

    ``annotations`` and its breakdowns count human annotations only; synthetic ones (LLM-judge picks,
    ``annotate synthetic``) are counted apart in ``synthetic_annotations``.
    """
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
        "ON a.candidate_set_id = cs.id AND a.status = 'submitted' " \
        "AND COALESCE(json_extract(a.data, '$.source'), 'human') = 'human' GROUP BY cs.id"  # fmt: skip
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
        "annotations": sum(_group(ws, "annotations", "status", HUMAN).values()),
        "synthetic_annotations": sum(_group(ws, "annotations", "status", f"NOT ({HUMAN})").values()),
        "judge_scores": counts["judge_scores"],
        "characters_by_primary_category": _group(ws, "characters", "primary_category"),
        "characters_by_sub_category": _group(ws, "characters", "sub_category"),
        "dialogues_by_language": _group(ws, "dialogues", "language"),
        "dialogues_by_dimension": _group(ws, "dialogues", "target_dimension"),
        "dialogues_by_source": _group(ws, "dialogues", "source"),
        "candidates_by_model": models,
        "annotations_by_status": _group(ws, "annotations", "status", HUMAN),
        "annotations_by_annotator": _group(ws, "annotations", "annotator", HUMAN),
        "synthetic_annotations_by_judge": _group(ws, "annotations", "annotator", f"NOT ({HUMAN})"),
        "judge_scores_by_judge": _group(ws, "judge_scores", "judge"),
        "candidate_sets_by_annotation_state": states,
    }

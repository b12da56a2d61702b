"""Workspace statistics for `charm-build stats` (plain dicts, JSON-serialisable)."""

from __future__ import annotations

from collections.abc import Collection, Iterable
from statistics import fmean
from typing import Any

from charm_builder.store.workspace import Workspace

PAPER_MEAN_TURNS = 12.8  # AAM paper: Charm dialogues average 12.8 turns (messages)


def dialogue_turn_stats(ws: Workspace, dialogue_ids: Collection[str] | None = None) -> dict[str, Any]:
    """Measured turns (messages) per dialogue next to the planned range (``simulate --turns``, read from
    each simulated dialogue's provenance) and the paper's mean. Only ``dialogue_ids`` when given."""
    rows = ws.conn.execute(
        "SELECT id, json_array_length(data, '$.turns'), "
        "json_extract(data, '$.provenance.params.planned_turns') FROM dialogues"
    ).fetchall()
    if dialogue_ids is not None:
        wanted = set(dialogue_ids)
        rows = [r for r in rows if r[0] in wanted]
    return summarize_turns([n for _, n, _ in rows], [p for _, _, p in rows])


def summarize_turns(turns: Iterable[int | None], planned: Iterable[Any]) -> dict[str, Any]:
    """``dialogue_turn_stats`` from per-dialogue turn counts and planned turns (numbers count; None and
    anything else is skipped)."""
    counted = [int(n) for n in turns if n is not None]
    plans = [int(p) for p in planned if isinstance(p, int | float)]
    return {
        "dialogues": len(counted),
        "mean": round(fmean(counted), 2) if counted else None,
        "min": min(counted, default=None),
        "max": max(counted, default=None),
        "planned_range": f"{min(plans)}..{max(plans)}" if plans else None,
        "planned_mean": round(fmean(plans), 2) if plans else None,
        "paper_mean": PAPER_MEAN_TURNS,
    }


def turns_line(t: dict[str, Any]) -> str:
    """One human line for ``dialogue_turn_stats`` (stats output and dataset cards)."""
    measured = (
        f"measured mean {t['mean']} (min {t['min']}, max {t['max']}) over {t['dialogues']} dialogue(s)"
        if t["mean"] is not None
        else "no dialogues"
    )
    planned = f"planned {t['planned_range']} (mean {t['planned_mean']})" if t["planned_range"] else "planned: n/a"
    return f"{measured}; {planned}; paper mean {t['paper_mean']}"


HUMAN = "COALESCE(json_extract(data, '$.source'), 'human') = 'human'"  # a human (not LLM-judge) annotation


def _group(ws: Workspace, table: str, column: str, where: str = "1") -> dict[str, int]:
    rows = ws.conn.execute(
        f"SELECT COALESCE({column}, 'none'), COUNT(*) FROM {table} WHERE {where} GROUP BY 1 ORDER BY 1"
    )
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
    per_set = (
        "SELECT cs.id, COUNT(a.id) AS n FROM candidate_sets cs LEFT JOIN annotations a "
        "ON a.candidate_set_id = cs.id AND a.status = 'submitted' "
        "AND COALESCE(json_extract(a.data, '$.source'), 'human') = 'human' GROUP BY cs.id"
    )
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
        "dialogue_turns": dialogue_turn_stats(ws),
        "candidate_quality": candidate_quality(ws),
    }

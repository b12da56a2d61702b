"""Progress of simulation tasks in the workspace (table ``sim_tasks``), for resumable runs.

A task row and the object it produced are written in one transaction, so after a crash a task
is either done (with its dialogue/candidate set stored) or not done (and is redone; cached LLM
calls make the redo free).
"""

from __future__ import annotations

import json
from typing import Protocol

from charm_builder.store.workspace import Workspace


class Tally(Protocol):
    """The calls one task made (``charm_builder.simulate.loop.CallTally`` fits)."""

    calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float


_SQL = """CREATE TABLE IF NOT EXISTS sim_tasks (
  key TEXT PRIMARY KEY, spec TEXT NOT NULL, dialogue_id TEXT, candidate_set_id TEXT,
  status TEXT NOT NULL, problem TEXT, calls INTEGER NOT NULL DEFAULT 0, input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0, cost_usd REAL NOT NULL DEFAULT 0,
  updated_at TEXT NOT NULL DEFAULT (datetime('now')))"""


def ensure_table(ws: Workspace) -> None:
    """Create ``sim_tasks`` if this workspace has none yet."""
    ws.conn.execute(_SQL)


def mark(
    ws: Workspace,
    key: str,
    spec: dict,
    status: str,
    tally: Tally,
    *,
    dialogue_id: str | None = None,
    candidate_set_id: str | None = None,
    problem: str | None = None,
) -> None:
    """Record a task's state and add the calls it made; call inside the transaction that stores its output."""
    ws.conn.execute(
        "INSERT INTO sim_tasks (key, spec, dialogue_id, candidate_set_id, status, problem, calls, input_tokens, "
        "output_tokens, cost_usd) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT(key) DO UPDATE SET "
        "dialogue_id=COALESCE(excluded.dialogue_id, dialogue_id), "
        "candidate_set_id=COALESCE(excluded.candidate_set_id, candidate_set_id), status=excluded.status, "
        "problem=excluded.problem, calls=calls+excluded.calls, input_tokens=input_tokens+excluded.input_tokens, "
        "output_tokens=output_tokens+excluded.output_tokens, cost_usd=cost_usd+excluded.cost_usd, "
        "updated_at=datetime('now')",
        (
            key,
            json.dumps(spec),
            dialogue_id,
            candidate_set_id,
            status,
            problem,
            tally.calls,
            tally.input_tokens,
            tally.output_tokens,
            tally.cost_usd,
        ),
    )


def task_states(ws: Workspace) -> dict[str, dict]:
    """task key -> {status, dialogue_id, candidate_set_id}."""
    ensure_table(ws)
    rows = ws.conn.execute("SELECT key, status, dialogue_id, candidate_set_id FROM sim_tasks")
    return {k: {"status": s, "dialogue_id": d, "candidate_set_id": c} for k, s, d, c in rows}


def totals(ws: Workspace) -> dict[str, float]:
    """Calls, tokens and list-price cost recorded by every task (compare with the LLM ledger)."""
    ensure_table(ws)
    row = ws.conn.execute(
        "SELECT COUNT(*), COALESCE(SUM(calls),0), COALESCE(SUM(input_tokens),0), "
        "COALESCE(SUM(output_tokens),0), COALESCE(SUM(cost_usd),0) FROM sim_tasks"
    ).fetchone()
    return dict(zip(("tasks", "calls", "input_tokens", "output_tokens", "cost_usd"), row, strict=True))

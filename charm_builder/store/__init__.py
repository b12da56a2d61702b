"""The workspace store: embedded SQLite (WAL), deterministic ids, idempotent upserts.

Owns: the database file, its tables and every read/write of ``schemas`` records (the only stage channel).
Imports: ``schemas`` and ``charm_kernel`` only.

The store owns every table and all SQL; other stages call its named functions:

* ``tables`` / ``workspace``: the record tables (characters ... judge_scores) and ``Workspace``
* ``reads``: bulk column reads for the export stage
* ``sim_tasks``: progress of simulation tasks (resumable runs)
* ``dq_annotations``: dialogueQuality annotations
* ``llm_tables``: the LLM response cache, cost ledger and batch records
"""

from charm_builder.store.stats import workspace_stats
from charm_builder.store.workspace import (
    DB_NAME,
    DEFAULT_WORKSPACE,
    Workspace,
    connect,
    open_workspace,
    resolve_workspace,
)

__all__ = [
    "DB_NAME",
    "DEFAULT_WORKSPACE",
    "Workspace",
    "connect",
    "open_workspace",
    "resolve_workspace",
    "workspace_stats",
]

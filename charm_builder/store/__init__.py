"""The workspace store: embedded SQLite (WAL), deterministic ids, idempotent upserts.

Owns: the database file, its tables and every read/write of ``schemas`` records (the only stage channel).
Imports: ``schemas`` and ``charm_builder.errors`` only.
"""

from charm_builder.store.stats import workspace_stats
from charm_builder.store.workspace import DB_NAME, DEFAULT_WORKSPACE, Workspace, connect, resolve_workspace

__all__ = ["DB_NAME", "DEFAULT_WORKSPACE", "Workspace", "connect", "resolve_workspace", "workspace_stats"]

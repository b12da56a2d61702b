"""The workspace store: embedded SQLite (WAL), deterministic ids, idempotent upserts."""

from charm_builder.store.stats import workspace_stats
from charm_builder.store.workspace import DB_NAME, DEFAULT_WORKSPACE, Workspace, connect, resolve_workspace

__all__ = ["DB_NAME", "DEFAULT_WORKSPACE", "Workspace", "connect", "resolve_workspace", "workspace_stats"]

"""The workspace: a folder holding one embedded SQLite database (WAL) plus exports and plots.

The database is the single source of truth for every stage. Writes go through ``transaction()``
so one unit of work (an imported file, a dialogue, a candidate set) lands whole or not at all.
Tables beyond the record kinds (``sim_tasks``, ``dq_annotations``, the LLM tables) are declared in their
own modules of this package and created on first use.
"""

from __future__ import annotations

import json
import os
import sqlite3
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from charm_builder.errors import CharmError
from charm_builder.store.tables import TABLE_BY_MODEL, TABLES, Table, schema_sql
from schemas import Record

DB_NAME = "charm.db"
DEFAULT_WORKSPACE = "charm-workspace"
SCHEMA_VERSION = 1
R = TypeVar("R", bound=Record)


def resolve_workspace(path: str | os.PathLike | None) -> Path:
    """--workspace, else $CHARM_WORKSPACE, else ./charm-workspace."""
    return Path(path or os.environ.get("CHARM_WORKSPACE") or DEFAULT_WORKSPACE)


class Workspace:
    """Open with ``Workspace.create(dir)`` (new or existing) or ``Workspace.open(dir)`` (must exist)."""

    def __init__(self, root: Path, conn: sqlite3.Connection):
        self.root = root
        self.conn = conn
        self._depth = 0

    # -- opening -------------------------------------------------------------------------
    @property
    def db_path(self) -> Path:
        return self.root / DB_NAME

    @classmethod
    def create(cls, root: str | os.PathLike) -> Workspace:
        root = Path(root)
        if root.exists() and not root.is_dir():
            raise CharmError(f"{root}: exists and is not a directory")
        for sub in ("exports", "plots"):
            (root / sub).mkdir(parents=True, exist_ok=True)
        return cls._connect(root)

    @classmethod
    def open(cls, root: str | os.PathLike) -> Workspace:
        root = Path(root)
        if not (root / DB_NAME).exists():
            raise CharmError(f"{root}: no charm-builder workspace here; run `charm-build init {root}` first")
        return cls._connect(root)

    @classmethod
    def _connect(cls, root: Path) -> Workspace:
        conn = connect(root / DB_NAME)
        with conn:
            for stmt in schema_sql():
                conn.execute(stmt)
            conn.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
            conn.execute("INSERT OR IGNORE INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
        return cls(root, conn)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Workspace:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- transactions --------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """One atomic unit of work; nested calls join the outer transaction."""
        if self._depth:
            self._depth += 1
            try:
                yield self.conn
            finally:
                self._depth -= 1
            return
        self.conn.execute("BEGIN IMMEDIATE")
        self._depth = 1
        try:
            yield self.conn
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        else:
            self.conn.execute("COMMIT")
        finally:
            self._depth = 0

    # -- records -------------------------------------------------------------------------
    def upsert(self, record: Record) -> str:
        """Insert or replace by id; returns the id. Same content -> same id -> no duplicate."""
        self.upsert_many([record])
        return record.id

    def upsert_many(self, records: Iterable[Record]) -> int:
        count = 0
        with self.transaction() as conn:
            for record in records:
                table = _table_for(type(record))
                cols = ["id", "data", *table.columns]
                values = [record.id, record.model_dump_json(), *(f(record) for f in table.columns.values())]
                updates = ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
                conn.execute(
                    f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
                    f"ON CONFLICT(id) DO UPDATE SET {updates}, updated_at=datetime('now')",
                    values,
                )
                count += 1
        return count

    def get(self, model: type[R], record_id: str) -> R | None:
        row = self.conn.execute(f"SELECT data FROM {_table_for(model).name} WHERE id=?", (record_id,)).fetchone()
        return model.model_validate_json(row[0]) if row else None

    def iter(self, model: type[R], **where: str | None) -> Iterator[R]:
        """Records of one kind in id order, optionally filtered on indexed columns."""
        table = _table_for(model)
        unknown = set(where) - set(table.columns)
        if unknown:
            raise ValueError(f"{table.name} has no indexed column(s) {sorted(unknown)}")
        clause = " AND ".join(f"{k} IS ?" for k in where)
        sql = f"SELECT data FROM {table.name}" + (f" WHERE {clause}" if clause else "") + " ORDER BY id"
        for (data,) in self.conn.execute(sql, tuple(where.values())):
            yield model.model_validate_json(data)

    def has(self, model: type[Record], record_id: str) -> bool:
        """True when a record of this kind with this id is stored (no parsing)."""
        sql = f"SELECT 1 FROM {_table_for(model).name} WHERE id=?"
        return self.conn.execute(sql, (record_id,)).fetchone() is not None

    def distinct(self, model: type[Record], column: str, **where: str | None) -> list[str]:
        """Distinct values of an indexed ``column`` of one kind, sorted, optionally filtered on indexed columns."""
        table = _table_for(model)
        unknown = ({column} | set(where)) - set(table.columns)
        if unknown:
            raise ValueError(f"{table.name} has no indexed column(s) {sorted(unknown)}")
        clause = " AND ".join(f"{k} IS ?" for k in where)
        sql = f"SELECT DISTINCT {column} FROM {table.name}" + (f" WHERE {clause}" if clause else "") + " ORDER BY 1"
        return [r[0] for r in self.conn.execute(sql, tuple(where.values()))]

    def ids(self, model: type[Record]) -> list[str]:
        return [r[0] for r in self.conn.execute(f"SELECT id FROM {_table_for(model).name} ORDER BY id")]

    def count(self, model: type[Record]) -> int:
        return self.conn.execute(f"SELECT COUNT(*) FROM {_table_for(model).name}").fetchone()[0]

    def counts(self) -> dict[str, int]:
        return {t.name: self.conn.execute(f"SELECT COUNT(*) FROM {t.name}").fetchone()[0] for t in TABLES.values()}

    def raw(self, model: type[Record]) -> Iterator[dict]:
        """Records as plain dicts (faster than validating, for bulk exports)."""
        for (data,) in self.conn.execute(f"SELECT data FROM {_table_for(model).name} ORDER BY id"):
            yield json.loads(data)


def connect(path: Path) -> sqlite3.Connection:
    """A connection in WAL mode with autocommit off-by-default (we issue BEGIN ourselves)."""
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=ON")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def _table_for(model: type[Record]) -> Table:
    try:
        return TABLE_BY_MODEL[model]
    except KeyError:
        raise TypeError(f"{model.__name__} is not stored in the workspace") from None

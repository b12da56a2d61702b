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
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from charm_builder.store.tables import TABLE_BY_MODEL, TABLES, Table, schema_sql
from charm_kernel.errors import CharmError
from schemas import Record

DB_NAME = "charm.db"
DEFAULT_WORKSPACE = "charm-workspace"
SCHEMA_VERSION = 1
BULK_BATCH = 20_000  # records per executemany / per bulk_upsert transaction
R = TypeVar("R", bound=Record)


def resolve_workspace(path: str | os.PathLike | None) -> Path:
    """--workspace, else $CHARM_WORKSPACE, else ./charm-workspace."""
    return Path(path or os.environ.get("CHARM_WORKSPACE") or DEFAULT_WORKSPACE)


def open_workspace(path: str | os.PathLike | None) -> Workspace:
    """Open an existing workspace (--workspace, $CHARM_WORKSPACE or ./charm-workspace), or fail with a
    one-line hint to run `charm-build init`."""
    return Workspace.open(resolve_workspace(path))


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
        """Upsert records (of any kinds) in one transaction; returns how many."""
        count = 0
        with self.transaction() as conn:
            for table, rows in _rows_by_table(records, BULK_BATCH):
                conn.executemany(_upsert_sql(table), rows)
                count += len(rows)
        return count

    def bulk_upsert(
        self, records: Iterable[Record], *, batch_size: int = BULK_BATCH, on_batch: Callable[[int], None] | None = None
    ) -> int:
        """Upsert a large stream of records (of any kinds, e.g. a generator over an imported corpus) in
        batches of ``batch_size``: each batch is one transaction with one ``executemany`` per table, so
        memory stays bounded by the batch and a crash keeps every committed batch (content-derived ids make
        the rerun skip nothing and duplicate nothing). ``on_batch(n)`` is called after each commit.
        Inside an open ``transaction()`` every batch joins it. Returns how many records were written."""
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        count = 0
        for batch in _batches(records, batch_size):
            count += self.upsert_many(batch)
            if on_batch is not None:
                on_batch(len(batch))
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


def _upsert_sql(table: Table) -> str:
    cols = ["id", "data", *table.columns]
    updates = ", ".join(f"{c}=excluded.{c}" for c in cols[1:])
    return (
        f"INSERT INTO {table.name} ({', '.join(cols)}) VALUES ({', '.join('?' * len(cols))}) "
        f"ON CONFLICT(id) DO UPDATE SET {updates}, updated_at=datetime('now')"
    )


def _rows_by_table(records: Iterable[Record], limit: int) -> Iterator[tuple[Table, list[tuple]]]:
    """Records as SQL parameter rows grouped by table (tables in order of first appearance), at most
    ``limit`` rows per group. Within a table the input order is kept, so a record upserted twice ends
    with its last version, as with one statement per record (tables do not interact)."""
    groups: dict[str, tuple[Table, list[tuple]]] = {}
    for record in records:
        t = _table_for(type(record))
        table, rows = groups.setdefault(t.name, (t, []))
        rows.append((record.id, record.model_dump_json(), *(f(record) for f in t.columns.values())))
        if len(rows) >= limit:
            yield table, rows
            groups[t.name] = (t, [])
    for table, rows in groups.values():
        if rows:
            yield table, rows


def _batches(records: Iterable[Record], size: int) -> Iterator[list[Record]]:
    batch: list[Record] = []
    for record in records:
        batch.append(record)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def _table_for(model: type[Record]) -> Table:
    try:
        return TABLE_BY_MODEL[model]
    except KeyError:
        raise TypeError(f"{model.__name__} is not stored in the workspace") from None

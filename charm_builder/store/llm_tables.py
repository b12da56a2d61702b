"""The LLM layer's tables: response cache, cost ledger and provider batch records.

``charm_builder.llm.cache.LLMStore`` buffers writes and decides when to flush; the SQL lives here.
The functions take the LLM store's own connection (autocommit: it issues BEGIN/COMMIT itself), which
usually points at the workspace database but may be a separate file.

* ``llm_cache``   key (sha256 of provider, model id, messages, params, seed) -> completion JSON
* ``llm_calls``   cost ledger: one row per chat call (cache hits included, cost 0)
* ``llm_batches`` provider batch jobs, so a large run can be resumed by batch id
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from pathlib import Path
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS llm_cache (
    key TEXT PRIMARY KEY,
    model TEXT NOT NULL,
    completion TEXT NOT NULL,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS llm_calls (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    model TEXT NOT NULL,
    model_id TEXT NOT NULL,
    provider TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    cost REAL NOT NULL,
    latency REAL NOT NULL,
    cached INTEGER NOT NULL,
    ok INTEGER NOT NULL DEFAULT 1,
    batch INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_calls_run ON llm_calls (run_id, model);
CREATE TABLE IF NOT EXISTS llm_batches (
    batch_id TEXT PRIMARY KEY,
    job_key TEXT NOT NULL,
    provider TEXT NOT NULL,
    model TEXT NOT NULL,
    state TEXT NOT NULL,
    request_count INTEGER NOT NULL,
    meta TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS llm_batches_job ON llm_batches (job_key);
"""

#: Columns of a batch record, in the order :func:`batches_of_job` and :func:`batch` return them.
BATCH_COLUMNS: tuple[str, ...] = ("batch_id", "job_key", "provider", "model", "state", "request_count", "meta")


def connect(path: str | Path) -> sqlite3.Connection:
    """A connection for the LLM store: WAL, autocommit (BEGIN/COMMIT issued by the caller), any thread."""
    conn = sqlite3.connect(str(path), timeout=30.0, check_same_thread=False, isolation_level=None)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def create(conn: sqlite3.Connection) -> None:
    """Put ``conn`` in autocommit mode (BEGIN/COMMIT are issued explicitly) with a 30 s busy timeout, and
    create the three tables if they do not exist (idempotent)."""
    conn.isolation_level = None
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.executescript(SCHEMA)


def cached_completion(conn: sqlite3.Connection, key: str) -> str | None:
    """The completion JSON cached under ``key``, or None."""
    row = conn.execute("SELECT completion FROM llm_cache WHERE key = ?", (key,)).fetchone()
    return row[0] if row else None


def usage_rows(conn: sqlite3.Connection, run_id: str | None = None) -> list[tuple]:
    """Ledger totals per model (by model name), for one run or all: model, calls, cached, errors,
    input tokens, output tokens, cost."""
    sql = (
        "SELECT model, COUNT(*), SUM(cached), SUM(1 - ok), SUM(input_tokens), SUM(output_tokens),"
        " SUM(cost) FROM llm_calls"
    )
    args: tuple[Any, ...] = ()
    if run_id is not None:
        sql += " WHERE run_id = ?"
        args = (run_id,)
    return conn.execute(sql + " GROUP BY model ORDER BY model", args).fetchall()


def save_batch(
    conn: sqlite3.Connection,
    batch_id: str,
    job_key: str,
    provider: str,
    model: str,
    state: str,
    count: int,
    meta_json: str,
    now: float,
) -> None:
    """Insert a batch record, or update the state and meta of an existing one."""
    conn.execute(
        "INSERT INTO llm_batches (batch_id, job_key, provider, model, state, request_count, meta,"
        " created_at, updated_at) VALUES (?,?,?,?,?,?,?,?,?) ON CONFLICT(batch_id) DO UPDATE SET"
        " state = excluded.state, meta = excluded.meta, updated_at = excluded.updated_at",
        (batch_id, job_key, provider, model, state, count, meta_json, now, now),
    )


def batches_of_job(conn: sqlite3.Connection, job_key: str) -> list[tuple]:
    """Batch records (``BATCH_COLUMNS``, meta as JSON text) of one job, oldest first."""
    return conn.execute(
        "SELECT batch_id, job_key, provider, model, state, request_count, meta FROM llm_batches"
        " WHERE job_key = ? ORDER BY created_at",
        (job_key,),
    ).fetchall()


def batch(conn: sqlite3.Connection, batch_id: str) -> tuple | None:
    """One batch record (``BATCH_COLUMNS``, meta as JSON text) by id, or None."""
    return conn.execute(
        "SELECT batch_id, job_key, provider, model, state, request_count, meta FROM llm_batches WHERE batch_id = ?",
        (batch_id,),
    ).fetchone()


def write(conn: sqlite3.Connection, cache_rows: Sequence[tuple], call_rows: Sequence[tuple]) -> None:
    """Write cache entries (key, model, completion JSON, time) and ledger rows (run_id, model, model_id,
    provider, input tokens, output tokens, cost, latency, cached, ok, batch, time) in one transaction."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        conn.executemany(
            "INSERT OR REPLACE INTO llm_cache (key, model, completion, created_at) VALUES (?,?,?,?)",
            cache_rows,
        )
        conn.executemany(
            "INSERT INTO llm_calls (run_id, model, model_id, provider, input_tokens, output_tokens,"
            " cost, latency, cached, ok, batch, created_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            call_rows,
        )
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise

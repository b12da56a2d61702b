"""Persistence of the LLM layer: response cache, cost ledger and batch records.

The tables and their SQL live in ``charm_builder.store.llm_tables``:

* ``llm_cache``   key (sha256 of provider, model id, messages, params, seed) -> completion JSON
* ``llm_calls``   cost ledger: one row per chat call (cache hits included, cost 0)
* ``llm_batches`` provider batch jobs, so a large run can be resumed by batch id

Writes happen on the thread that owns the ``LLMStore`` (the event loop thread), are buffered
and flushed in one short transaction when the buffer fills, when ``flush_interval`` has passed,
or on ``flush()``/``close()``: at most the last ``flush_interval`` seconds of answers are lost in
a crash, and the event loop is not stalled by one commit per call. Readers see buffered
entries through an in-memory overlay.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charm_builder.llm.types import Completion, Usage
from charm_builder.store import llm_tables

ConnectionFactory = Callable[[], sqlite3.Connection]


def cache_key(provider: str, model_id: str, messages: list[dict[str, str]], params: dict[str, Any]) -> str:
    """Deterministic key of a request: sha256 over canonical JSON (the seed is in ``params``)."""
    blob = json.dumps(
        {"p": provider, "m": model_id, "msgs": messages, "params": params},
        sort_keys=True,
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


@dataclass
class CallRecord:
    """One ledger row."""

    run_id: str
    model: str
    model_id: str
    provider: str
    input_tokens: int
    output_tokens: int
    cost: float
    latency: float
    cached: bool
    ok: bool = True
    batch: bool = False


class LLMStore:
    """Cache + ledger + batch records over one SQLite file, or purely in memory (``db=None``).

    ``db`` is a path or a zero-argument factory returning a new connection that this store then
    owns (and closes). Without a database nothing is cached across processes; answers are kept
    in memory, the ``memory_limit`` most recently used ones, so a long run cannot grow unbounded.
    """

    def __init__(
        self,
        db: str | Path | ConnectionFactory | None = None,
        *,
        flush_every: int = 256,
        flush_interval: float = 0.5,
        memory_limit: int = 100_000,
    ) -> None:
        self._lock = threading.RLock()
        self.persistent = db is not None
        if db is None:
            self._conn: sqlite3.Connection | None = None
        else:
            self._conn = db() if callable(db) else llm_tables.connect(db)
            with self._lock:
                llm_tables.create(self._conn)
        self._pending_cache: dict[str, tuple[str, str]] = {}
        self._memory: OrderedDict[str, str] = OrderedDict()  # no database: least recently used cache entries
        self._memory_limit = memory_limit
        self._memory_batches: dict[str, str] = {}
        self._pending_calls: list[CallRecord] = []
        self._flush_every = flush_every
        self._flush_interval = flush_interval
        self._last_flush = time.monotonic()

    # -- cache -------------------------------------------------------------------------------
    def get(self, key: str) -> Completion | None:
        """The cached completion for ``key``, or None."""
        raw = self._pending_cache.get(key, (None, None))[1]
        if raw is None and key in self._memory:
            self._memory.move_to_end(key)
            raw = self._memory[key]
        if raw is None and self._conn is not None:
            with self._lock:
                raw = llm_tables.cached_completion(self._conn, key)
        return Completion.model_validate_json(raw) if raw is not None else None

    def put(self, key: str, model: str, completion: Completion) -> None:
        """Remember a completion (buffered)."""
        raw = completion.model_dump_json()
        if self._conn is None:
            self._memory[key] = raw
            self._memory.move_to_end(key)
            if len(self._memory) > self._memory_limit:
                self._memory.popitem(last=False)
            return
        self._pending_cache[key] = (model, raw)
        self._maybe_flush()

    # -- ledger ------------------------------------------------------------------------------
    def record(self, call: CallRecord) -> None:
        """Append one ledger row (buffered)."""
        if self._conn is None:
            return
        self._pending_calls.append(call)
        self._maybe_flush()

    def usage(self, run_id: str | None = None) -> dict[str, Usage]:
        """Per-model totals from the ledger, for one run or all runs."""
        self.flush()
        if self._conn is None:
            return {}
        with self._lock:
            rows = llm_tables.usage_rows(self._conn, run_id)
        return {
            r[0]: Usage(calls=r[1], cached=r[2], errors=r[3], input_tokens=r[4], output_tokens=r[5], cost=r[6])
            for r in rows
        }

    # -- batches -----------------------------------------------------------------------------
    def save_batch(
        self, batch_id: str, job_key: str, provider: str, model: str, state: str, count: int, meta: dict
    ) -> None:
        """Insert or update a batch record (written at once: batch ids must never be lost)."""
        if self._conn is None:
            self._memory_batches[batch_id] = json.dumps(
                {
                    "batch_id": batch_id,
                    "job_key": job_key,
                    "provider": provider,
                    "model": model,
                    "state": state,
                    "request_count": count,
                    "meta": meta,
                }
            )
            return
        now = time.time()
        with self._lock:
            llm_tables.save_batch(self._conn, batch_id, job_key, provider, model, state, count, json.dumps(meta), now)

    def find_batches(self, job_key: str) -> list[dict[str, Any]]:
        """Batch records of a job, oldest first."""
        if self._conn is None:
            rows = [json.loads(v) for v in self._memory_batches.values()]
            return [r for r in rows if r["job_key"] == job_key]
        with self._lock:
            rows = llm_tables.batches_of_job(self._conn, job_key)
        keys = llm_tables.BATCH_COLUMNS
        return [{**dict(zip(keys, r, strict=True)), "meta": json.loads(r[6])} for r in rows]

    def get_batch(self, batch_id: str) -> dict[str, Any] | None:
        """One batch record by id."""
        if self._conn is None:
            raw = self._memory_batches.get(batch_id)
            return json.loads(raw) if raw else None
        with self._lock:
            r = llm_tables.batch(self._conn, batch_id)
        if r is None:
            return None
        return {**dict(zip(llm_tables.BATCH_COLUMNS, r, strict=True)), "meta": json.loads(r[6])}

    # -- flushing ----------------------------------------------------------------------------
    def _maybe_flush(self) -> None:
        pending = len(self._pending_cache) + len(self._pending_calls)
        if pending >= self._flush_every or time.monotonic() - self._last_flush >= self._flush_interval:
            self.flush()

    def flush(self) -> None:
        """Write buffered cache entries and ledger rows in one transaction."""
        self._last_flush = time.monotonic()
        if self._conn is None or not (self._pending_cache or self._pending_calls):
            return
        cache_rows = [(k, m, raw, time.time()) for k, (m, raw) in self._pending_cache.items()]
        call_rows = [
            (
                c.run_id,
                c.model,
                c.model_id,
                c.provider,
                c.input_tokens,
                c.output_tokens,
                c.cost,
                c.latency,
                int(c.cached),
                int(c.ok),
                int(c.batch),
                time.time(),
            )
            for c in self._pending_calls
        ]
        with self._lock:
            llm_tables.write(self._conn, cache_rows, call_rows)
        self._pending_cache.clear()
        self._pending_calls.clear()

    def close(self) -> None:
        """Flush and close the connection."""
        self.flush()
        if self._conn is not None:
            with self._lock:
                self._conn.close()
            self._conn = None

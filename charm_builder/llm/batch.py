"""Batch mode: send many requests through the OpenAI Batch API or Anthropic Message Batches.

    runner = BatchRunner(client)
    results = await runner.run("gpt-4o", [BatchRequest("dlg-1", messages), ...])

``run`` splits the requests into provider batches that respect the provider's limits (OpenAI:
50,000 requests / 200 MB a batch; Anthropic: 100,000 / 256 MB) and is resumable: requests
already in the cache are not sent; a batch of the same job (same model and the same chunk of
requests) that was submitted before is polled instead of resubmitted, found by its id in the
workspace table ``llm_batches``. Collected answers go into the cache and the
ledger (at the batch discount), so a later ``chat`` of the same request is free. Providers
without a batch API (local) fall back to concurrent ``chat`` calls. The provider calls here
(file upload, batch create/poll/cancel, result download) go through the official SDKs.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from charm_builder.llm.cache import cache_key
from charm_builder.llm.client import LLMClient
from charm_builder.llm.errors import LLMCallError, LLMError
from charm_builder.llm.providers.base import BatchItem, RawCompletion
from charm_builder.llm.types import ChatParams, Completion, MessagesIn


@dataclass
class BatchRequest:
    """One request of a batch job, identified by the caller's ``custom_id``."""

    custom_id: str
    messages: MessagesIn
    params: ChatParams | Mapping[str, Any] | None = None
    seed: int | None = None


@dataclass
class _Prepared:
    custom_id: str
    key: str
    item: BatchItem


@dataclass
class BatchProgress:
    """What ``run`` did: how many came from cache, which batch ids were used."""

    cached: int = 0
    submitted: int = 0
    batch_ids: list[str] = field(default_factory=list)
    resumed: bool = False


class BatchRunner:
    """Submit / poll / collect provider batches for an ``LLMClient`` (shares its cache and ledger)."""

    def __init__(
        self,
        client: LLMClient,
        *,
        poll_interval: float = 30.0,
        max_requests: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        """``max_requests``/``max_bytes``: per-batch caps below the provider's own limits (optional)."""
        self.client = client
        self.poll_interval = poll_interval
        self.max_requests = max_requests
        self.max_bytes = max_bytes
        self.last = BatchProgress()

    def _prepare(self, model: str, requests: Sequence[BatchRequest]) -> list[_Prepared]:
        spec = self.client.spec(model)
        seen: set[str] = set()
        out = []
        for i, r in enumerate(requests):
            if r.custom_id in seen:
                raise ValueError(f"duplicate custom_id {r.custom_id!r} in batch for {model!r}")
            seen.add(r.custom_id)
            msgs, eff = self.client._prepare(spec, r.messages, r.params, r.seed)
            key = cache_key(spec.provider, spec.cache_model_id, msgs, eff.model_dump(exclude_none=True))
            out.append(_Prepared(r.custom_id, key, BatchItem(f"r{i}", msgs, eff)))
        return out

    async def submit(self, model: str, requests: Sequence[BatchRequest]) -> str:
        """Submit the requests as one provider batch (no cache check); returns the batch id."""
        prepared = self._prepare(model, requests)
        return await self._submit(model, prepared, _job_key(model, prepared))

    async def _submit(self, model: str, prepared: list[_Prepared], job_key: str) -> str:
        spec = self.client.spec(model)
        self.client._bind_loop()
        provider = self.client._provider(spec)
        batch_id, meta = await provider.batch_submit([p.item for p in prepared])
        meta = {**meta, "requests": [[p.item.wire_id, p.custom_id, p.key] for p in prepared]}
        self.client.store.save_batch(batch_id, job_key, spec.provider, spec.name, "submitted", len(prepared), meta)
        return batch_id

    async def poll(self, batch_id: str) -> tuple[str, bool]:
        """Refresh a batch's state from the provider; returns (state, done)."""
        return await self._update(batch_id, cancel=False)

    async def cancel(self, batch_id: str) -> tuple[str, bool]:
        """Ask the provider to cancel a batch; returns (state, done). Requests it finished before
        stopping are collected once it is done (``poll`` until then)."""
        return await self._update(batch_id, cancel=True)

    async def _update(self, batch_id: str, *, cancel: bool) -> tuple[str, bool]:
        record = self._record(batch_id)
        spec = self.client.spec(record["model"])
        self.client._bind_loop()
        provider = self.client._provider(spec)
        call = provider.batch_cancel if cancel else provider.batch_status
        state = await call(batch_id, record["meta"])
        self.client.store.save_batch(
            batch_id,
            record["job_key"],
            record["provider"],
            record["model"],
            state.state,
            record["request_count"],
            state.meta,
        )
        return state.state, state.done

    async def collect(self, batch_id: str) -> dict[str, Completion | LLMError]:
        """Download a finished batch's results into the cache and ledger; results by custom id."""
        record = self._record(batch_id)
        spec = self.client.spec(record["model"])
        self.client._bind_loop()
        raw = await self.client._provider(spec).batch_results(batch_id, record["meta"])
        out: dict[str, Completion | LLMError] = {}
        for wire_id, custom_id, key in record["meta"]["requests"]:
            result = raw.get(wire_id)
            if isinstance(result, RawCompletion):
                completion = Completion(
                    text=result.text,
                    input_tokens=result.input_tokens,
                    output_tokens=result.output_tokens,
                    cost=spec.cost(result.input_tokens, result.output_tokens, batch=True),
                    finish_reason=result.finish_reason,
                    model=spec.name,
                )
                self.client.store.put(key, spec.name, completion)
                self.client._account(spec, completion, batch=True)
                out[custom_id] = completion
            else:
                out[custom_id] = LLMCallError(
                    f"model {spec.name!r}: batch {batch_id} request {custom_id!r}: {result or 'no result'}"
                )
        self.client.store.save_batch(
            batch_id,
            record["job_key"],
            record["provider"],
            record["model"],
            "collected",
            record["request_count"],
            record["meta"],
        )
        self.client.flush()
        return out

    async def run(
        self, model: str, requests: Sequence[BatchRequest], *, timeout: float | None = None
    ) -> dict[str, Completion | LLMError]:
        """Cache check, submit (or resume), poll until done, collect. Results by custom id."""
        spec = self.client.spec(model)
        self.last = BatchProgress()
        prepared = self._prepare(model, requests)
        results: dict[str, Completion | LLMError] = {}
        todo = []
        for p in prepared:
            hit = self.client.store.get(p.key)
            if hit is not None:
                results[p.custom_id] = hit.model_copy(update={"cached": True, "cost": 0.0})
            else:
                todo.append(p)
        self.last.cached = len(results)
        if not todo:
            return results
        self.client._bind_loop()
        provider = self.client._provider(spec)
        if not provider.supports_batch:
            answers = await self.client.chat_many(
                model, [p.item.messages for p in todo], None, seeds=[p.item.params.seed for p in todo]
            )
            results.update({p.custom_id: a for p, a in zip(todo, answers, strict=True)})
            return results
        max_requests = min(self.max_requests or provider.batch_max_requests, provider.batch_max_requests)
        max_bytes = min(self.max_bytes or provider.batch_max_bytes, provider.batch_max_bytes)
        pending = {p.custom_id for p in todo}
        batch_ids = []
        # chunks of *all* requests, so a rerun after some were collected finds the same chunks
        for chunk in _chunks(prepared, max_requests, max_bytes):
            chunk_todo = [p for p in chunk if p.custom_id in pending]
            if not chunk_todo:
                continue
            job_key = _job_key(model, chunk)
            open_batches = [b for b in self.client.store.find_batches(job_key) if b["state"] != "collected"]
            if open_batches:
                batch_ids.append(open_batches[-1]["batch_id"])
                self.last.resumed = True
            else:
                batch_ids.append(await self._submit(model, chunk_todo, job_key))
                self.last.submitted += len(chunk_todo)
        self.last.batch_ids.extend(batch_ids)
        deadline = None if timeout is None else time.monotonic() + timeout
        waiting = list(batch_ids)
        while True:
            waiting = [b for b in waiting if not (await self.poll(b))[1]]
            if not waiting:
                break
            if deadline is not None and time.monotonic() > deadline:
                raise LLMCallError(
                    f"model {model!r}: batch {', '.join(waiting)} not finished after {timeout:g}s; rerun to resume it"
                )
            await asyncio.sleep(self.poll_interval)
        for batch_id in batch_ids:
            results.update(await self.collect(batch_id))
        return results

    def _record(self, batch_id: str) -> dict[str, Any]:
        record = self.client.store.get_batch(batch_id)
        if record is None:
            raise LLMCallError(f"unknown batch id {batch_id!r}: not in this workspace's llm_batches table")
        return record


def _chunks(prepared: list[_Prepared], max_requests: int, max_bytes: int) -> list[list[_Prepared]]:
    """Consecutive chunks of at most ``max_requests`` requests and about ``max_bytes`` of upload
    (a request's size is estimated from its messages plus 1 KB of envelope, on the safe side)."""
    chunks: list[list[_Prepared]] = [[]]
    size = 0
    for p in prepared:
        item_bytes = len(json.dumps(p.item.messages, ensure_ascii=False).encode("utf-8")) + 1024
        if chunks[-1] and (len(chunks[-1]) >= max_requests or size + item_bytes > max_bytes):
            chunks.append([])
            size = 0
        chunks[-1].append(p)
        size += item_bytes
    return chunks


def _job_key(model: str, prepared: list[_Prepared]) -> str:
    digest = hashlib.sha256(model.encode())
    for p in prepared:
        digest.update(p.key.encode())
    return digest.hexdigest()

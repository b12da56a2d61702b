"""``LLMClient``: the one async entry point for chat calls over a roster.

    client = LLMClient("offline", db="charm-workspace/charm.db", run_id="simulate-1")
    await client.apreflight(["smollm2-plain"])           # clear error before any work
    c = await client.chat("smollm2-plain", [{"role": "user", "content": "Hi"}])
    c.text, c.input_tokens, c.output_tokens, c.cost, c.latency, c.finish_reason
    client.usage()                                        # per-model totals of this client
    await client.aclose()                                 # flushes cache + ledger

Each call: roster entry -> effective params (call > roster) -> cache lookup (a hit costs
nothing) -> identical in-flight requests share one call -> per-model limiter (concurrency, RPM,
TPM) -> provider call with retries (429/5xx/timeouts/connection errors/malformed bodies,
Retry-After honoured) -> cache + ledger. Remote chat calls share one keep-alive aiohttp session
per event loop; batch and model-listing calls go through the official SDKs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

from charm_builder.llm.cache import CallRecord, ConnectionFactory, LLMStore, cache_key
from charm_builder.llm.errors import LLMCallError, LLMConfigError, LLMError, TransientError
from charm_builder.llm.limits import ModelLimiter, estimate_tokens
from charm_builder.llm.providers import Provider, make_provider
from charm_builder.llm.providers.base import open_session
from charm_builder.llm.retry import RetryPolicy, with_retries
from charm_builder.llm.roster import ModelSpec, Roster, load_roster
from charm_builder.llm.types import ChatParams, Completion, MessagesIn, Usage, normalise_messages

log = logging.getLogger("charm_builder.llm")


class LLMClient:
    """Chat with the models of a roster, with caching, limits, retries and a cost ledger.

    ``roster``: a ``Roster``, a built-in roster name or a YAML path. ``db``: workspace SQLite
    path or connection factory (None: no persistent cache). ``run_id`` tags ledger rows.
    ``env``: where API keys are read (default ``os.environ``). ``retry``: override the
    roster's ``max_retries`` and backoff. ``use_cache``: default for ``chat``.
    """

    def __init__(
        self,
        roster: Roster | str | Path = "offline",
        *,
        db: str | Path | ConnectionFactory | None = None,
        run_id: str | None = None,
        env: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        use_cache: bool = True,
    ) -> None:
        self.roster = roster if isinstance(roster, Roster) else load_roster(roster)
        self.store = LLMStore(db)
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._env = env
        self._retry = retry
        self.use_cache = use_cache
        self._usage: dict[str, Usage] = {}
        self._providers: dict[str, Provider] = {}
        self._limiters: dict[str, ModelLimiter] = {}
        self._inflight: dict[str, asyncio.Future[Completion]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._session: Any = None  # aiohttp.ClientSession of self._loop, opened on the first chat call
        self.retries = 0
        self.retry_log_level = logging.WARNING  # a caller that counts retries on its progress bar lowers it

    # -- public API ----------------------------------------------------------------------
    def spec(self, model: str) -> ModelSpec:
        """The roster entry of ``model`` (``UnknownModelError`` if absent)."""
        return self.roster.get(model)

    async def chat(
        self,
        model: str,
        messages: MessagesIn,
        params: ChatParams | Mapping[str, Any] | None = None,
        *,
        seed: int | None = None,
        use_cache: bool | None = None,
    ) -> Completion:
        """One chat call. Raises ``LLMCallError`` when it fails for good, ``LLMConfigError`` for setup.

        ``seed`` is part of the cache key: pass distinct seeds to get distinct samples of one
        prompt. ``use_cache=False`` forces a fresh call (its answer still refreshes the cache).
        """
        spec = self.spec(model)
        msgs, eff = self._prepare(spec, messages, params, seed)
        key = cache_key(spec.provider, spec.cache_model_id, msgs, eff.model_dump(exclude_none=True))
        if use_cache if use_cache is not None else self.use_cache:
            t0 = time.perf_counter()
            hit = self.store.get(key)
            if hit is not None:
                done = hit.model_copy(
                    update={"cached": True, "cost": 0.0, "latency": time.perf_counter() - t0, "attempts": 0}
                )
                self._account(spec, done)
                return done
            pending = self._inflight.get(key)
            if pending is not None:
                return (await asyncio.shield(pending)).model_copy(update={"cached": True, "cost": 0.0})
        self._bind_loop()
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._inflight[key] = future
        try:
            result = await self._call(spec, msgs, eff)
        except BaseException as exc:
            if not future.done():
                future.set_exception(exc)
                future.exception()  # mark retrieved: waiters re-raise it themselves
            raise
        else:
            future.set_result(result)
            self.store.put(key, spec.name, result)
            return result
        finally:
            self._inflight.pop(key, None)

    async def chat_many(
        self,
        model: str,
        conversations: Sequence[MessagesIn],
        params: ChatParams | Mapping[str, Any] | None = None,
        *,
        seeds: Sequence[int | None] | None = None,
        progress: bool = False,
    ) -> list[Completion | LLMError]:
        """Run many chats concurrently (the roster limits apply); failures are returned, not raised.

        A pool of workers as large as the model's concurrency pulls conversations off a shared
        index, so each request is prepared (params, cache key, cache lookup) just before it is
        sent instead of all of them up front while the first ones wait for their answers.
        """
        seeds = list(seeds) if seeds is not None else [None] * len(conversations)
        results: list[Completion | LLMError] = [LLMCallError("not run")] * len(conversations)
        todo = iter(range(len(conversations)))
        workers = max(1, min(self.spec(model).concurrency, len(conversations)))

        async def worker(done: Callable[[object], None] | None) -> None:
            for i in todo:
                try:
                    results[i] = await self.chat(model, conversations[i], params, seed=seeds[i])
                except LLMError as exc:
                    results[i] = exc
                if done is not None:
                    done(results[i])

        if not progress:
            await asyncio.gather(*(worker(None) for _ in range(workers)))
            return results
        from charm_builder.llm.progress import llm_progress

        with llm_progress(f"{model}", len(conversations)) as bar:
            await asyncio.gather(*(worker(bar.advance) for _ in range(workers)))
        return results

    async def apreflight(self, models: Iterable[str] | None = None, *, check_servers: bool = True) -> None:
        """Check, before any work, that each model exists, has its key and its server answers.

        Raises one ``LLMConfigError`` (subclass of the first problem) whose one-line message
        lists every problem found.
        """
        names = list(models) if models is not None else self.roster.names
        problems: list[LLMConfigError] = []
        specs: list[ModelSpec] = []
        for name in names:
            try:
                spec = self.spec(name)
                spec.resolve_api_key(self._env)
                specs.append(spec)
            except LLMConfigError as exc:
                problems.append(exc)
        if check_servers and specs:
            self._bind_loop()
            checks = await asyncio.gather(*(self._provider(s).check() for s in specs), return_exceptions=True)
            for result in checks:
                if isinstance(result, LLMConfigError):
                    problems.append(result)
                elif isinstance(result, BaseException):
                    raise result
        if problems:
            first = problems[0]
            message = "; ".join(str(p) for p in problems)
            raise type(first)(message)

    def preflight(self, models: Iterable[str] | None = None, *, check_servers: bool = True) -> None:
        """Synchronous ``apreflight`` (for CLI code outside an event loop)."""

        async def run() -> None:
            try:
                await self.apreflight(models, check_servers=check_servers)
            finally:
                await self._close_providers()  # their connections die with this event loop

        asyncio.run(run())

    async def ping(self, model: str) -> Completion:
        """A one-token request that bypasses the cache (used by ``models check``)."""
        return await self.chat(model, [{"role": "user", "content": "Say OK."}], {"max_tokens": 1}, use_cache=False)

    def usage(self) -> dict[str, Usage]:
        """Per-model totals of the calls made through this client (cache hits included, cost 0)."""
        return {k: v.model_copy() for k, v in self._usage.items()}

    def total_cost(self) -> float:
        """US dollars spent by this client."""
        return sum(u.cost for u in self._usage.values())

    def ledger(self, run_id: str | None = None) -> dict[str, Usage]:
        """Per-model totals from the workspace ledger (all runs if ``run_id`` is None)."""
        return self.store.usage(run_id)

    def flush(self) -> None:
        """Write buffered cache entries and ledger rows now."""
        self.store.flush()

    async def aclose(self) -> None:
        """Close connections and flush the store."""
        await self._close_providers()
        self.store.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- internals -----------------------------------------------------------------------
    def _prepare(
        self, spec: ModelSpec, messages: MessagesIn, params: ChatParams | Mapping[str, Any] | None, seed: int | None
    ) -> tuple[list[dict[str, str]], ChatParams]:
        msgs = normalise_messages(messages)
        if spec.system_prompt and spec.system_prompt_position == "before_reply":
            msgs.append({"role": "system", "content": spec.system_prompt})
        elif spec.system_prompt:  # after the shared text: the candidates of a context share a prompt prefix
            if msgs[0]["role"] == "system":
                msgs[0] = {"role": "system", "content": f"{msgs[0]['content']}\n\n{spec.system_prompt}"}
            else:
                msgs.insert(0, {"role": "system", "content": spec.system_prompt})
        call = params if isinstance(params, ChatParams) else ChatParams(**(params or {}))
        eff = call.merged_over(spec.params)
        if seed is not None:
            eff = eff.model_copy(update={"seed": seed})
        return msgs, eff

    async def _close_providers(self) -> None:
        """Close the providers' connections (when they belong to this loop) and forget them."""
        if self._loop is asyncio.get_running_loop():
            for provider in self._providers.values():
                await provider.aclose()
            if self._session is not None:
                await self._session.close()
        self._session = None
        self._providers.clear()
        self._limiters.clear()
        self._inflight.clear()
        self._loop = None

    def _bind_loop(self) -> None:
        """Providers and limiters belong to one event loop; rebuild them if the loop changed."""
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._loop = loop
            self._session = None  # it belonged to the old loop
            self._providers.clear()
            self._limiters.clear()
            self._inflight.clear()

    def _provider(self, spec: ModelSpec) -> Provider:
        provider = self._providers.get(spec.name)
        if provider is None:
            provider = make_provider(spec, spec.resolve_api_key(self._env), self._http_session)
            self._providers[spec.name] = provider
        return provider

    def _http_session(self) -> Any:
        """The event loop's aiohttp session for chat calls, shared by the remote models: keep-alive,
        at most as many connections as their concurrencies add up to."""
        if self._session is None:
            limit = sum(s.concurrency for s in self.roster.models.values() if s.provider != "local")
            self._session = open_session(max(1, limit))
        return self._session

    def _limiter(self, spec: ModelSpec) -> ModelLimiter:
        limiter = self._limiters.get(spec.name)
        if limiter is None:
            limiter = ModelLimiter(spec.concurrency, spec.rpm, spec.tpm)
            self._limiters[spec.name] = limiter
        return limiter

    async def _call(self, spec: ModelSpec, msgs: list[dict[str, str]], params: ChatParams) -> Completion:
        provider = self._provider(spec)
        limiter = self._limiter(spec)
        policy = self._retry or RetryPolicy(max_retries=spec.max_retries)
        estimate = estimate_tokens(msgs, params.max_tokens) if limiter.counts_tokens else 0  # only a TPM cap needs it
        t0 = time.perf_counter()

        async def attempt() -> Any:
            async with limiter.slot(estimate):
                return await provider.complete(msgs, params)

        def on_retry(n: int, exc: TransientError, wait: float) -> None:
            self.retries += 1
            log.log(self.retry_log_level, "%s (retry %d in %.2fs)", exc, n, wait)

        try:
            raw, attempts = await with_retries(attempt, policy, on_retry=on_retry)
        except (TransientError, LLMCallError) as exc:
            self._record_failure(spec, time.perf_counter() - t0)
            if isinstance(exc, LLMCallError):
                raise
            raise LLMCallError(
                f"{exc} (gave up after {policy.max_retries + 1} attempts)",
                status=exc.status,
                attempts=policy.max_retries + 1,
            ) from None
        limiter.settle_tokens(estimate, raw.input_tokens + raw.output_tokens)
        completion = Completion(
            text=raw.text,
            input_tokens=raw.input_tokens,
            output_tokens=raw.output_tokens,
            latency=time.perf_counter() - t0,
            cost=spec.cost(raw.input_tokens, raw.output_tokens),
            finish_reason=raw.finish_reason,
            model=spec.name,
            attempts=attempts,
        )
        self._account(spec, completion)
        return completion

    def _account(self, spec: ModelSpec, completion: Completion, *, batch: bool = False) -> None:
        self._usage.setdefault(spec.name, Usage()).add(completion)
        self._record(spec, completion, batch=batch)

    def _record_failure(self, spec: ModelSpec, latency: float) -> None:
        self._usage.setdefault(spec.name, Usage()).errors += 1
        self._record(spec, Completion(text="", latency=latency), ok=False)

    def _record(self, spec: ModelSpec, completion: Completion, *, batch: bool = False, ok: bool = True) -> None:
        """One ledger row for a call of ``spec`` (a failed call: no tokens, no cost)."""
        self.store.record(
            CallRecord(
                run_id=self.run_id,
                model=spec.name,
                model_id=spec.model,
                provider=spec.provider,
                input_tokens=completion.input_tokens,
                output_tokens=completion.output_tokens,
                cost=completion.cost,
                latency=completion.latency,
                cached=completion.cached,
                batch=batch,
                ok=ok,
            )
        )

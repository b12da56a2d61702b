"""The provider interface and the HTTP plumbing shared by the remote providers."""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from charm_builder.llm.errors import LLMCallError, ServerUnreachableError, TransientError, redact
from charm_builder.llm.retry import parse_retry_after
from charm_builder.llm.roster import ModelSpec
from charm_builder.llm.types import ChatParams

_PROXY_VARS = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY", "https_proxy", "http_proxy", "all_proxy")
RETRYABLE_STATUS = frozenset({408, 409, 425, 429, 500, 502, 503, 504, 520, 522, 524, 529})


@dataclass
class RawCompletion:
    """What a provider returns: text and the server's own token counts."""

    text: str
    input_tokens: int
    output_tokens: int
    finish_reason: str


@dataclass
class BatchItem:
    """One request of a batch job; ``wire_id`` is the provider-safe custom id."""

    wire_id: str
    messages: list[dict[str, str]]
    params: ChatParams


@dataclass
class BatchState:
    """Provider-neutral view of a batch: ``done`` once results (if any) can be collected."""

    state: str
    done: bool
    counts: dict[str, int]
    meta: dict[str, Any]


class Provider:
    """Base class of provider adapters. Subclasses implement ``complete`` (and batch methods)."""

    supports_batch = False

    def __init__(self, spec: ModelSpec, api_key: str | None = None) -> None:
        self.spec = spec
        self._api_key = api_key

    async def complete(self, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
        """One chat request; raises ``TransientError`` for retryable failures."""
        raise NotImplementedError

    async def check(self) -> None:
        """Raise ``LLMConfigError`` if the model cannot be used (server down, key rejected, ...)."""

    async def aclose(self) -> None:
        """Release connections."""

    async def batch_submit(self, items: list[BatchItem]) -> tuple[str, dict[str, Any]]:
        """Submit a batch; return (batch id, provider meta to keep)."""
        raise NotImplementedError

    async def batch_status(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        """Poll a batch."""
        raise NotImplementedError

    async def batch_results(self, batch_id: str, meta: dict[str, Any]) -> dict[str, RawCompletion | str]:
        """Results by wire id: a completion, or an error string."""
        raise NotImplementedError


@dataclass
class HTTPResult:
    """A fully read HTTP response."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class HTTPProvider(Provider):
    """Shared HTTP plumbing on aiohttp (a pooled session per event loop) and error mapping.

    aiohttp rather than httpx: on this workload httpx's connection pool costs ~6 ms of CPU per
    request at 64 connections, aiohttp ~0.3 ms (see benchmarks/bench_generation.py).
    """

    def __init__(self, spec: ModelSpec, api_key: str | None = None) -> None:
        super().__init__(spec, api_key)
        self._session: aiohttp.ClientSession | None = None

    def headers(self) -> dict[str, str]:
        """Auth and protocol headers."""
        raise NotImplementedError

    @property
    def session(self) -> aiohttp.ClientSession:
        """The pooled HTTP session (created on first use, inside the running loop)."""
        if self._session is None or self._session.closed:
            n = self.spec.concurrency
            self._session = aiohttp.ClientSession(
                headers=self.headers(),
                timeout=aiohttp.ClientTimeout(total=self.spec.timeout, connect=min(10.0, self.spec.timeout)),
                connector=aiohttp.TCPConnector(limit=n, limit_per_host=n, enable_cleanup_closed=True),
                raise_for_status=False,
                # proxy env lookups cost a thread hop per request: only pay when a proxy is set
                trust_env=any(os.environ.get(v) for v in _PROXY_VARS),
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _where(self) -> str:
        return f"model {self.spec.name!r} ({self.spec.base_url})"

    async def request(
        self, method: str, url: str, *, json_body: Any = None, form: aiohttp.FormData | None = None,
        timeout: float | None = None,
    ) -> HTTPResult:
        """Send one request; map transport failures and error statuses to our exceptions."""
        kwargs: dict[str, Any] = {}
        if json_body is not None:
            kwargs["data"] = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            kwargs["headers"] = {"content-type": "application/json"}
        elif form is not None:
            kwargs["data"] = form
        if timeout is not None:
            kwargs["timeout"] = aiohttp.ClientTimeout(total=timeout)
        try:
            async with self.session.request(method, url, **kwargs) as resp:
                result = HTTPResult(resp.status, resp.headers, await resp.read())
        except TimeoutError:
            raise TransientError(
                f"{self._where()}: request timed out after {timeout or self.spec.timeout:g}s"
            ) from None
        except aiohttp.ClientError as exc:
            raise TransientError(f"{self._where()}: connection error: {type(exc).__name__}") from None
        if result.status >= 400:
            self._raise_for_status(result)
        return result

    def _raise_for_status(self, resp: HTTPResult) -> None:
        status = resp.status
        body = redact(resp.text[:300], self._api_key)
        if status in RETRYABLE_STATUS or status >= 500:
            raise TransientError(
                f"{self._where()}: HTTP {status}: {body}", status=status, retry_after=parse_retry_after(resp.headers)
            )
        if status in (401, 403):
            env = self.spec.api_key_env or "the API key"
            raise LLMCallError(f"{self._where()}: HTTP {status}, the server rejected the key in {env}", status=status)
        raise LLMCallError(f"{self._where()}: HTTP {status}: {body}", status=status)

    def parse_json(self, resp: HTTPResult) -> dict[str, Any]:
        """The JSON object in a response body; a malformed body is a ``TransientError``."""
        try:
            data = json.loads(resp.content)
        except ValueError:
            raise TransientError(f"{self._where()}: malformed response body (not JSON)") from None
        if not isinstance(data, dict):
            raise TransientError(f"{self._where()}: malformed response body (not a JSON object)")
        return data

    async def check_url(self, url: str) -> None:
        """Preflight: the server answers ``GET url`` and does not reject the key."""
        try:
            await self.request("GET", url, timeout=10.0)
        except TransientError as exc:
            if exc.status is not None:
                return  # it answered, even if unhappily: reachable
            cause = str(exc).split(": ", 1)[-1]
            raise ServerUnreachableError(
                f"{self._where()}: server unreachable ({cause}); start the server or fix base_url"
            ) from None
        except LLMCallError as exc:
            if exc.status in (401, 403):
                env = self.spec.api_key_env or "the API key"
                raise ServerUnreachableError(f"{self._where()}: the server rejected the key in {env}") from None

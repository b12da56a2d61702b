"""The provider interface and the HTTP plumbing shared by the remote providers."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from charm_builder.llm.errors import LLMCallError, ServerUnreachableError, TransientError, redact
from charm_builder.llm.retry import parse_retry_after
from charm_builder.llm.roster import ModelSpec
from charm_builder.llm.types import ChatParams

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


class HTTPProvider(Provider):
    """Shared httpx plumbing: one pooled ``AsyncClient`` per event loop, error classification."""

    def __init__(self, spec: ModelSpec, api_key: str | None = None) -> None:
        super().__init__(spec, api_key)
        self._client: httpx.AsyncClient | None = None

    def headers(self) -> dict[str, str]:
        """Auth and protocol headers."""
        raise NotImplementedError

    @property
    def client(self) -> httpx.AsyncClient:
        """The pooled HTTP client (created on first use, inside the running loop)."""
        if self._client is None:
            n = self.spec.concurrency
            self._client = httpx.AsyncClient(
                headers=self.headers(),
                timeout=httpx.Timeout(self.spec.timeout, connect=min(10.0, self.spec.timeout)),
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
            )
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def _where(self) -> str:
        return f"model {self.spec.name!r} ({self.spec.base_url})"

    async def request(
        self, method: str, url: str, *, json_body: Any = None, files: Any = None, data: Any = None
    ) -> httpx.Response:
        """Send one request; map transport failures and error statuses to our exceptions."""
        try:
            if json_body is not None:
                content = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
                resp = await self.client.request(
                    method, url, content=content, headers={"content-type": "application/json"}
                )
            else:
                resp = await self.client.request(method, url, files=files, data=data)
        except httpx.TimeoutException:
            raise TransientError(f"{self._where()}: request timed out after {self.spec.timeout:g}s") from None
        except httpx.TransportError as exc:
            raise TransientError(f"{self._where()}: connection error: {type(exc).__name__}") from None
        if resp.status_code >= 400:
            self._raise_for_status(resp)
        return resp

    def _raise_for_status(self, resp: httpx.Response) -> None:
        status = resp.status_code
        body = redact(resp.text[:300], self._api_key)
        if status in RETRYABLE_STATUS or status >= 500:
            raise TransientError(
                f"{self._where()}: HTTP {status}: {body}", status=status, retry_after=parse_retry_after(resp.headers)
            )
        if status in (401, 403):
            env = self.spec.api_key_env or "the API key"
            raise LLMCallError(f"{self._where()}: HTTP {status}, the server rejected the key in {env}", status=status)
        raise LLMCallError(f"{self._where()}: HTTP {status}: {body}", status=status)

    def parse_json(self, resp: httpx.Response) -> dict[str, Any]:
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
            resp = await self.client.get(url, timeout=10.0)
        except (httpx.TimeoutException, httpx.TransportError) as exc:
            raise ServerUnreachableError(
                f"{self._where()}: server unreachable ({type(exc).__name__}); start it or fix base_url"
            ) from None
        if resp.status_code in (401, 403):
            env = self.spec.api_key_env or "the API key"
            raise ServerUnreachableError(f"{self._where()}: the server rejected the key in {env}")

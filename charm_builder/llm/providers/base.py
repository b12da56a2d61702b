"""The provider interface and the HTTP plumbing shared by the remote providers."""

from __future__ import annotations

import json
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from charm_builder.llm.errors import LLMCallError, ServerUnreachableError, TransientError, redact
from charm_builder.llm.http import HTTPClient, HTTPResponse, HTTPTransportError
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
    batch_max_requests = 50_000  # the provider's per-batch limits (for BatchRunner's splitting)
    batch_max_bytes = 200 * 1024 * 1024

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


def _proxy_applies(url: str) -> bool:
    """True when the environment routes ``url`` through a proxy (``*_PROXY`` minus ``NO_PROXY``)."""
    proxies = urllib.request.getproxies_environment()
    parts = urlsplit(url)
    if not (proxies.get(parts.scheme) or proxies.get("all")):
        return False
    return not urllib.request.proxy_bypass_environment(parts.hostname or "", proxies)


class HTTPProvider(Provider):
    """Shared HTTP plumbing and error mapping for the remote providers.

    Requests go through ``charm_builder.llm.http.HTTPClient`` (keep-alive pool, ~0.08 ms of CPU
    a request; aiohttp needs ~0.22, httpx ~6 at 64 connections; see benchmarks/bench_generation.py).
    When the environment sets a proxy for ``base_url`` they go through aiohttp instead, which
    implements proxies (CONNECT tunnels, proxy auth, ``NO_PROXY``).
    """

    def __init__(self, spec: ModelSpec, api_key: str | None = None) -> None:
        super().__init__(spec, api_key)
        self._http: HTTPClient | None = None
        self._session: Any = None  # aiohttp.ClientSession, only when a proxy applies
        self.via_proxy = _proxy_applies(spec.base_url or "")

    def headers(self) -> dict[str, str]:
        """Auth and protocol headers."""
        raise NotImplementedError

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _where(self) -> str:
        return f"model {self.spec.name!r} ({self.spec.base_url})"

    async def request(
        self, method: str, url: str, *, json_body: Any = None, body: bytes | None = None,
        content_type: str | None = None, timeout: float | None = None,
    ) -> HTTPResponse:
        """Send one request; map transport failures and error statuses to our exceptions.

        ``json_body`` is serialised as JSON; otherwise ``body`` is sent with ``content_type``.
        """
        headers = None
        if json_body is not None:
            body = json.dumps(json_body, ensure_ascii=False).encode("utf-8")
            headers = {"content-type": "application/json"}
        elif body is not None:
            headers = {"content-type": content_type or "application/octet-stream"}
        limit = timeout or self.spec.timeout
        try:
            if self.via_proxy:
                result = await self._request_via_proxy(method, url, body, headers, limit)
            else:
                if self._http is None:
                    self._http = HTTPClient(headers=self.headers(), max_idle=self.spec.concurrency,
                                            connect_timeout=min(10.0, self.spec.timeout))
                result = await self._http.request(method, url, body=body, headers=headers, timeout=limit)
        except TimeoutError:
            raise TransientError(f"{self._where()}: request timed out after {limit:g}s") from None
        except ConnectionError as exc:  # HTTPTransportError and aiohttp's connection errors
            raise TransientError(f"{self._where()}: connection error: {exc}") from None
        if result.status >= 400:
            self._raise_for_status(result)
        return result

    async def _request_via_proxy(
        self, method: str, url: str, body: bytes | None, headers: dict[str, str] | None, timeout: float
    ) -> HTTPResponse:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession(headers=self.headers(), trust_env=True)
        try:
            async with self._session.request(
                method, url, data=body, headers=headers, timeout=aiohttp.ClientTimeout(total=timeout)
            ) as resp:
                content = await resp.read()
                return HTTPResponse(resp.status, {k.lower(): v for k, v in resp.headers.items()}, content)
        except aiohttp.ClientError as exc:
            raise HTTPTransportError(f"{type(exc).__name__} (via proxy)") from None

    def _raise_for_status(self, resp: HTTPResponse) -> None:
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

    def parse_json(self, resp: HTTPResponse) -> dict[str, Any]:
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

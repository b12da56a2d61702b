"""The provider interface and the transport shared by the remote providers.

Two kinds of traffic, two tools:

- chat calls (the hot path: thousands of requests at the roster's concurrency) are plain JSON
  POSTs through one keep-alive aiohttp session per event loop (``open_session``), owned by
  ``LLMClient`` and shared by its remote models;
- control calls (batch files, batch jobs, model listing) go through the official ``openai`` /
  ``anthropic`` async SDKs, which bring auth variants and API changes for free; they are few,
  so the SDKs' lower throughput does not matter (benchmarks/bench_generation.py).

Both map their failures to ``TransientError`` (retryable) or ``LLMCallError`` with one-line
messages that never contain the API key.
"""

from __future__ import annotations

import functools
import json
import os
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from charm_builder.llm.errors import LLMCallError, LLMError, ServerUnreachableError, TransientError, redact
from charm_builder.llm.retry import parse_retry_after
from charm_builder.llm.roster import ModelSpec
from charm_builder.llm.types import ChatParams

if TYPE_CHECKING:
    import aiohttp

T = TypeVar("T")
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

    async def batch_cancel(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        """Ask the provider to cancel a batch (finished requests stay collectable)."""
        raise NotImplementedError


def open_session(limit: int) -> aiohttp.ClientSession:
    """A keep-alive aiohttp session for the running event loop, at most ``limit`` connections.

    TLS uses ``ssl.create_default_context()`` (the system trust store, or ``SSL_CERT_FILE`` /
    ``SSL_CERT_DIR`` as set when the session opens). No cookies: API responses may set them
    (load balancers do) and replaying them is never wanted. Proxies are resolved per provider
    by ``env_proxy``.
    """
    import aiohttp

    tls = _tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR"))
    connector = aiohttp.TCPConnector(limit=limit, limit_per_host=0, ssl=tls)
    return aiohttp.ClientSession(
        connector=connector, cookie_jar=aiohttp.DummyCookieJar(), headers={"user-agent": "charm-builder"}
    )


@functools.lru_cache(maxsize=4)
def _tls_context(cafile: str | None, capath: str | None) -> ssl.SSLContext:
    """One default context per trust-store setting (loading the store is slow: figures in
    benchmarks/README.md#figures)."""
    return ssl.create_default_context()


def env_proxy(url: str) -> tuple[str | None, Any]:
    """(proxy URL, proxy auth) for ``url`` from the environment, as aiohttp's ``trust_env`` finds
    them (``HTTP(S)_PROXY``/``ALL_PROXY`` minus ``NO_PROXY``, credentials from the proxy URL or
    ``.netrc``); (None, None) when no proxy applies.

    Resolved once per provider rather than by ``ClientSession(trust_env=True)``, which looks
    the proxy and ``.netrc`` up again on every request in two thread-pool hops (measured in
    benchmarks/bench_generation.py).
    """
    from aiohttp.helpers import get_env_proxy_for_url
    from yarl import URL

    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None
    return str(proxy), auth


@dataclass(slots=True)
class Response:
    """A fully read HTTP response; ``headers`` look up case-insensitively."""

    status: int
    headers: Mapping[str, str]
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")


class HTTPProvider(Provider):
    """Remote providers: chat over a shared aiohttp session, control calls through an SDK.

    ``session`` returns the event loop's shared session (``LLMClient`` passes its own); without
    one the provider opens a session of its own, sized by the model's concurrency, and closes it
    in ``aclose``. Subclasses give ``headers`` (auth), ``complete`` and ``make_sdk``.
    """

    def __init__(
        self, spec: ModelSpec, api_key: str | None = None, session: Callable[[], aiohttp.ClientSession] | None = None
    ) -> None:
        super().__init__(spec, api_key)
        self._shared = session
        self._session: aiohttp.ClientSession | None = None
        self._sdk: Any = None
        self._headers = self.headers()
        self._json_headers = {**self._headers, "content-type": "application/json"}
        self._proxy, self._proxy_auth = env_proxy(spec.base_url or "")
        self._timeouts: dict[float, Any] = {}

    @property
    def via_proxy(self) -> bool:
        """True when the environment routes this model's ``base_url`` through a proxy."""
        return self._proxy is not None

    def headers(self) -> dict[str, str]:
        """Auth and protocol headers of chat calls."""
        raise NotImplementedError

    def make_sdk(self) -> Any:
        """The official async SDK client for control calls (imported lazily: they are slow to import)."""
        raise NotImplementedError

    def sdk_errors(self) -> tuple[type[BaseException], ...]:
        """The SDK's base exception class(es), mapped by ``control``."""
        raise NotImplementedError

    @property
    def sdk(self) -> Any:
        """The SDK client of this provider (created on first use, closed by ``aclose``)."""
        if self._sdk is None:
            self._sdk = self.make_sdk()
        return self._sdk

    def sdk_options(self) -> dict[str, Any]:
        """Common SDK client options: retries as the roster says, a generous timeout (files)."""
        return {"max_retries": min(self.spec.max_retries, 4), "timeout": max(self.spec.timeout, 300.0)}

    async def aclose(self) -> None:
        if self._session is not None:
            if self._shared is None:
                await self._session.close()
            self._session = None
        if self._sdk is not None:
            await self._sdk.close()
            self._sdk = None

    def _where(self) -> str:
        return f"model {self.spec.name!r} ({self.spec.base_url})"

    # -- hot path: aiohttp -----------------------------------------------------------------
    async def post_json(self, url: str, body: Any) -> dict[str, Any]:
        """POST ``body`` as JSON and return the JSON object answered (errors mapped)."""
        return self.parse_json(await self.request("POST", url, json.dumps(body, ensure_ascii=False).encode()))

    async def request(
        self, method: str, url: str, body: bytes | None = None, *, timeout: float | None = None
    ) -> Response:
        """Send one request (``body`` is JSON) and read the whole response; statuses >= 400
        raise ``TransientError`` (429, 5xx, ...) or ``LLMCallError``."""
        import aiohttp

        session = self._session or self._open()
        limit = timeout or self.spec.timeout
        client_timeout = self._timeouts.get(limit)
        if client_timeout is None:
            client_timeout = self._timeouts[limit] = aiohttp.ClientTimeout(total=limit, connect=min(10.0, limit))
        try:
            async with session.request(
                method,
                url,
                data=body,
                headers=self._json_headers if body is not None else self._headers,
                timeout=client_timeout,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            ) as resp:
                result = Response(resp.status, resp.headers, await resp.read())
        except TimeoutError:
            raise TransientError(f"{self._where()}: request timed out after {limit:g}s") from None
        except aiohttp.ClientConnectorCertificateError as exc:
            reason = getattr(exc.certificate_error, "verify_message", None) or exc.certificate_error
            raise LLMCallError(
                f"{self._where()}: TLS certificate of {_host_port(exc)} not trusted ({reason}); "
                "if a private CA signed it, point SSL_CERT_FILE at its bundle"
            ) from None
        except aiohttp.ClientConnectorError as exc:
            reason = exc.os_error.strerror or exc.os_error
            raise TransientError(f"{self._where()}: cannot connect to {_host_port(exc)}: {reason}") from None
        except aiohttp.ClientError as exc:
            detail = redact(str(exc), self._api_key)[:200]
            raise TransientError(
                f"{self._where()}: connection error: {type(exc).__name__}" + (f": {detail}" if detail else "")
            ) from None
        if result.status >= 400:
            raise self.status_error(result.status, result.text, result.headers)
        return result

    def _open(self) -> aiohttp.ClientSession:
        self._session = self._shared() if self._shared is not None else open_session(self.spec.concurrency)
        return self._session

    def status_error(self, status: int, body: str, headers: Mapping[str, str]) -> LLMError:
        """The exception for an HTTP error status (the body is shortened and redacted)."""
        text = redact(body[:300], self._api_key)
        if status in RETRYABLE_STATUS or status >= 500:
            return TransientError(
                f"{self._where()}: HTTP {status}: {text}", status=status, retry_after=parse_retry_after(headers)
            )
        if status in (401, 403):
            env = self.spec.api_key_env or "the API key"
            return LLMCallError(f"{self._where()}: HTTP {status}, the server rejected the key in {env}", status=status)
        return LLMCallError(f"{self._where()}: HTTP {status}: {text}", status=status)

    def parse_json(self, resp: Response) -> dict[str, Any]:
        """The JSON object in a response body; a malformed body is a ``TransientError``."""
        try:
            data = json.loads(resp.content)
        except ValueError:
            raise TransientError(f"{self._where()}: malformed response body (not JSON)") from None
        if not isinstance(data, dict):
            raise TransientError(f"{self._where()}: malformed response body (not a JSON object)")
        return data

    # -- control calls: the SDK ------------------------------------------------------------
    async def control(self, call: Callable[[Any], Awaitable[T]], *, check: bool = False) -> T:
        """Run ``call(sdk_client)`` and map the SDK's exceptions to ours (``check``: the quick,
        no-retry client of a preflight)."""
        client = self.sdk.with_options(max_retries=0, timeout=10.0) if check else self.sdk
        try:
            return await call(client)
        except self.sdk_errors() as exc:
            raise self.sdk_error(exc) from None

    def sdk_error(self, exc: BaseException) -> LLMError:
        """An SDK exception as ours. Both SDKs name their classes alike (``APIStatusError`` with
        ``status_code``, ``APITimeoutError``, ``APIConnectionError``); their messages may quote
        the request, so only redacted, shortened text is kept."""
        status = getattr(exc, "status_code", None)
        if isinstance(status, int):
            response = getattr(exc, "response", None)
            return self.status_error(
                status, getattr(exc, "message", "") or str(exc), getattr(response, "headers", None) or {}
            )
        name = type(exc).__name__
        if name == "APITimeoutError":
            return TransientError(f"{self._where()}: request timed out")
        if name == "APIConnectionError":
            cause = exc.__cause__
            detail = redact(str(cause) or type(cause).__name__, self._api_key)[:200] if cause else "no answer"
            return TransientError(f"{self._where()}: connection error: {detail}")
        return LLMCallError(f"{self._where()}: {name}: {redact(str(exc), self._api_key)[:300]}")

    async def check(self) -> None:
        """Preflight through the SDK's model listing: the server answers and takes the key."""
        try:
            await self.control(self.list_models, check=True)
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
            if exc.status is None:
                raise ServerUnreachableError(f"{exc}; check base_url") from None

    async def list_models(self, client: Any) -> Any:
        """The SDK call of ``check`` (first page of the model list)."""
        return await client.models.list()


def _host_port(exc: Any) -> str:
    host = f"[{exc.host}]" if ":" in str(exc.host) else exc.host
    return f"{host}:{exc.port}"

"""charm_builder.llm.http: framing, keep-alive, stale connections, faults, TLS, proxies.

Each test runs a small raw asyncio server that answers with exact bytes, so the client meets
the response shapes real servers send (chunked, close-framed, 100 Continue, early close).
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from charm_builder.llm import LLMClient, ModelSpec, Roster
from charm_builder.llm.http import HTTPClient, HTTPResponse, HTTPTransportError, multipart_form
from tests.fakes.openai_server import FakeLLMServer

T = TypeVar("T")
Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawServer:
    """Calls ``handler(reader, writer, connection_number)`` per connection; counts connections."""

    def __init__(self, handler: Handler, tls: ssl.SSLContext | None = None) -> None:
        self.handler, self.tls = handler, tls
        self.connections = 0

    async def __aenter__(self) -> str:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self.connections += 1
            try:
                await self.handler(reader, writer, self.connections)
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                writer.close()

        self._server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=self.tls)
        port = self._server.sockets[0].getsockname()[1]
        return f"{'https' if self.tls else 'http'}://127.0.0.1:{port}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


async def read_request(reader: asyncio.StreamReader) -> tuple[str, dict[str, str], bytes]:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in head[1:] if line)}
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return head[0], headers, body


def ok(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{h}\r\n" for h in extra)
    return f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n{head}\r\n".encode() + body


def serve_forever(response: Callable[[int], bytes]) -> Handler:
    """Answer every request on a connection with ``response(request_number)``."""

    async def handler(reader, writer, _conn) -> None:
        n = 0
        while True:
            await read_request(reader)
            n += 1
            writer.write(response(n))
            await writer.drain()

    return handler


def exchange(handler: Handler, requests: Callable[[HTTPClient, str], Awaitable[T]], *,
             tls: ssl.SSLContext | None = None, **client_kw: Any) -> tuple[T, int]:
    """Serve ``handler``, run ``requests(client, url)`` with a fresh client; (result, connections)."""

    async def go() -> tuple[T, int]:
        server = RawServer(handler, tls)
        async with server as url:
            client = HTTPClient(**client_kw)
            try:
                result = await requests(client, url)
            finally:
                await client.aclose()
        return result, server.connections

    return asyncio.run(go())


def test_keep_alive_reuses_one_connection_and_sends_the_request_as_given() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(reader, writer, _conn) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(ok(b'{"ok": true}', "content-type: application/json"))

    async def requests(client: HTTPClient, url: str):
        a = await client.request("POST", f"{url}/v1/chat?x=1", body=b'{"a": 1}',
                                 headers={"content-type": "application/json"})
        for _ in range(2):
            await client.request("GET", f"{url}/v1/models")
        return a

    a, conns = exchange(handler, requests, headers={"authorization": "Bearer k"})
    assert (a.status, a.headers["content-type"], json.loads(a.content)) == (200, "application/json", {"ok": True})
    line, headers, body = seen[0]
    assert line == "POST /v1/chat?x=1 HTTP/1.1"
    assert headers["authorization"] == "Bearer k" and headers["content-length"] == "8"
    assert headers["host"].startswith("127.0.0.1:") and headers["accept-encoding"] == "identity"
    assert body == b'{"a": 1}' and seen[1][0] == "GET /v1/models HTTP/1.1"
    assert conns == 1


async def twice(client: HTTPClient, url: str) -> tuple[bytes, bytes]:
    """Two GETs in a row, with a pause so a close by the server reaches the idle connection."""
    first = await client.request("GET", url, timeout=5)
    await asyncio.sleep(0.05)
    return first.content, (await client.request("GET", url, timeout=5)).content


def test_chunked_body_with_extensions_and_trailers_is_reassembled_across_segments() -> None:
    pieces = [b"HTTP/1.1 200 OK\r\ntransfer-en", b"coding: chunked\r\n\r\n5;ext=1\r\nhel", b"lo\r\n7\r\n, world",
              b"\r\n0\r\nx-trailer: 1\r\n", b"\r\n"]

    async def handler(reader, writer, _conn) -> None:
        while True:
            await read_request(reader)
            for piece in pieces:  # separate segments: the parser must wait for each
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.01)

    # the trailer was consumed: the connection is reused
    assert exchange(handler, twice) == ((b"hello, world", b"hello, world"), 1)


def test_close_framed_body_is_read_to_eof_and_the_connection_is_not_reused() -> None:
    async def handler(reader, writer, conn) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\n\r\nbody until close " + str(conn).encode())
        await writer.drain()

    assert exchange(handler, twice) == ((b"body until close 1", b"body until close 2"), 2)


def test_interim_100_continue_is_skipped() -> None:
    handler = serve_forever(lambda n: b"HTTP/1.1 100 Continue\r\n\r\n" + ok(b"final"))
    resp, _ = exchange(handler, lambda client, url: client.request("POST", url, body=b"x"))
    assert (resp.status, resp.content) == (200, b"final")


def test_idle_connection_closed_by_the_server_is_replaced_transparently() -> None:
    async def handler(reader, writer, conn) -> None:
        await read_request(reader)
        writer.write(ok(f"conn {conn}".encode()))  # advertises keep-alive, then drops the connection
        await writer.drain()

    assert exchange(handler, twice) == ((b"conn 1", b"conn 2"), 2)


def test_reused_connection_dropped_before_the_answer_is_resent_once_on_a_fresh_one() -> None:
    async def handler(reader, writer, conn) -> None:
        await read_request(reader)
        writer.write(ok(f"conn {conn}".encode()))
        await writer.drain()
        if conn == 1:
            await read_request(reader)  # read the second request, then close without answering
            return
        while True:
            await read_request(reader)
            writer.write(ok(f"conn {conn}".encode()))

    async def requests(client: HTTPClient, url: str):
        return [(await client.request("POST", url, body=b"x")).content for _ in range(2)]

    assert exchange(handler, requests) == ([b"conn 1", b"conn 2"], 2)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part", "in the middle of the response"),
        (b"SPDY/9 what\r\n\r\n", "malformed status line"),
        (b"HTTP/1.1 200 OK\r\nno colon here\r\n\r\n", "malformed header line"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "bad chunk size"),
        (b"HTTP/1.1 200 OK\r\ncontent-length: ten\r\n\r\n", "bad content-length"),
    ],
)
def test_malformed_or_truncated_responses_raise_transport_errors(raw: bytes, message: str) -> None:
    async def handler(reader, writer, _conn) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()

    with pytest.raises(HTTPTransportError, match=message):
        exchange(handler, lambda client, url: client.request("GET", url, timeout=5))


def test_timeout_abandons_the_connection() -> None:
    async def handler(reader, writer, conn) -> None:
        await read_request(reader)
        if conn == 1:
            await asyncio.sleep(5)  # never answers in time
        writer.write(ok(b"late" if conn == 1 else b"fresh"))
        await writer.drain()
        await asyncio.sleep(1)

    async def requests(client: HTTPClient, url: str):
        with pytest.raises(TimeoutError):
            await client.request("GET", url, timeout=0.2)
        return (await client.request("GET", url, timeout=2)).content

    assert exchange(handler, requests) == (b"fresh", 2)


def request_once(method: str, url: str) -> HTTPResponse:
    """One request from a fresh client, with no server of ours involved."""

    async def go() -> HTTPResponse:
        client = HTTPClient()
        try:
            return await client.request(method, url, timeout=5)
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_connection_refused_names_the_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again before the request: nothing listens there
    with pytest.raises(HTTPTransportError, match=f"cannot connect to 127.0.0.1:{port}"):
        request_once("GET", f"http://127.0.0.1:{port}/v1/models")


def test_header_injection_and_non_http_urls_are_refused() -> None:
    with pytest.raises(ValueError, match="invalid HTTP header"):
        HTTPClient(headers={"authorization": "Bearer k\r\nx-evil: 1"})
    with pytest.raises(ValueError, match="not an http"):
        request_once("GET", "ftp://example.com/file")


def test_head_response_has_no_body_even_with_a_content_length() -> None:
    async def requests(client: HTTPClient, url: str):
        return [await client.request("HEAD", url, timeout=2) for _ in range(2)]

    (a, b), conns = exchange(serve_forever(lambda n: b"HTTP/1.1 200 OK\r\ncontent-length: 42\r\n\r\n"), requests)
    assert a.status == b.status == 200 and a.content == b"" and conns == 1


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl CLI."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def test_https_verifies_the_certificate(self_signed: tuple[Path, Path]) -> None:
    cert, key = self_signed
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    def fetch(trust: bool):
        ctx = ssl.create_default_context(cafile=str(cert)) if trust else None
        handler = serve_forever(lambda n: ok(b"secret ok"))
        return exchange(handler, lambda client, url: client.request("GET", f"{url}/v1/models", timeout=5),
                        tls=server_ctx, ssl_context=ctx)[0]

    assert fetch(trust=True).content == b"secret ok"
    with pytest.raises(HTTPTransportError, match=r"CERTIFICATE_VERIFY_FAILED|certificate verify failed"):
        fetch(trust=False)


def test_multipart_form_is_parsed_back_by_a_mime_parser() -> None:
    body, ctype = multipart_form({"purpose": "batch", "file": ("b.jsonl", b'{"a": 1}\n', "application/jsonl")},
                                 boundary="b0undary")
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"content-type: {ctype}\r\n\r\n".encode() + body
    )
    parts = {p.get_param("name", header="content-disposition"): p for p in message.iter_parts()}
    assert parts["purpose"].get_content() == "batch"
    assert parts["file"].get_filename() == "b.jsonl"
    assert parts["file"].get_content() == b'{"a": 1}\n'


class ForwardProxy:
    """A plain HTTP forward proxy (absolute-form requests), counting what it relays."""

    def __init__(self) -> None:
        self.relayed: list[str] = []

    async def __aenter__(self) -> str:
        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            upstream = HTTPClient()
            try:
                while True:
                    line, headers, body = await read_request(reader)
                    method, target, _ = line.split(" ", 2)
                    self.relayed.append(target)
                    keep = {k: v for k, v in headers.items()
                            if k in ("authorization", "content-type", "x-api-key", "anthropic-version")}
                    resp = await upstream.request(method, target, body=body or None, headers=keep, timeout=10)
                    writer.write(f"HTTP/1.1 {resp.status} X\r\ncontent-type: {resp.headers.get('content-type')}\r\n"
                                 f"content-length: {len(resp.content)}\r\n\r\n".encode() + resp.content)
                    await writer.drain()
            except (ConnectionError, asyncio.IncompleteReadError):
                pass
            finally:
                await upstream.aclose()
                writer.close()

        self._server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
def test_provider_goes_through_a_configured_proxy_unless_bypassed(
    monkeypatch: pytest.MonkeyPatch, no_proxy: str
) -> None:
    with FakeLLMServer() as srv:
        spec = ModelSpec(name="gpt", provider="openai", model="gpt-fake", base_url=srv.openai_base_url)
        proxy = ForwardProxy()

        async def go():
            async with proxy as proxy_url:
                monkeypatch.setenv("HTTP_PROXY", proxy_url)
                monkeypatch.setenv("NO_PROXY", no_proxy)
                async with LLMClient(Roster(name="p", models={"gpt": spec})) as client:
                    return await client.chat("gpt", [{"role": "user", "content": "via proxy?"}])

        done = asyncio.run(go())
    assert done.text == "echo: via proxy?"
    if no_proxy:
        assert proxy.relayed == []
    else:
        assert proxy.relayed == [f"{srv.openai_base_url}/chat/completions"]

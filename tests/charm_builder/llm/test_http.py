"""The chat transport (one aiohttp session per event loop) and the SDK control calls, against
raw servers: keep-alive, connection limits, malformed and truncated answers, timeouts, refused
connections, TLS with a private CA, forward proxies and NO_PROXY, keys kept out of errors.

Each raw server answers with exact bytes, so the client meets what real servers and broken
middleboxes send; calls go through ``LLMClient`` as the pipeline makes them.
"""

from __future__ import annotations

import asyncio
import json
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from charm_builder.llm import (
    BatchRequest,
    BatchRunner,
    LLMCallError,
    LLMClient,
    ModelSpec,
    RetryPolicy,
    Roster,
    ServerUnreachableError,
)
from tests.fakes.openai_server import FakeLLMServer

KEY = "sk-raw-SECRET-424242"
HI = [{"role": "user", "content": "hi"}]
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


def completion(text: str) -> bytes:
    """A minimal chat.completion answer."""
    return ok(
        json.dumps(
            {
                "choices": [{"message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 3, "completion_tokens": 1},
            }
        ).encode(),
        "content-type: application/json",
    )


def serve_forever(response: Callable[[int], bytes]) -> Handler:
    """Answer every request on a connection with ``response(connection_number)``."""

    async def handler(reader, writer, conn) -> None:
        while True:
            await read_request(reader)
            writer.write(response(conn))
            await writer.drain()

    return handler


def roster(base_url: str, *, timeout: float = 5.0, concurrency: int = 8) -> Roster:
    spec = ModelSpec(
        name="gpt",
        provider="openai",
        model="m",
        base_url=f"{base_url}/v1",
        api_key_env="RAW_KEY",
        timeout=timeout,
        concurrency=concurrency,
    )
    return Roster(name="raw", models={"gpt": spec})


def client(base_url: str, *, retries: int = 0, **spec_kw: Any) -> LLMClient:
    return LLMClient(
        roster(base_url, **spec_kw), env={"RAW_KEY": KEY}, retry=RetryPolicy(max_retries=retries, base=0.01, cap=0.02)
    )


def chat_with(
    handler: Handler, *questions: str, tls: ssl.SSLContext | None = None, pause: float = 0.0, **client_kw: Any
) -> tuple[list[Any], int]:
    """Serve ``handler``; ask each question in turn through a fresh client; (completions, connections)."""

    async def go() -> tuple[list[Any], int]:
        server = RawServer(handler, tls)
        async with server as url, client(url, **client_kw) as c:
            out = []
            for q in questions:
                out.append(await c.chat("gpt", [{"role": "user", "content": q}]))
                await asyncio.sleep(pause)
        return out, server.connections

    return asyncio.run(go())


def test_chat_calls_reuse_one_keep_alive_connection_and_send_the_openai_request() -> None:
    seen: list[tuple[str, dict[str, str], bytes]] = []

    async def handler(reader, writer, _conn) -> None:
        while True:
            seen.append(await read_request(reader))
            writer.write(completion("hello"))

    done, conns = chat_with(handler, "one", "two", "three")
    assert [c.text for c in done] == ["hello"] * 3 and conns == 1
    line, headers, body = seen[0]
    assert line == "POST /v1/chat/completions HTTP/1.1"
    assert headers["authorization"] == f"Bearer {KEY}" and headers["content-type"] == "application/json"
    assert json.loads(body) == {"model": "m", "messages": [{"role": "user", "content": "one"}]}


def test_connections_stay_within_the_models_concurrency() -> None:
    async def handler(reader, writer, _conn) -> None:
        while True:
            await read_request(reader)
            await asyncio.sleep(0.02)
            writer.write(completion("x"))

    async def go() -> tuple[list[Any], int]:
        server = RawServer(handler)
        async with server as url, client(url, concurrency=3) as c:
            out = await c.chat_many("gpt", [[{"role": "user", "content": f"q{i}"}] for i in range(15)])
        return out, server.connections

    done, conns = asyncio.run(go())
    assert all(not isinstance(d, Exception) for d in done) and conns == 3


def test_server_closing_idle_connections_does_not_fail_calls() -> None:
    async def handler(reader, writer, conn) -> None:
        await read_request(reader)
        writer.write(completion(f"conn {conn}"))  # advertises keep-alive, then drops the connection
        await writer.drain()

    done, conns = chat_with(handler, "a", "b", pause=0.05, retries=2)
    assert [c.text for c in done] == ["conn 1", "conn 2"] and conns == 2


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\nonly part", "connection error"),
        (b"SPDY/9 what\r\n\r\n", "connection error"),
        (b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n", "connection error"),
        (ok(b"<html>gateway</html>"), r"malformed response body \(not JSON\)"),
        (ok(b'{"choices": []}'), r"malformed chat completion"),
    ],
)
def test_malformed_or_truncated_answers_are_retried_then_one_clear_error(raw: bytes, message: str) -> None:
    async def handler(reader, writer, _conn) -> None:
        await read_request(reader)
        writer.write(raw)
        await writer.drain()

    async def go() -> int:
        server = RawServer(handler)
        async with server as url, client(url, retries=1) as c:
            with pytest.raises(LLMCallError, match=message) as err:
                await c.chat("gpt", HI)
        assert "gave up after 2 attempts" in str(err.value) and "\n" not in str(err.value)
        return server.connections

    assert asyncio.run(go()) == 2  # the retry went out on a fresh connection


def test_timeout_is_retried_on_a_fresh_connection() -> None:
    async def handler(reader, writer, conn) -> None:
        await read_request(reader)
        if conn == 1:
            await asyncio.sleep(3)  # never answers in time
        writer.write(completion("fresh"))
        await writer.drain()
        await asyncio.sleep(1)

    done, conns = chat_with(handler, "slow?", timeout=0.3, retries=1)
    assert done[0].text == "fresh" and done[0].attempts == 2 and conns == 2
    with pytest.raises(LLMCallError, match=r"timed out after 0.3s"):
        chat_with(handler, "slow?", timeout=0.3)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # closed again before use: nothing listens there


def test_connection_refused_names_host_and_port() -> None:
    port = free_port()

    async def go() -> None:
        async with client(f"http://127.0.0.1:{port}") as c:
            await c.chat("gpt", HI)

    with pytest.raises(LLMCallError, match=f"cannot connect to 127.0.0.1:{port}") as err:
        asyncio.run(go())
    assert "\n" not in str(err.value)


@pytest.fixture(scope="module")
def self_signed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1 made with the openssl CLI."""
    d = tmp_path_factory.mktemp("tls")
    cert, key = d / "cert.pem", d / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def test_https_verifies_the_certificate_against_ssl_cert_file(
    self_signed: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    cert, key = self_signed
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)
    handler = serve_forever(lambda conn: completion("secret ok"))

    async def preflight() -> None:
        async def models(reader, writer, _conn) -> None:
            while True:
                await read_request(reader)
                writer.write(ok(b'{"object": "list", "data": []}', "content-type: application/json"))
                await writer.drain()

        async with RawServer(models, server_ctx) as url, client(url) as c:
            await c.apreflight()  # through the SDK's own HTTP stack

    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with pytest.raises(LLMCallError, match=r"not trusted \(.*certificate.*SSL_CERT_FILE") as err:
        chat_with(handler, "hi", tls=server_ctx, retries=3)
    assert err.value.attempts == 1  # an untrusted certificate is not retried
    with pytest.raises(ServerUnreachableError, match=r"(?i)certificate"):
        asyncio.run(preflight())

    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    done, _ = chat_with(handler, "hi", tls=server_ctx)
    assert done[0].text == "secret ok"
    asyncio.run(preflight())


def test_keys_echoed_by_a_server_never_reach_errors() -> None:
    async def handler(reader, writer, _conn) -> None:
        while True:
            _, headers, _ = await read_request(reader)
            echo = json.dumps({"error": {"message": f"bad request from {headers.get('authorization')}"}}).encode()
            writer.write(
                f"HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"
                f"content-length: {len(echo)}\r\n\r\n".encode()
                + echo
            )
            await writer.drain()

    async def go() -> list[str]:
        async with RawServer(handler) as url, client(url) as c:
            messages = []
            for call in (c.chat("gpt", HI), BatchRunner(c).submit("gpt", [BatchRequest("a", HI)])):
                with pytest.raises(LLMCallError) as err:
                    await call
                messages.append(str(err.value))
            return messages

    chat_error, batch_error = asyncio.run(go())
    for message in (chat_error, batch_error):  # the chat path (aiohttp) and the SDK path (file upload)
        assert "HTTP 400" in message and "bad request from Bearer ***" in message and KEY not in message


class ForwardProxy:
    """A plain HTTP forward proxy (absolute-form requests), counting what it relays."""

    def __init__(self) -> None:
        self.relayed: list[str] = []

    async def __aenter__(self) -> str:
        import aiohttp

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            async with aiohttp.ClientSession() as upstream:
                try:
                    while True:
                        line, headers, body = await read_request(reader)
                        method, target, _ = line.split(" ", 2)
                        self.relayed.append(target.split("?", 1)[0])
                        keep = {
                            k: v
                            for k, v in headers.items()
                            if k in ("authorization", "content-type", "x-api-key", "anthropic-version")
                        }
                        async with upstream.request(method, target, data=body or None, headers=keep) as resp:
                            content = await resp.read()
                        writer.write(
                            f"HTTP/1.1 {resp.status} X\r\ncontent-type: {resp.content_type}\r\n"
                            f"content-length: {len(content)}\r\n\r\n".encode()
                            + content
                        )
                        await writer.drain()
                except (ConnectionError, asyncio.IncompleteReadError):
                    pass
                finally:
                    writer.close()

        self._server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
        return f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()


@pytest.mark.parametrize("no_proxy", ["", "127.0.0.1"])
def test_chat_and_control_calls_go_through_a_configured_proxy_unless_bypassed(
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
                    await client.apreflight()  # the SDK's model listing
                    return await client.chat("gpt", [{"role": "user", "content": "via proxy?"}])

        done = asyncio.run(go())
    assert done.text == "echo: via proxy?"
    if no_proxy:
        assert proxy.relayed == []
    else:
        assert proxy.relayed == [f"{srv.openai_base_url}/models", f"{srv.openai_base_url}/chat/completions"]


def test_preflight_through_the_sdk_names_an_unreachable_server() -> None:
    port = free_port()

    async def go() -> None:
        async with client(f"http://127.0.0.1:{port}") as c:
            await c.apreflight()

    with pytest.raises(ServerUnreachableError, match=f"127.0.0.1:{port}.*server unreachable") as err:
        asyncio.run(go())
    assert "\n" not in str(err.value)

"""A local fake of the OpenAI and Anthropic HTTP APIs, for tests and benchmarks.

Speaks the real wire formats of
  OpenAI:    POST /v1/chat/completions, GET /v1/models, POST /v1/files (multipart),
             GET /v1/files/{id}/content, POST /v1/batches, GET /v1/batches/{id}
             POST /v1/batches/{id}/cancel
  Anthropic: POST /v1/messages, GET /v1/models, POST /v1/messages/batches,
             GET /v1/messages/batches/{id}, GET /v1/messages/batches/{id}/results,
             POST /v1/messages/batches/{id}/cancel
  Azure:     the OpenAI paths under /openai/ (chat under /openai/deployments/{deployment}/),
             with an ``api-key`` header and a required ``api-version`` query parameter
on a raw asyncio HTTP/1.1 server (keep-alive, no dependencies) so it stays cheap at >1000 req/s.

Knobs: ``latency`` (seconds before each answer; with ``latency_sigma`` > 0 the median of a
lognormal drawn per call, clipped to ``latency_min``..``latency_max``: a long-tailed served
model), ``slots`` (chat requests processed at once, like a serving engine's batch; more wait in
its queue; 0 = unlimited), ``failure_rate`` (share of chat requests answered at once with a
random status from ``failure_statuses`` and a ``Retry-After`` of ``retry_after`` seconds),
``reply`` ("echo", "roleplay", "realistic", a fixed string, a list cycled through, or
``fn(model, messages) -> str``), ``api_key`` (required if set), ``batch_polls`` (status GETs
before a batch finishes). ``reply="realistic"`` answers role-play turns of realistic length in
the prompt's language (zh or en; tokens counted as words plus Chinese characters) and the refine
pass's JSON; ``GET /stats`` reports chat counts, the mean drawn latency and the peak in flight. One-off faults are queued with
``inject(kind, ...)``: ``"status"`` (e.g. 429 with Retry-After), ``"hang"`` (never answer in
time), ``"malformed"`` (200 with a broken JSON body), ``"bad_shape"`` (valid JSON, wrong
fields), ``"disconnect"`` (close the connection).

In a thread (tests)::

    with FakeLLMServer(latency=0.01, failure_rate=0.2) as srv:
        srv.openai_base_url   # http://127.0.0.1:PORT/v1
        srv.anthropic_base_url

In another process (benchmarks)::

    python -m tests.fakes.openai_server --latency 0.05   # prints "READY http://127.0.0.1:PORT"
    python -m tests.fakes.openai_server --latency 0.8 --latency-sigma 0.6 --slots 128 \
        --failure-rate 0.02 --retry-after 1 --reply realistic    # a busy served model (paper scale)
"""

from __future__ import annotations

import argparse
import asyncio
import email.parser
import email.policy
import itertools
import json
import math
import random
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

try:
    from tests.fakes.realistic_replies import count_tokens, realistic_reply
except ImportError:  # run as a script: python tests/fakes/openai_server.py
    from realistic_replies import count_tokens, realistic_reply  # type: ignore[no-redef]

ReplyFn = Callable[[str, list[dict[str, Any]]], str]
_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    408: "Request Timeout",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    529: "Overloaded",
}


@dataclass
class Fault:
    """A one-off misbehaviour applied to the next matching request."""

    kind: str  # status | hang | malformed | bad_shape | disconnect
    status: int = 500
    retry_after: float | None = None
    path: str | None = None  # only requests whose path starts with this
    hang: float = 30.0


@dataclass
class Recorded:
    """A request as the server saw it."""

    method: str
    path: str
    headers: dict[str, str]
    body: Any
    query: str = ""


@dataclass
class _Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class _Response:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)


def _json(status: int, obj: Any, **headers: str) -> _Response:
    return _Response(status, json.dumps(obj).encode(), headers=headers)


def _words(text: str) -> int:
    return len(text.split())


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return " ".join(b.get("text", "") for b in content if isinstance(b, dict))
    return ""


def roleplay_reply(model: str, messages: list[dict[str, Any]]) -> str:
    """Answer like a role-play model: in the language of the system prompt, distinct per model and
    context (so the simulator's repetition and language checks pass), deterministic."""
    import hashlib
    import re

    system = _content_text(messages[0].get("content")) if messages else ""
    tag = hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()[:6]
    n = len(messages)
    if re.search(r"[\u4e00-\u9fff]", system):
        return f"这是第{n}句话，{model}认真地回答，编号{tag}。我们继续聊聊今天发生的事情吧。"
    return f"This is line {n}, answered by {model} with care, tag {tag}. Let us keep talking about today."


class FakeLLMServer:
    """OpenAI + Anthropic fake; see module docstring for knobs."""

    def __init__(
        self,
        *,
        latency: float = 0.0,
        latency_sigma: float = 0.0,
        latency_min: float = 0.0,
        latency_max: float = float("inf"),
        slots: int = 0,
        failure_rate: float = 0.0,
        retry_after: float = 0.01,
        failure_statuses: tuple[int, ...] = (500, 503, 429),
        reply: str | list[str] | ReplyFn = "echo",
        api_key: str | None = None,
        batch_polls: int = 1,
        seed: int = 0,
        record: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.latency = latency
        self.latency_sigma = latency_sigma
        self.latency_min, self.latency_max = latency_min, latency_max
        self.slots = slots
        self._slots: asyncio.Semaphore | None = None
        self.failure_rate = failure_rate
        self.retry_after = retry_after
        self.answered = 0  # chat requests answered 200
        self.failed = 0  # chat requests answered with an injected or random failure status
        self.drawn_latency_s = 0.0  # sum of the latencies drawn for answered chat requests
        self.slot_s = 0.0  # sum of the seconds answered chat requests held a slot (drawn latency + overhead)
        self.failure_statuses = failure_statuses
        self.api_key = api_key
        self.batch_polls = batch_polls
        self.record = record
        self.host, self.port = host, port
        self._rng = random.Random(seed)
        self.realistic = reply == "realistic"
        self._reply = self._make_reply(reply)
        self._tokens = count_tokens if self.realistic else _words
        self.faults: deque[Fault] = deque()
        self.requests: list[Recorded] = []
        self.counts: dict[str, int] = {}
        self.files: dict[str, bytes] = {}
        self.batches: dict[str, dict[str, Any]] = {}
        self.inflight = 0
        self.max_inflight = 0
        self._ids = itertools.count(1)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: asyncio.base_events.Server | None = None
        self._thread: threading.Thread | None = None
        self._tasks: set[asyncio.Task] = set()

    # -- configuration -------------------------------------------------------------------
    @staticmethod
    def _make_reply(reply: str | list[str] | ReplyFn) -> ReplyFn:
        if callable(reply):
            return reply
        if isinstance(reply, list):
            cycle = itertools.cycle(reply)
            return lambda model, messages: next(cycle)
        if reply == "roleplay":
            return roleplay_reply
        if reply == "realistic":
            return realistic_reply
        if reply == "echo":

            def echo(model: str, messages: list[dict[str, Any]]) -> str:
                users = [m for m in messages if m.get("role") == "user"]
                return "echo: " + (_content_text(users[-1]["content"]) if users else "")

            return echo
        return lambda model, messages: reply

    def inject(self, kind: str, count: int = 1, **kwargs: Any) -> None:
        """Queue ``count`` one-off faults (see ``Fault``); thread-safe enough for tests."""
        for _ in range(count):
            self.faults.append(Fault(kind, **kwargs))

    def chat_count(self) -> int:
        """How many chat requests (OpenAI, Azure, Anthropic) arrived, failed ones included."""
        return sum(n for path, n in self.counts.items() if path.endswith("/chat/completions") or path == "/v1/messages")

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def openai_base_url(self) -> str:
        return f"{self.base_url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        return self.base_url

    @property
    def azure_endpoint(self) -> str:
        return self.base_url

    async def serve(self) -> None:
        """Start listening on the running loop (for use inside an existing loop)."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(lambda: _Protocol(self), self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    def start(self) -> FakeLLMServer:
        """Serve from a daemon thread with its own event loop."""
        ready = threading.Event()

        def run() -> None:
            loop = asyncio.new_event_loop()
            asyncio.set_event_loop(loop)
            loop.run_until_complete(self.serve())
            ready.set()
            loop.run_forever()
            for task in list(self._tasks):
                task.cancel()
            loop.run_until_complete(asyncio.sleep(0))
            loop.close()

        self._thread = threading.Thread(target=run, name="fake-llm-server", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self

    def stop(self) -> None:
        """Stop the server thread."""
        if self._loop is None or self._thread is None:
            return

        def shutdown() -> None:
            assert self._server is not None
            self._server.close()
            self._loop.stop()  # type: ignore[union-attr]

        self._loop.call_soon_threadsafe(shutdown)
        self._thread.join(10)
        self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- request handling ----------------------------------------------------------------
    def _take_fault(self, path: str) -> Fault | None:
        for i, f in enumerate(self.faults):
            if f.path is None or path.startswith(f.path):
                del self.faults[i]
                return f
        return None

    async def handle(self, req: _Request) -> _Response | None:
        """Answer one request; None means: drop the connection."""
        path, _, query = req.path.partition("?")
        self.counts[path] = self.counts.get(path, 0) + 1
        body: Any = None
        if req.body and req.headers.get("content-type", "").startswith("application/json"):
            try:
                body = json.loads(req.body)
            except ValueError:
                return _json(400, {"error": {"message": "invalid JSON body", "type": "invalid_request_error"}})
        if self.record:
            self.requests.append(Recorded(req.method, path, req.headers, body, query))
        if path.startswith("/openai/"):
            if "api-version=" not in query:
                return self._error(404, "Resource not found (no api-version)", False, "invalid_request_error")
            if self.api_key and req.headers.get("api-key") != self.api_key:
                return self._error(401, "Access denied due to invalid subscription key", False, "401")
            path = _azure_to_openai_path(path, body)
        else:
            anthropic = path.startswith("/v1/messages")
            if not self._authorised(req.headers, anthropic, either=path == "/v1/models"):
                return self._error(401, "invalid api key", anthropic, "authentication_error")
        anthropic = path.startswith("/v1/messages")
        is_chat = path in ("/v1/chat/completions", "/v1/messages")
        fault = self._take_fault(path)
        if fault is None and is_chat and self.failure_rate and self._rng.random() < self.failure_rate:
            fault = Fault("status", status=self._rng.choice(self.failure_statuses), retry_after=self.retry_after)
        if fault is not None and fault.kind == "status" and self.slots:
            self.failed += 1  # a loaded server refuses at once, before queueing the request
            return await self._apply(fault, anthropic)
        if not is_chat:
            if fault is not None:
                resp = await self._apply(fault, anthropic)
                if resp is not _PASS:
                    return resp
            return self._route(req, path, body)
        if self.slots and self._slots is None:
            self._slots = asyncio.Semaphore(self.slots)
        if self._slots is not None:
            await self._slots.acquire()
        self.inflight += 1
        self.max_inflight = max(self.max_inflight, self.inflight)
        held = time.perf_counter()
        try:
            latency = self._draw_latency()
            if latency:
                await asyncio.sleep(latency)
            if fault is not None:
                resp = await self._apply(fault, anthropic)
                if resp is not _PASS:
                    if resp is not None and resp.status != 200:
                        self.failed += 1
                    return resp
            resp = self._route(req, path, body)
            if resp.status == 200:
                self.answered += 1
                self.drawn_latency_s += latency
                self.slot_s += time.perf_counter() - held
            return resp
        finally:
            self.inflight -= 1
            if self._slots is not None:
                self._slots.release()

    def _draw_latency(self) -> float:
        """Seconds before a chat answer: ``latency``, or a lognormal draw with that median."""
        if not self.latency_sigma:
            return self.latency
        drawn = self.latency * math.exp(self._rng.gauss(0.0, self.latency_sigma))
        return min(self.latency_max, max(self.latency_min, drawn))

    def stats(self) -> dict[str, Any]:
        """Chat requests answered / failed, the mean drawn latency of answered ones and the mean time they held
        a slot (drawn latency plus the server's own delay: more when its process lacks CPU), the peak in flight."""
        return {
            "answered": self.answered,
            "failed": self.failed,
            "mean_latency_s": self.drawn_latency_s / self.answered if self.answered else 0.0,
            "mean_slot_s": self.slot_s / self.answered if self.answered else 0.0,
            "max_inflight": self.max_inflight,
            "slots": self.slots,
        }

    def _authorised(self, headers: dict[str, str], anthropic: bool, either: bool = False) -> bool:
        """OpenAI paths take ``Authorization: Bearer``; Anthropic paths and /v1/models take
        ``x-api-key`` or, as newer Anthropic SDKs send it, ``Authorization: Bearer``."""
        if not self.api_key:
            return True
        if (anthropic or either) and headers.get("x-api-key") == self.api_key:
            return True
        return headers.get("authorization") == f"Bearer {self.api_key}"

    async def _apply(self, fault: Fault, anthropic: bool) -> Any:
        if fault.kind == "status":
            extra = {} if fault.retry_after is None else {"retry-after": f"{fault.retry_after:g}"}
            kind = "rate_limit_error" if fault.status == 429 else "api_error"
            resp = self._error(fault.status, f"injected {fault.status}", anthropic, kind)
            resp.headers.update(extra)
            return resp
        if fault.kind == "hang":
            await asyncio.sleep(fault.hang)
            return _PASS
        if fault.kind == "malformed":
            return _Response(200, b'{"id": "chatcmpl-broken", "choices": [{"mess')
        if fault.kind == "bad_shape":
            return _json(200, {"id": "x", "object": "unexpected"})
        if fault.kind == "disconnect":
            return None
        raise ValueError(f"unknown fault kind {fault.kind!r}")

    def _error(self, status: int, message: str, anthropic: bool, kind: str = "api_error") -> _Response:
        if anthropic:
            return _json(status, {"type": "error", "error": {"type": kind, "message": message}})
        return _json(status, {"error": {"message": message, "type": kind, "code": None}})

    def _route(self, req: _Request, path: str, body: Any) -> _Response:
        m = req.method
        if m == "POST" and path == "/v1/chat/completions":
            return _json(200, self.openai_completion(body))
        if m == "POST" and path == "/v1/messages":
            return _json(200, self.anthropic_message(body))
        if m == "GET" and path == "/stats":
            return _json(200, self.stats())
        if m == "GET" and path == "/v1/models":
            return _json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        if m == "POST" and path == "/v1/files":
            return self._upload(req)
        if m == "GET" and path.startswith("/v1/files/") and path.endswith("/content"):
            data = self.files.get(path.split("/")[3])
            if data is None:
                return self._error(404, "no such file", False, "not_found_error")
            return _Response(200, data, "application/octet-stream")
        if m == "POST" and path == "/v1/batches":
            return self._openai_batch_create(body)
        if m == "POST" and path.startswith("/v1/batches/") and path.endswith("/cancel"):
            return self._cancel(path.split("/")[3], anthropic=False)
        if m == "POST" and path.startswith("/v1/messages/batches/") and path.endswith("/cancel"):
            return self._cancel(path.split("/")[4], anthropic=True)
        if m == "GET" and path.startswith("/v1/batches/"):
            return self._openai_batch_get(path.split("/")[3])
        if m == "POST" and path == "/v1/messages/batches":
            return self._anthropic_batch_create(body)
        if m == "GET" and path.startswith("/v1/messages/batches/"):
            parts = path.split("/")
            if len(parts) == 6 and parts[5] == "results":
                return self._anthropic_batch_results(parts[4])
            return self._anthropic_batch_get(parts[4])
        return self._error(404, f"no route {m} {path}", path.startswith("/v1/messages"), "not_found_error")

    # -- chat formats --------------------------------------------------------------------
    def _answer(
        self, model: str, messages: list[dict[str, Any]], max_tokens: int | None, body: dict[str, Any] | None = None
    ) -> tuple[str, int, bool]:
        if self.realistic:  # the Anthropic system text and the sampling seed shape the answer too
            body = body or {}
            text = realistic_reply(model, messages, _content_text(body.get("system")), body.get("seed"))
            truncated = max_tokens is not None and count_tokens(text) > max_tokens
            if truncated:
                text = text[: max_tokens * 2]
            return text, count_tokens(text), truncated
        text = self._reply(model, messages)
        words = text.split()
        truncated = max_tokens is not None and len(words) > max_tokens
        if truncated:
            text = " ".join(words[:max_tokens])
        return text, _words(text), truncated

    def openai_completion(self, body: dict[str, Any]) -> dict[str, Any]:
        """A chat.completion object for a /v1/chat/completions body."""
        messages = body.get("messages") or []
        text, n_out, truncated = self._answer(body.get("model", ""), messages, body.get("max_tokens"), body)
        n_in = sum(self._tokens(_content_text(m.get("content"))) for m in messages)
        return {
            "id": f"chatcmpl-{next(self._ids)}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model", ""),
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text},
                    "finish_reason": "length" if truncated else "stop",
                    "logprobs": None,
                }
            ],
            "usage": {"prompt_tokens": n_in, "completion_tokens": n_out, "total_tokens": n_in + n_out},
        }

    def anthropic_message(self, body: dict[str, Any]) -> dict[str, Any]:
        """A Message object for a /v1/messages body (system text counts as input)."""
        messages = body.get("messages") or []
        text, n_out, truncated = self._answer(body.get("model", ""), messages, body.get("max_tokens"), body)
        n_in = sum(self._tokens(_content_text(m.get("content"))) for m in messages) + self._tokens(
            _content_text(body.get("system"))
        )
        return {
            "id": f"msg_{next(self._ids)}",
            "type": "message",
            "role": "assistant",
            "model": body.get("model", ""),
            "content": [{"type": "text", "text": text}],
            "stop_reason": "max_tokens" if truncated else "end_turn",
            "stop_sequence": None,
            "usage": {"input_tokens": n_in, "output_tokens": n_out},
        }

    # -- files + OpenAI batches ----------------------------------------------------------
    def _upload(self, req: _Request) -> _Response:
        ctype = req.headers.get("content-type", "")
        msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {ctype}\r\n\r\n".encode() + req.body
        )
        fields: dict[str, bytes] = {}
        filename = "upload"
        for part in msg.iter_parts():
            name = part.get_param("name", header="content-disposition")
            fields[str(name)] = part.get_payload(decode=True) or b""
            filename = part.get_filename() or filename
        if "file" not in fields or fields.get("purpose") != b"batch":
            return self._error(400, "need multipart fields 'file' and purpose=batch", False, "invalid_request_error")
        file_id = f"file-{next(self._ids)}"
        self.files[file_id] = fields["file"]
        return _json(
            200,
            {
                "id": file_id,
                "object": "file",
                "bytes": len(fields["file"]),
                "created_at": int(time.time()),
                "filename": filename,
                "purpose": "batch",
            },
        )

    def _openai_batch_create(self, body: dict[str, Any]) -> _Response:
        data = self.files.get(body.get("input_file_id", ""))
        if data is None:
            return self._error(404, "input file not found", False, "not_found_error")
        out_lines, err_lines = [], []
        for line in data.decode().splitlines():
            if not line.strip():
                continue
            row = json.loads(line)
            user = _content_text((row["body"].get("messages") or [{}])[-1].get("content"))
            rid = f"batch_req_{next(self._ids)}"
            if "FAIL" in user:
                err_lines.append(
                    {
                        "id": rid,
                        "custom_id": row["custom_id"],
                        "response": {
                            "status_code": 400,
                            "request_id": rid,
                            "body": {"error": {"message": "injected batch failure", "type": "invalid_request_error"}},
                        },
                        "error": None,
                    }
                )
            else:
                out_lines.append(
                    {
                        "id": rid,
                        "custom_id": row["custom_id"],
                        "response": {
                            "status_code": 200,
                            "request_id": rid,
                            "body": self.openai_completion(row["body"]),
                        },
                        "error": None,
                    }
                )
        batch_id = f"batch_{next(self._ids)}"
        out_id, err_id = f"file-{next(self._ids)}", f"file-{next(self._ids)}"
        self.files[out_id] = "".join(json.dumps(r) + "\n" for r in out_lines).encode()
        self.files[err_id] = "".join(json.dumps(r) + "\n" for r in err_lines).encode()
        self.batches[batch_id] = {
            "kind": "openai",
            "polls": 0,
            "output_file_id": out_id,
            "error_file_id": err_id if err_lines else None,
            "obj": {
                "id": batch_id,
                "object": "batch",
                "endpoint": body.get("endpoint"),
                "errors": None,
                "input_file_id": body["input_file_id"],
                "completion_window": body.get("completion_window"),
                "status": "validating",
                "output_file_id": None,
                "error_file_id": None,
                "created_at": int(time.time()),
                "request_counts": {"total": len(out_lines) + len(err_lines), "completed": 0, "failed": 0},
            },
            "done_counts": {
                "total": len(out_lines) + len(err_lines),
                "completed": len(out_lines),
                "failed": len(err_lines),
            },
        }
        return _json(200, self.batches[batch_id]["obj"])

    def _openai_batch_get(self, batch_id: str) -> _Response:
        b = self.batches.get(batch_id)
        if b is None:
            return self._error(404, "no such batch", False, "not_found_error")
        b["polls"] += 1
        obj = b["obj"]
        if b.get("cancelled"):
            obj.update(status="cancelled", request_counts={**b["done_counts"], "completed": 0, "failed": 0})
        elif b["polls"] > self.batch_polls:
            obj.update(
                status="completed",
                output_file_id=b["output_file_id"],
                error_file_id=b["error_file_id"],
                request_counts=b["done_counts"],
            )
        else:
            obj["status"] = "in_progress"
        return _json(200, obj)

    # -- Anthropic batches ---------------------------------------------------------------
    def _anthropic_batch_create(self, body: dict[str, Any]) -> _Response:
        results = []
        for r in body.get("requests") or []:
            params = r["params"]
            user = _content_text((params.get("messages") or [{}])[-1].get("content"))
            if "FAIL" in user:
                results.append(
                    {
                        "custom_id": r["custom_id"],
                        "result": {
                            "type": "errored",
                            "error": {
                                "type": "error",
                                "error": {"type": "invalid_request_error", "message": "injected"},
                            },
                        },
                    }
                )
            else:
                results.append(
                    {
                        "custom_id": r["custom_id"],
                        "result": {"type": "succeeded", "message": self.anthropic_message(params)},
                    }
                )
        batch_id = f"msgbatch_{next(self._ids)}"
        n = len(results)
        obj = {
            "id": batch_id,
            "type": "message_batch",
            "processing_status": "in_progress",
            "request_counts": {"processing": n, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
            "ended_at": None,
            "created_at": "2024-09-24T18:37:24Z",
            "expires_at": "2024-09-25T18:37:24Z",
            "cancel_initiated_at": None,
            "results_url": None,
        }
        errored = sum(1 for r in results if r["result"]["type"] == "errored")
        self.batches[batch_id] = {
            "kind": "anthropic",
            "polls": 0,
            "results": results,
            "obj": obj,
            "done_counts": {"processing": 0, "succeeded": n - errored, "errored": errored, "canceled": 0, "expired": 0},
        }
        return _json(200, obj)

    def _anthropic_batch_get(self, batch_id: str) -> _Response:
        b = self.batches.get(batch_id)
        if b is None:
            return self._error(404, "no such batch", True, "not_found_error")
        b["polls"] += 1
        if b.get("cancelled"):
            n = len(b["results"])
            b["results"] = [{"custom_id": r["custom_id"], "result": {"type": "canceled"}} for r in b["results"]]
            b["done_counts"] = {"processing": 0, "succeeded": 0, "errored": 0, "canceled": n, "expired": 0}
        if b["polls"] > self.batch_polls or b.get("cancelled"):
            b["obj"].update(
                processing_status="ended",
                request_counts=b["done_counts"],
                ended_at="2024-09-24T19:00:00Z",
                results_url=f"{self.base_url}/v1/messages/batches/{batch_id}/results",
            )
        return _json(200, b["obj"])

    def _cancel(self, batch_id: str, anthropic: bool) -> _Response:
        """Cancel a batch that has not finished: nothing of it completes (the next poll ends it)."""
        b = self.batches.get(batch_id)
        if b is None:
            return self._error(404, "no such batch", anthropic, "not_found_error")
        b["cancelled"] = True
        if anthropic:
            b["obj"].update(processing_status="canceling", cancel_initiated_at="2024-09-24T18:40:00Z")
        else:
            b["obj"].update(status="cancelling", cancelling_at=int(time.time()))
        return _json(200, b["obj"])

    def _anthropic_batch_results(self, batch_id: str) -> _Response:
        b = self.batches.get(batch_id)
        if b is None or b["obj"]["processing_status"] != "ended":
            return self._error(404, "results not available", True, "not_found_error")
        data = "".join(json.dumps(r) + "\n" for r in b["results"]).encode()
        return _Response(200, data, "application/binary")


_PASS = object()


def _azure_to_openai_path(path: str, body: Any) -> str:
    """An Azure path as the OpenAI path it mirrors; a chat body without ``model`` names the deployment."""
    parts = path.split("/")  # ['', 'openai', 'deployments', NAME, 'chat', 'completions']
    if len(parts) > 4 and parts[2] == "deployments":
        if isinstance(body, dict):
            body.setdefault("model", parts[3])
        return "/v1/" + "/".join(parts[4:])
    return "/v1/" + "/".join(parts[2:])


class _Protocol(asyncio.Protocol):
    """Minimal HTTP/1.1 with keep-alive; requests on one connection are answered in order."""

    def __init__(self, server: FakeLLMServer) -> None:
        self.server = server
        self.buf = bytearray()
        self.transport: asyncio.Transport | None = None
        self.chain: asyncio.Task | None = None
        self.pending: set[asyncio.Task] = set()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = bytes(self.buf[:end]).decode("latin-1").split("\r\n")
            headers = {}
            for line in head[1:]:
                k, _, v = line.partition(":")
                headers[k.strip().lower()] = v.strip()
            length = int(headers.get("content-length", "0"))
            if len(self.buf) < end + 4 + length:
                return
            body = bytes(self.buf[end + 4 : end + 4 + length])
            del self.buf[: end + 4 + length]
            method, path, _ = head[0].split(" ", 2)
            req = _Request(method, path, headers, body)
            task = asyncio.get_running_loop().create_task(self._respond(req, self.chain))
            self.server._tasks.add(task)
            task.add_done_callback(self.server._tasks.discard)
            self.pending.add(task)
            task.add_done_callback(self.pending.discard)
            self.chain = task

    async def _respond(self, req: _Request, previous: asyncio.Task | None) -> None:
        if previous is not None:
            await asyncio.wait([previous])
        try:
            resp = await self.server.handle(req)
        except Exception as exc:
            resp = _json(500, {"error": {"message": f"fake server error: {exc!r}", "type": "server_error"}})
        if self.transport is None or self.transport.is_closing():
            return
        if resp is None:
            self.transport.close()
            return
        extra = "".join(f"{k}: {v}\r\n" for k, v in resp.headers.items())
        head = (
            f"HTTP/1.1 {resp.status} {_REASONS.get(resp.status, 'Status')}\r\n"
            f"content-type: {resp.content_type}\r\ncontent-length: {len(resp.body)}\r\n{extra}\r\n"
        )
        self.transport.write(head.encode("latin-1") + resp.body)

    def connection_lost(self, exc: Exception | None) -> None:
        """The client went away (closed, or was killed): drop its requests, as a serving engine aborts
        the requests of a disconnected client, so they stop holding slots."""
        self.transport = None
        for task in list(self.pending):
            task.cancel()


def write_paper_roster(path: Path, base_url: str, concurrency: int, api_key_env: str = "CHARM_FAKE_API_KEY") -> Path:
    """Write the built-in paper roster (six candidates; user GPT-4o, character and refine Claude-3.5-Sonnet,
    in that order) to ``path`` with every model served by this fake at ``base_url``
    (``FakeLLMServer.base_url``): same names, prices and sampling, the key read from ``api_key_env``,
    ``concurrency`` requests in flight per model and no RPM/TPM cap (a self-hosted deployment: the server
    is the only bound)."""
    import yaml

    from charm_builder.llm.roster import load_roster

    roster = load_roster("paper").model_dump(mode="json", exclude_none=True)
    roster["name"] = "paper-at-fake"
    for spec in roster["models"].values():
        spec["base_url"] = base_url if spec["provider"] == "anthropic" else f"{base_url}/v1"
        spec.update(api_key_env=api_key_env, concurrency=concurrency)
        spec.pop("rpm", None)
        spec.pop("tpm", None)
    path.write_text(yaml.safe_dump(roster, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


@contextmanager
def server_process(**knobs: Any) -> Iterator[str]:
    """Run the fake in a separate Python process (keeps it off the client's CPU); yields base URL."""
    args = [sys.executable, __file__]
    for k, v in knobs.items():
        args += [f"--{k.replace('_', '-')}", str(v)]
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        if not line.startswith("READY "):
            raise RuntimeError(f"fake server did not start: {line!r}")
        yield line.split(" ", 1)[1]
    finally:
        proc.terminate()
        proc.wait(10)


def main() -> None:
    """CLI: serve until stdin closes or the process is terminated."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0, help="seconds; the median with --latency-sigma")
    ap.add_argument("--latency-sigma", type=float, default=0.0, help="lognormal sigma (0: fixed latency)")
    ap.add_argument("--latency-min", type=float, default=0.0)
    ap.add_argument("--latency-max", type=float, default=float("inf"))
    ap.add_argument("--slots", type=int, default=0, help="chat requests processed at once (0: unlimited)")
    ap.add_argument("--failure-rate", type=float, default=0.0)
    ap.add_argument("--retry-after", type=float, default=0.01, help="Retry-After seconds of random failures")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--reply", default="echo")
    ap.add_argument("--api-key", default=None)
    ns = ap.parse_args()

    async def run() -> None:
        srv = FakeLLMServer(
            latency=ns.latency,
            latency_sigma=ns.latency_sigma,
            latency_min=ns.latency_min,
            latency_max=ns.latency_max,
            slots=ns.slots,
            failure_rate=ns.failure_rate,
            retry_after=ns.retry_after,
            seed=ns.seed,
            reply=ns.reply,
            api_key=ns.api_key,
            port=ns.port,
            record=False,
        )
        await srv.serve()
        print(f"READY {srv.base_url}", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)

    try:  # a real serving stack (vLLM's uvicorn) runs on uvloop; use it when installed
        import uvloop
    except ImportError:
        asyncio.run(run())
    else:
        uvloop.run(run())


if __name__ == "__main__":
    main()

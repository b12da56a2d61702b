"""Anthropic provider, preflight errors and the JSON-output helper, against the fake server."""

from __future__ import annotations

import asyncio
import socket

import pytest
from pydantic import BaseModel

from charm_builder.llm import (
    JSONOutputError,
    LLMClient,
    MissingAPIKeyError,
    ServerUnreachableError,
    UnknownModelError,
    chat_json,
)
from tests.charm_builder.llm.helpers import ENV, FAST_RETRY, KEY, make_roster
from tests.fakes.openai_server import FakeLLMServer

MSGS = [{"role": "system", "content": "You are Holmes."}, {"role": "user", "content": "Who are you?"}]


async def once(c: LLMClient, method: str, *args, **kwargs):
    async with c:
        return await getattr(c, method)(*args, **kwargs)


def client(roster, env=ENV) -> LLMClient:
    return LLMClient(roster, env=env, retry=FAST_RETRY)


def test_anthropic_wire_format(server, roster) -> None:
    done = asyncio.run(once(client(roster), "chat", "claude", MSGS, {"temperature": 1.5, "stop": ["END"]}))
    assert done.text == "echo: Who are you?"
    assert (done.input_tokens, done.output_tokens) == (6, 4)
    assert done.cost == pytest.approx((6 * 3.0 + 4 * 15.0) / 1e6)
    req = server.requests[-1]
    assert req.path == "/v1/messages"
    assert req.headers["x-api-key"] == KEY and req.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in req.headers
    assert req.body == {
        "model": "claude-fake",
        "max_tokens": 1024,
        "system": "You are Holmes.",
        "messages": [{"role": "user", "content": "Who are you?"}],
        "temperature": 1.0,
        "stop_sequences": ["END"],
    }


def test_anthropic_max_tokens_maps_to_length(server, roster) -> None:
    done = asyncio.run(once(client(roster), "chat", "claude", MSGS, {"max_tokens": 1}))
    assert done.text == "echo:" and done.finish_reason == "length"


def test_anthropic_overload_and_rate_limit_are_retried(server, roster) -> None:
    server.inject("status", status=529)
    server.inject("status", status=429, retry_after=0.01)
    done = asyncio.run(once(client(roster), "chat", "claude", MSGS))
    assert done.attempts == 3


def test_preflight_passes_and_does_no_work(server, roster) -> None:
    asyncio.run(once(client(roster), "apreflight"))
    assert server.chat_count() == 0
    assert {r.path for r in server.requests} == {"/v1/models"}


def test_preflight_unknown_model(roster) -> None:
    with pytest.raises(UnknownModelError, match="unknown model 'gpt5'"):
        asyncio.run(once(client(roster), "apreflight", ["gpt5"]))


def test_preflight_missing_key_names_env_var(server, roster) -> None:
    with pytest.raises(MissingAPIKeyError) as err:
        asyncio.run(once(client(roster, env={"FAKE_OPENAI_KEY": KEY}), "apreflight"))
    assert str(err.value) == "model 'claude' needs an API key: set the environment variable FAKE_ANTHROPIC_KEY"
    assert server.requests == [] or all(r.path == "/v1/models" for r in server.requests)


def test_preflight_unreachable_server() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = FakeLLMServer()
    srv.port = port
    roster = make_roster(srv)
    with pytest.raises(ServerUnreachableError) as err:
        asyncio.run(once(client(roster), "apreflight", ["gpt"]))
    msg = str(err.value)
    assert "'gpt'" in msg and f"127.0.0.1:{port}" in msg and "unreachable" in msg and "\n" not in msg


def test_preflight_rejected_key(server, roster) -> None:
    env = {"FAKE_OPENAI_KEY": "sk-bad-999", "FAKE_ANTHROPIC_KEY": KEY}
    with pytest.raises(ServerUnreachableError) as err:
        asyncio.run(once(client(roster, env=env), "apreflight"))
    assert "rejected the key in FAKE_OPENAI_KEY" in str(err.value) and "sk-bad-999" not in str(err.value)


def test_sync_preflight_outside_a_loop(server, roster) -> None:
    client(roster).preflight(["gpt"])


class Verdict(BaseModel):
    name: str
    score: int


def _json_roster(reply):
    return FakeLLMServer(api_key=KEY, reply=reply)


def test_chat_json_valid_first_time() -> None:
    with _json_roster('Sure: ```json\n{"name": "Holmes", "score": 5}\n```') as srv:
        value, spent = asyncio.run(_chat_json(make_roster(srv)))
        assert value == Verdict(name="Holmes", score=5) and len(spent) == 1
        assert "JSON schema" in srv.requests[-1].body["messages"][-1]["content"]


def test_chat_json_reasks_once_with_the_error() -> None:
    with _json_roster(["I think Holmes.", '{"name": "Holmes", "score": 4}']) as srv:
        value, spent = asyncio.run(_chat_json(make_roster(srv)))
        assert value == Verdict(name="Holmes", score=4) and len(spent) == 2
        reask = srv.requests[-1].body["messages"]
        assert reask[-2] == {"role": "assistant", "content": "I think Holmes."}
        assert "not valid" in reask[-1]["content"]


def test_chat_json_gives_up_after_one_reask() -> None:
    with _json_roster(['{"name": "Holmes"}', '{"name": "Holmes", "score": "high"}']) as srv:
        with pytest.raises(JSONOutputError, match="'gpt' gave no valid Verdict JSON after a re-ask: score"):
            asyncio.run(_chat_json(make_roster(srv)))
        assert srv.chat_count() == 2


async def _chat_json(roster):
    async with client(roster) as c:
        return await chat_json(c, "gpt", [{"role": "user", "content": "Judge Holmes."}], Verdict)

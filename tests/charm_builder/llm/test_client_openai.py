"""LLMClient + OpenAI provider against the fake server: wire format, faults, retries, cache, ledger."""

from __future__ import annotations

import asyncio
import sqlite3

import pytest

from charm_builder.llm import LLMCallError, LLMClient
from tests.charm_builder.llm.helpers import ENV, FAST_RETRY, KEY, make_roster
from tests.fakes.openai_server import FakeLLMServer

MSGS = [{"role": "system", "content": "You are Holmes."}, {"role": "user", "content": "Who are you?"}]


def run(coro):
    return asyncio.run(coro)


def client(roster, **kw) -> LLMClient:
    return LLMClient(roster, env=ENV, retry=FAST_RETRY, **kw)


async def once(c: LLMClient, method: str, *args, **kwargs):
    """Call one client method and close the client (its sessions belong to this loop)."""
    async with c:
        return await getattr(c, method)(*args, **kwargs)


def test_chat_speaks_the_openai_wire_format(server, roster) -> None:
    async def go():
        async with client(roster) as c:
            return await c.chat("gpt", MSGS, {"temperature": 0.2, "max_tokens": 50}, seed=7)

    done = run(go())
    assert done.text == "echo: Who are you?"
    assert (done.input_tokens, done.output_tokens) == (6, 4)
    assert done.cost == pytest.approx((6 * 2.0 + 4 * 10.0) / 1e6)
    assert done.finish_reason == "stop" and not done.cached and done.attempts == 1
    req = server.requests[-1]
    assert req.path == "/v1/chat/completions"
    assert req.headers["authorization"] == f"Bearer {KEY}"
    assert req.body == {"model": "gpt-fake", "messages": MSGS, "temperature": 0.2, "max_tokens": 50, "seed": 7}


def test_roster_params_and_system_prompt_apply(server) -> None:
    roster = make_roster(server)
    spec = roster.models["gpt"]
    roster.models["gpt"] = spec.model_copy(
        update={"system_prompt": "Be vivid.", "params": spec.params.model_copy(update={"max_tokens": 2})}
    )
    done = run(once(client(roster), "chat", "gpt", MSGS))
    body = server.requests[-1].body
    assert body["messages"][0] == {"role": "system", "content": "You are Holmes.\n\nBe vivid."}
    assert body["max_tokens"] == 2
    assert done.text == "echo: Who" and done.finish_reason == "length"


def test_an_instruction_before_the_reply_leaves_the_whole_context_as_a_shared_prefix(server) -> None:
    roster = make_roster(server)
    roster.models["gpt"] = roster.models["gpt"].model_copy(
        update={"system_prompt": "Be vivid.", "system_prompt_position": "before_reply"}
    )
    run(once(client(roster), "chat", "gpt", MSGS))
    assert server.requests[-1].body["messages"] == [*MSGS, {"role": "system", "content": "Be vivid."}]


@pytest.mark.parametrize(
    ("kind", "kwargs"),
    [
        ("status", {"status": 429, "retry_after": 0.05}),
        ("status", {"status": 500}),
        ("status", {"status": 503}),
        ("malformed", {}),
        ("bad_shape", {}),
        ("disconnect", {}),
    ],
)
def test_transient_faults_are_retried(server, roster, kind, kwargs) -> None:
    server.inject(kind, count=2, **kwargs)
    done = run(once(client(roster), "chat", "gpt", MSGS))
    assert done.text == "echo: Who are you?"
    assert done.attempts == 3
    assert server.chat_count() == 3


def test_timeout_is_retried(server) -> None:
    roster = make_roster(server, timeout=0.3)
    server.inject("hang", hang=5.0)
    done = run(once(client(roster), "chat", "gpt", MSGS))
    assert done.attempts == 2 and done.text.startswith("echo:")


def test_client_errors_are_not_retried(server, roster) -> None:
    server.inject("status", status=400)
    with pytest.raises(LLMCallError, match="HTTP 400") as err:
        run(once(client(roster), "chat", "gpt", MSGS))
    assert err.value.status == 400
    assert server.chat_count() == 1


def test_giving_up_after_max_retries_is_one_clear_error(server, roster) -> None:
    server.inject("status", count=10, status=500)
    with pytest.raises(LLMCallError) as err:
        run(once(client(roster), "chat", "gpt", MSGS))
    assert "gave up after 5 attempts" in str(err.value) and "'gpt'" in str(err.value)
    assert "\n" not in str(err.value)
    assert server.chat_count() == 5


def test_rejected_key_names_the_env_var_and_hides_the_key(server, roster) -> None:
    c = LLMClient(roster, env={"FAKE_OPENAI_KEY": "sk-wrong-key-123"}, retry=FAST_RETRY)
    with pytest.raises(LLMCallError) as err:
        run(once(c, "chat", "gpt", MSGS))
    assert "FAKE_OPENAI_KEY" in str(err.value) and "sk-wrong-key-123" not in str(err.value)


def test_twenty_percent_failure_rate_still_completes_everything() -> None:
    with FakeLLMServer(api_key=KEY, failure_rate=0.2, latency=0.005, seed=3) as srv:
        roster = make_roster(srv)

        async def go():
            async with client(roster) as c:
                convs = [[{"role": "user", "content": f"q{i}"}] for i in range(60)]
                return await c.chat_many("gpt", convs), c.retries

        results, retries = run(go())
    assert [r.text for r in results] == [f"echo: q{i}" for i in range(60)]
    assert retries > 0 and srv.chat_count() == 60 + retries


def test_concurrency_limit_is_respected() -> None:
    with FakeLLMServer(api_key=KEY, latency=0.05) as srv:
        roster = make_roster(srv, concurrency=3)
        convs = [[{"role": "user", "content": f"q{i}"}] for i in range(12)]
        results = run(once(client(roster), "chat_many", "gpt", convs))
    assert all(not isinstance(r, Exception) for r in results)
    assert srv.max_inflight == 3


def test_cache_makes_a_rerun_free_and_seed_is_part_of_the_key(server, roster, tmp_path) -> None:
    db = tmp_path / "ws.db"

    async def first():
        async with client(roster, db=db, run_id="run-1") as c:
            a = await c.chat("gpt", MSGS)
            b = await c.chat("gpt", MSGS)
            s1 = await c.chat("gpt", MSGS, seed=1)
            return a, b, s1

    a, b, s1 = run(first())
    assert not a.cached and b.cached and b.cost == 0.0 and b.text == a.text
    assert not s1.cached
    assert server.chat_count() == 2

    async def rerun():
        async with client(roster, db=db, run_id="run-2") as c:
            again = await c.chat("gpt", MSGS)
            return again, c.ledger("run-2"), c.ledger("run-1"), c.ledger()

    again, ledger2, ledger1, total = run(rerun())
    assert again.cached and again.text == a.text
    assert server.chat_count() == 2
    assert ledger1["gpt"].calls == 3 and ledger1["gpt"].cached == 1
    assert ledger1["gpt"].cost == pytest.approx(2 * a.cost)
    assert ledger2["gpt"].calls == 1 and ledger2["gpt"].cost == 0.0
    assert total["gpt"].calls == 4
    raw = (
        db.read_bytes() + (tmp_path / "ws.db-wal").read_bytes()
        if (tmp_path / "ws.db-wal").exists()
        else db.read_bytes()
    )
    assert KEY.encode() not in raw


def test_identical_concurrent_requests_share_one_call(server, roster) -> None:
    async def go():
        async with client(roster) as c:
            return await asyncio.gather(*(c.chat("gpt", MSGS) for _ in range(5)))

    results = run(go())
    assert server.chat_count() == 1
    assert {r.text for r in results} == {"echo: Who are you?"}
    assert sum(not r.cached for r in results) == 1


def test_tables_live_beside_other_modules_tables(server, roster, tmp_path) -> None:
    db = tmp_path / "ws.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE characters (id TEXT PRIMARY KEY)")
    conn.execute("INSERT INTO characters VALUES ('c1')")
    conn.commit()
    run(client(roster, db=db).aclose())
    run(client(roster, db=lambda: sqlite3.connect(db)).aclose())  # factory form, idempotent schema
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"characters", "llm_cache", "llm_calls", "llm_batches"} <= tables
    assert conn.execute("SELECT COUNT(*) FROM characters").fetchone() == (1,)


def test_usage_totals_per_model(server, roster) -> None:
    async def go():
        async with client(roster) as c:
            await c.chat("gpt", MSGS)
            await c.chat("claude", MSGS)
            return c.usage(), c.total_cost()

    usage, total = run(go())
    assert set(usage) == {"gpt", "claude"}
    assert usage["claude"].input_tokens == 6 and usage["claude"].output_tokens == 4
    assert total == pytest.approx(usage["gpt"].cost + usage["claude"].cost)

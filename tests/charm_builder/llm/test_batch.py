"""Batch mode through the OpenAI Batch API (also on Azure) and Anthropic Message Batches on the
fake server; the provider calls go through the official SDKs."""

from __future__ import annotations

import asyncio
import json
import sqlite3

import pytest

from charm_builder.llm import BatchRequest, BatchRunner, LLMCallError, LLMClient, Roster
from tests.charm_builder.llm.helpers import AZURE_API_VERSION, ENV, FAST_RETRY, KEY, azure_spec, make_roster

CREATE_PATHS = {"gpt": "/v1/batches", "claude": "/v1/messages/batches", "azure": "/openai/batches"}


@pytest.fixture
def roster(server) -> Roster:
    """The openai and anthropic entries plus an azure-openai one, all on the fake server."""
    r = make_roster(server)
    return r.model_copy(update={"models": {**r.models, "azure": azure_spec(server)}})


def requests(n: int, fail: int | None = None) -> list[BatchRequest]:
    return [
        BatchRequest(
            f"dlg-{i}",
            [
                {"role": "system", "content": "Be Holmes."},
                {"role": "user", "content": f"question {i}" + (" FAIL" if i == fail else "")},
            ],
        )
        for i in range(n)
    ]


async def run_batch(roster, db, model, reqs, timeout=10, **limits):
    async with LLMClient(roster, db=db, env=ENV, retry=FAST_RETRY, run_id="batch") as c:
        runner = BatchRunner(c, poll_interval=0.01, **limits)
        results = await runner.run(model, reqs, timeout=timeout)
        return results, runner.last, c.ledger("batch")


@pytest.mark.parametrize("model", ["gpt", "claude", "azure"])
def test_batch_submit_poll_collect_then_rerun_is_cached(server, roster, tmp_path, model) -> None:
    db = tmp_path / "ws.db"
    create_path = CREATE_PATHS[model]
    results, progress, ledger = asyncio.run(run_batch(roster, db, model, requests(5, fail=3)))
    assert progress.submitted == 5 and not progress.resumed
    assert results["dlg-0"].text == "echo: question 0"
    assert isinstance(results["dlg-3"], LLMCallError) and "dlg-3" in str(results["dlg-3"])
    spec = roster.get(model)
    c0 = results["dlg-0"]
    assert c0.cost == pytest.approx(spec.cost(c0.input_tokens, c0.output_tokens) * 0.5)
    assert ledger[model].calls == 4
    assert server.counts[create_path] == 1
    assert server.chat_count() == 0  # everything went through the batch endpoints
    state = sqlite3.connect(db).execute("SELECT provider, state, request_count FROM llm_batches").fetchall()
    assert state == [(spec.provider, "collected", 5)]

    results2, progress2, _ = asyncio.run(run_batch(roster, db, model, requests(5)[:3]))
    assert progress2.cached == 3 and progress2.submitted == 0
    assert server.counts[create_path] == 1
    assert results2["dlg-1"].cached and results2["dlg-1"].text == "echo: question 1"


def test_openai_batch_upload_is_real_jsonl(server, roster, tmp_path) -> None:
    asyncio.run(run_batch(roster, tmp_path / "ws.db", "gpt", requests(2)))
    (upload,) = [f for f in server.files.values() if b'"method": "POST"' in f]
    lines = upload.decode().splitlines()
    assert len(lines) == 2
    row = json.loads(lines[0])
    assert row["url"] == "/v1/chat/completions" and row["body"]["model"] == "gpt-fake"
    assert row["custom_id"] == "r0"


def test_batch_resumes_by_id_after_a_crash(server, roster, tmp_path) -> None:
    db = tmp_path / "ws.db"
    server.batch_polls = 3

    async def submit_only():
        async with LLMClient(roster, db=db, env=ENV, run_id="first") as c:
            return await BatchRunner(c).submit("claude", requests(4))

    batch_id = asyncio.run(submit_only())  # then "crash": nothing polled or collected
    results, progress, _ = asyncio.run(run_batch(roster, db, "claude", requests(4)))
    assert progress.resumed and progress.batch_ids == [batch_id]
    assert server.counts["/v1/messages/batches"] == 1
    assert sorted(results) == [f"dlg-{i}" for i in range(4)]
    assert all(r.text.startswith("echo: question") for r in results.values())


def test_batch_timeout_leaves_a_resumable_batch(server, roster, tmp_path) -> None:
    server.batch_polls = 10**6

    async def go():
        async with LLMClient(roster, db=tmp_path / "ws.db", env=ENV) as c:
            await BatchRunner(c, poll_interval=0.01).run("gpt", requests(2), timeout=0.05)

    with pytest.raises(LLMCallError, match="rerun to resume it"):
        asyncio.run(go())


@pytest.mark.parametrize(
    ("limits", "sizes"),
    [
        ({"max_requests": 3}, [3, 3, 1]),
        ({"max_bytes": 2 * 1024 + 2 * 120}, [2, 2, 2, 1]),  # each request is ~1 KB of envelope + its messages
    ],
)
def test_large_jobs_are_split_into_batches_within_the_limits(server, roster, tmp_path, limits, sizes) -> None:
    db = tmp_path / "ws.db"
    results, progress, _ = asyncio.run(run_batch(roster, db, "gpt", requests(7), **limits))
    assert server.counts["/v1/batches"] == len(sizes) and len(progress.batch_ids) == len(sizes)
    assert [results[f"dlg-{i}"].text for i in range(7)] == [f"echo: question {i}" for i in range(7)]
    counts = sqlite3.connect(db).execute("SELECT request_count FROM llm_batches ORDER BY created_at").fetchall()
    assert [c for (c,) in counts] == sizes


@pytest.mark.parametrize("model", ["gpt", "claude", "azure"])
def test_split_job_interrupted_while_running_resumes_every_batch(server, roster, tmp_path, model) -> None:
    db = tmp_path / "ws.db"
    server.batch_polls = 10**6
    with pytest.raises(LLMCallError, match="rerun to resume it"):
        asyncio.run(run_batch(roster, db, model, requests(5), timeout=0.05, max_requests=2))
    assert server.counts[CREATE_PATHS[model]] == 3
    server.batch_polls = 1
    results, progress, _ = asyncio.run(run_batch(roster, db, model, requests(5), max_requests=2))
    assert progress.resumed and progress.submitted == 0
    assert server.counts[CREATE_PATHS[model]] == 3  # nothing resubmitted
    assert [results[f"dlg-{i}"].text for i in range(5)] == [f"echo: question {i}" for i in range(5)]


def test_azure_batch_uses_azure_paths_key_header_and_the_deployment(server, roster, tmp_path) -> None:
    results, _, _ = asyncio.run(run_batch(roster, tmp_path / "ws.db", "azure", requests(2)))
    assert results["dlg-1"].text == "echo: question 1"
    control = [r for r in server.requests if r.path.startswith("/openai/")]
    assert {r.path.split("/")[2] for r in control} == {"files", "batches"}
    assert all(r.headers["api-key"] == KEY and "authorization" not in r.headers for r in control)
    assert all(f"api-version={AZURE_API_VERSION}" in r.query for r in control)
    (upload,) = [f for f in server.files.values() if b'"method": "POST"' in f]
    row = json.loads(upload.decode().splitlines()[0])
    assert row["url"] == "/chat/completions" and row["body"]["model"] == "dep-4o"
    create = next(r for r in control if r.path == "/openai/batches")
    assert create.body["endpoint"] == "/chat/completions"


@pytest.mark.parametrize(
    ("model", "cancelling", "reason"), [("gpt", "cancelling", "no result"), ("claude", "canceling", "canceled")]
)
def test_cancelled_batch_ends_and_its_requests_fail_clearly(
    server, roster, tmp_path, model, cancelling, reason
) -> None:
    server.batch_polls = 10**6

    async def go():
        async with LLMClient(roster, db=tmp_path / "ws.db", env=ENV) as c:
            runner = BatchRunner(c)
            batch_id = await runner.submit(model, requests(2))
            cancelled = await runner.cancel(batch_id)
            ended = await runner.poll(batch_id)
            return cancelled, ended, await runner.collect(batch_id)

    cancelled, ended, results = asyncio.run(go())
    assert cancelled == (cancelling, False)
    assert ended == ({"gpt": "cancelled", "claude": "ended"}[model], True)
    assert all(isinstance(r, LLMCallError) and reason in str(r) for r in results.values())


def test_rejected_key_on_a_batch_call_names_the_env_var_and_hides_the_key(server, roster, tmp_path) -> None:
    async def go():
        env = {**ENV, "FAKE_OPENAI_KEY": "sk-wrong-batch-key-77"}
        async with LLMClient(roster, db=tmp_path / "ws.db", env=env) as c:
            await BatchRunner(c).submit("gpt", requests(1))

    with pytest.raises(LLMCallError, match="HTTP 401, the server rejected the key in FAKE_OPENAI_KEY") as err:
        asyncio.run(go())
    assert "sk-wrong-batch-key-77" not in str(err.value)

"""The simulator end to end against the local OpenAI-wire-format server."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from charm_builder.llm import LLMClient, RetryPolicy
from charm_builder.simulate import RunOptions, Simulation, plan_dialogues
from charm_builder.store import Workspace
from charm_builder.store.sim_tasks import totals
from schemas import CandidateSet, Dialogue, Scene
from tests.charm_builder.simulate.helpers import MODELS, write_roster
from tests.fakes.openai_server import FakeLLMServer, roleplay_reply
from tests.helpers import REPO


def _run(ws, roster, limit=4, turns=(5, 5), retry=None, seed=0):
    client = LLMClient(str(roster), db=ws.db_path, run_id="t", retry=retry)
    opts = RunOptions(user_model=MODELS[0], character_model=MODELS[1], candidate_models=MODELS, concurrency=4)
    sim = Simulation(ws, client, opts, spent=client.total_cost, flush=client.flush)
    specs = plan_dialogues(ws, limit=limit, seed=seed, turns=turns)

    return sim.run_sync(specs, close=client.aclose), specs


def test_structure_of_dialogues_and_candidates(library_workspace, tmp_path):
    ws = library_workspace
    with FakeLLMServer(latency=0.001, reply=roleplay_reply) as srv:
        report, specs = _run(ws, write_roster(tmp_path / "r.yaml", srv.openai_base_url))
    assert (report.dialogues, report.candidate_sets, report.failed) == (4, 4, 0)
    dialogues = list(ws.iter(Dialogue))
    assert {d.language for d in dialogues} == {"zh", "en"}
    for d in dialogues:
        roles = [t.role for t in d.turns]
        assert roles == ["user", "character", "user", "character", "user"]
        assert d.provenance.models == {"user": "m-user", "character": "m-char"}
        assert d.provenance.params["task"] in {s.key for s in specs}
        assert d.provenance.params["usage"]["calls"] == 5 and d.provenance.seed is not None
        if d.language == "zh":
            assert all("这是第" in t.text for t in d.turns)
    for cset in ws.iter(CandidateSet):
        assert [c.label for c in cset.candidates] == list("ABCDEF")
        assert [c.model_id for c in cset.candidates] == MODELS
        assert all(c.output_tokens > 0 and c.cost_usd > 0 and not c.flags for c in cset.candidates)
        assert cset.context[-1].role == "user"
    # rerun: everything is skipped, nothing new is stored
    with FakeLLMServer(reply=roleplay_reply) as srv:
        again, _ = _run(ws, write_roster(tmp_path / "r.yaml", srv.openai_base_url))
        assert srv.chat_count() == 0
    assert (again.skipped, again.dialogues, ws.count(Dialogue)) == (4, 0, 4)


def test_identical_candidates_are_flagged(library_workspace, tmp_path):
    with FakeLLMServer(reply=lambda m, msgs: roleplay_reply("same", msgs)) as srv:
        _run(library_workspace, write_roster(tmp_path / "r.yaml", srv.openai_base_url), limit=1, turns=(3, 3))
    cset = next(library_workspace.iter(CandidateSet))
    assert [c.flags for c in cset.candidates] == [[]] + [["duplicate"]] * 5


def test_twenty_percent_failures_still_complete_every_dialogue(library_workspace, tmp_path):
    fast = RetryPolicy(max_retries=8, base=0.01, cap=0.05)
    with FakeLLMServer(latency=0.001, failure_rate=0.2, reply=roleplay_reply, seed=7) as srv:
        report, _ = _run(library_workspace, write_roster(tmp_path / "r.yaml", srv.openai_base_url), limit=6, retry=fast)
        requests = srv.chat_count()
    assert (report.dialogues, report.candidate_sets, report.errors) == (6, 6, 0)
    assert report.tally.calls == 6 * (5 + 6)
    assert requests > 6 * (5 + 6) + 5  # the server really failed some calls, and they were retried
    assert library_workspace.count(CandidateSet) == 6


@pytest.mark.slow
def test_sigkill_midway_then_rerun_exact_counts_and_ledger(tmp_path):
    ws_dir = tmp_path / "ws"
    env = {"CHARM_WORKSPACE": str(ws_dir), "PYTHONPATH": str(REPO)}
    subprocess.run(
        [sys.executable, "-m", "charm_builder", "init", str(ws_dir)], env=env, check=True, capture_output=True, cwd=REPO
    )
    with FakeLLMServer(latency=0.05, reply=roleplay_reply) as srv:
        roster = write_roster(tmp_path / "r.yaml", srv.openai_base_url)
        cmd = [
            sys.executable,
            "-m",
            "charm_builder",
            "simulate",
            "--roster",
            str(roster),
            "--limit",
            "8",
            "--turns",
            "5",
            "--concurrency",
            "2",
        ]
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            try:
                with sqlite3.connect(ws_dir / "charm.db", timeout=30) as conn:
                    if conn.execute("SELECT COUNT(*) FROM candidate_sets").fetchone()[0] >= 2:
                        break
            except sqlite3.OperationalError:
                pass
            time.sleep(0.05)
        assert proc.poll() is None, "simulate finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        with Workspace.open(ws_dir) as ws:
            partial = ws.count(CandidateSet)
        assert 2 <= partial < 8
        rerun = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stderr[-2000:]
    with Workspace.open(ws_dir) as ws:
        assert ws.count(Dialogue) == 8 and ws.count(CandidateSet) == 8
        dialogue_ids = [row[0] for row in ws.conn.execute("SELECT dialogue_id FROM candidate_sets")]
        assert len(set(dialogue_ids)) == 8
        done = ws.conn.execute("SELECT COUNT(*) FROM sim_tasks WHERE status='done'").fetchone()[0]
        assert done == 8
        ledger = ws.conn.execute("SELECT COALESCE(SUM(cost),0), SUM(cached=0) FROM llm_calls").fetchone()
        stored = totals(ws)
        assert ledger[0] == pytest.approx(stored["cost_usd"], rel=1e-9)
        assert ledger[0] > 0


def test_refine_and_generated_scenes_keep_original_in_provenance(library_workspace, tmp_path):
    import json as _json

    def reply(model, messages):
        last = messages[-1]["content"]
        if "JSON" in last and "break character" in last:
            text = "改写后的一句台词，依然符合角色。" if "(zh)" in last else "A refined line that stays in character."
            return _json.dumps({"fixes": [{"index": 1, "text": text}, {"index": 0, "text": "Wrong language 错"}]})
        if "JSON" in last and ("scene" in last or "场景" in last):
            return _json.dumps(
                {
                    "title": "Harbor at dusk" if "Invent" in last else "黄昏的港口",
                    "description": "Boats come home." if "Invent" in last else "渔船归港。",
                }
            )
        return roleplay_reply(model, messages)

    ws = library_workspace
    with FakeLLMServer(reply=reply) as srv:
        client = LLMClient(str(write_roster(tmp_path / "r.yaml", srv.openai_base_url)), db=ws.db_path)
        opts = RunOptions(
            user_model=MODELS[0],
            character_model=MODELS[1],
            candidate_models=MODELS,
            refine_model=MODELS[2],
            scene_model=MODELS[3],
            stage="dialogues",
        )
        sim = Simulation(ws, client, opts, spent=client.total_cost, flush=client.flush)
        specs = plan_dialogues(ws, limit=2, seed=5, turns=(3, 3))

        report = sim.run_sync(specs, close=client.aclose)
    assert report.dialogues == 2 and ws.count(CandidateSet) == 0  # --stage dialogues
    for d in ws.iter(Dialogue):
        assert d.provenance.models["refine"] == MODELS[2]
        assert d.turns[1].text in ("A refined line that stays in character.", "改写后的一句台词，依然符合角色。")
        assert d.turns[0].text != "Wrong language 错"
        assert d.provenance.original_turns[1].text != d.turns[1].text
        scene = ws.get(Scene, d.scene_id)
        assert scene.generated_by == MODELS[3] and scene.character_ids == [d.character_id]


def test_candidates_for_imported_dialogues_through_the_batch_api(library_workspace, tmp_path):
    from schemas import Character, Message

    ws = library_workspace
    char = next(ws.iter(Character))
    dialogues = [
        Dialogue(
            character_id=char.id,
            language="en",
            turns=[
                Message(role="user", speaker="fan", text=f"Hello there, question number {i}?"),
                Message(role="character", speaker="x", text="Hello."),
                Message(role="user", speaker="fan", text=f"Tell me more about story {i}."),
                Message(role="character", speaker="x", text="A trailing character turn is dropped from the context."),
            ],
            provenance={"source": "imported"},
        )
        for i in range(3)
    ]
    ws.upsert_many(dialogues)
    with FakeLLMServer(reply=roleplay_reply, batch_polls=1) as srv:
        client = LLMClient(str(write_roster(tmp_path / "r.yaml", srv.openai_base_url)), db=ws.db_path)
        opts = RunOptions(
            user_model=MODELS[0],
            character_model=MODELS[1],
            candidate_models=MODELS,
            stage="candidates",
            batch=True,
            batch_poll_s=0.01,
        )
        sim = Simulation(ws, client, opts, spent=client.total_cost, flush=client.flush)

        report = sim.run_sync(dialogues=list(ws.iter(Dialogue)), close=client.aclose)
        live_chats = srv.chat_count()
        batches = srv.counts.get("/v1/batches", 0)
    assert report.candidate_sets == 3 and ws.count(CandidateSet) == 3
    assert batches == len(MODELS) and live_chats == 0  # every first attempt came back from a batch
    for cset in ws.iter(CandidateSet):
        assert cset.context[-1].role == "user" and len(cset.context) == 3
        assert cset.dialogue_id in {d.id for d in dialogues}
        assert len({c.text for c in cset.candidates}) == 6

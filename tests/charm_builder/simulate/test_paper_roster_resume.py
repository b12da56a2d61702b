"""`charm-build simulate` as benchmarks/bench_paper_scale.py runs it, at small size: the paper roster (refine
on, six candidates) served by the fake with realistic zh/en replies, long-tailed latency and 429/5xx with
Retry-After, killed with SIGKILL midway and rerun: exact counts, nothing duplicated, the ledger consistent."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

from charm_builder.store import Workspace
from charm_builder.store.sim_tasks import totals
from schemas import CandidateSet, Dialogue
from tests.fakes.openai_server import FakeLLMServer, write_paper_roster
from tests.helpers import REPO

PLANNED = 16


def _finished(db) -> int:
    try:
        with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
            return conn.execute("SELECT COUNT(*) FROM sim_tasks WHERE status IN ('done', 'failed')").fetchone()[0]
    except sqlite3.OperationalError:  # no database or table yet
        return 0


@pytest.mark.slow
def test_paper_roster_killed_midway_then_rerun(tmp_path):
    ws_dir = tmp_path / "ws"
    env = {**os.environ, "CHARM_WORKSPACE": str(ws_dir), "PYTHONPATH": str(REPO), "CHARM_FAKE_API_KEY": "k"}
    subprocess.run([sys.executable, "-m", "charm_builder", "init", str(ws_dir)], env=env, check=True, cwd=REPO)
    fake = FakeLLMServer(
        latency=0.03, latency_sigma=0.6, slots=8, failure_rate=0.05, retry_after=0.01, reply="realistic", seed=1
    )
    with fake as srv:
        roster = write_paper_roster(tmp_path / "paper-at-fake.yaml", srv.base_url, concurrency=8)
        cmd = [sys.executable, "-m", "charm_builder", "simulate", "--roster", str(roster)]
        cmd += ["--limit", str(PLANNED), "--turns", "5..9", "--concurrency", "6"]
        proc = subprocess.Popen(cmd, env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.time() + 180
        while time.time() < deadline and proc.poll() is None and _finished(ws_dir / "charm.db") < PLANNED // 3:
            time.sleep(0.05)
        assert proc.poll() is None, "simulate finished before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        at_kill = _finished(ws_dir / "charm.db")
        assert PLANNED // 3 <= at_kill < PLANNED
        answered_before = srv.answered
        rerun = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
        assert rerun.returncode == 0, rerun.stdout[-2000:] + rerun.stderr[-2000:]
        assert f"dialogues {PLANNED}/{PLANNED}" in rerun.stdout  # the bar ends full on a resumed run
        assert srv.failed > 0  # 429/5xx were answered, retried and absorbed
        assert srv.answered - answered_before > 0
    with Workspace.open(ws_dir) as ws:
        states = dict(ws.conn.execute("SELECT status, COUNT(*) FROM sim_tasks GROUP BY status").fetchall())
        assert states == {"done": PLANNED}  # realistic replies pass the cleaning: no task failed
        assert ws.count(Dialogue) == PLANNED and ws.count(CandidateSet) == PLANNED
        tasks = {d.provenance.params["task"] for d in ws.iter(Dialogue)}
        assert len(tasks) == PLANNED  # one dialogue per task: nothing duplicated by the rerun
        sets = list(ws.iter(CandidateSet))
        assert len({s.dialogue_id for s in sets}) == PLANNED
        assert all(len(s.candidates) == 6 and all(c.text for c in s.candidates) for s in sets)
        assert {d.language for d in ws.iter(Dialogue)} == {"zh", "en"}
        refined = [d for d in ws.iter(Dialogue) if d.provenance.models.get("refine") == "claude-3.5-sonnet"]
        assert len(refined) == PLANNED
        paid, cached, cost = ws.conn.execute(
            "SELECT SUM(cached = 0), SUM(cached = 1), COALESCE(SUM(cost), 0) FROM llm_calls WHERE ok = 1"
        ).fetchone()
        tally = totals(ws)
    # every call of a stored task is in the ledger (flushed before the task commits), paid once: the
    # rerun found the killed run's answers in the cache; calls answered after the last flush are asked again
    assert cached > 0 and paid <= srv.answered
    assert cost == pytest.approx(tally["cost_usd"], rel=1e-9)
    assert tally["calls"] <= paid + cached


def test_realistic_replies_pass_the_simulators_cleaning(library_workspace):
    """The fake's realistic replies are usable turns in both languages and on both sides, of role-play length."""
    from charm_builder.simulate.cleaning import clean_turn
    from charm_builder.simulate.prompts import as_chat, character_system_prompt, user_system_prompt
    from schemas import Character, UserPersona
    from tests.fakes.realistic_replies import count_tokens, realistic_reply

    character = next(iter(library_workspace.iter(Character)))
    user = next(iter(library_workspace.iter(UserPersona)))
    lengths: dict[tuple[str, str], list[int]] = {}
    for lang in ("zh", "en"):
        systems = {
            "user": user_system_prompt(user, character, None, lang, None),
            "character": character_system_prompt(character, None, lang),
        }
        for role, system in systems.items():
            for seed in range(40):
                text = realistic_reply("m", as_chat(system, [], role, lang), "", seed)
                cleaned = clean_turn(text, own_names=[], other_names=[], language=lang, history=[], prompt=system)
                assert cleaned.problem is None, (lang, role, text)
                lengths.setdefault((lang, role), []).append(count_tokens(text))
    for (lang, role), counts in lengths.items():
        median = sorted(counts)[len(counts) // 2]
        assert (15 if role == "user" else 30) <= median <= (80 if role == "user" else 160), (lang, role, median)

"""`charm-build demo`: the whole pipeline, its steps and its closing summary, in a log (not a terminal)."""

from __future__ import annotations

import hashlib

import pytest

from charm_apps.demo.steps import annotate_note
from charm_builder.judge.picks import SyntheticReport
from charm_builder.judge.runner import JudgeReport
from tests.charm_builder.simulate.helpers import MODELS, write_roster
from tests.fakes.openai_server import FakeLLMServer, roleplay_reply
from tests.helpers import run_cli


def reply(model, messages):
    """Role-play answers, and a score (from the reply's hash) when asked to judge."""
    last = messages[-1]["content"] if messages else ""
    if "Score: N" in last:
        return f"Score: {1 + int(hashlib.sha256(last.encode()).hexdigest(), 16) % 10}"
    return roleplay_reply(model, messages)


@pytest.mark.slow
def test_demo_runs_every_step_and_names_what_it_left(tmp_path, tiny_llama):
    ws = tmp_path / "ws"
    with FakeLLMServer(latency=0.001, reply=reply) as srv:
        roster = write_roster(tmp_path / "r.yaml", srv.openai_base_url)
        proc = run_cli(
            "demo",
            "--roster",
            str(roster),
            "--judge",
            MODELS[0],
            "--dialogues",
            "6",
            "--role-reward",
            "2",
            "--rm-model",
            str(tiny_llama),
            "--rm-steps",
            "1",
            workspace=ws,
            timeout=600,
        )
        calls = srv.chat_count()
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:] + out[-3000:]
    assert "\r" not in out + proc.stderr  # a log gets lines, not carriage-return redraws
    assert calls == 6 * (3 + 6 + 6)  # 3 turns, 6 candidates and 6 judge scores each
    assert "spent 54 calls" in out  # simulate's closing line, compared with its estimate
    summary = out[out.index("demo: summary") :]
    for step in (
        "init",
        "simulate",
        "annotate (LLM judge m-user, synthetic)",
        "export",
        "charm-train rm",
        "charm-train eval-rm",
    ):
        assert step in summary
    assert "charm-build annotate serve -w" in summary and "charm-build annotate push -w" in summary
    assert "ws/charm.db" in summary
    assert (ws / "exports" / "demo" / "preferenceTraining" / "manifest.json").exists()
    assert (ws / "runs" / "demo-rm" / "eval" / "results.md").exists()
    for path in ("exports/demo/", "runs/demo-rm/", "runs/demo-rm/eval/results.md"):
        assert path in summary
    again = run_cli("demo", "--dialogues", "3", "--role-reward", "3", workspace=ws)
    assert again.returncode == 2 and "--role-reward 3: must be below --dialogues 3" in again.stderr


def test_annotate_note_counts_tie_breaks():
    """A judge that gives all six candidates one score picks best/worst by tie-break only: the demo says how many."""
    scored = JudgeReport(judge="j", scored=20, already_scored=4, unparseable=1)
    varied = SyntheticReport(judge="j", written=4, sets_scored=4, tied=0)
    assert annotate_note(scored, varied) == (
        "24 candidates scored (1 unparseable); 4 synthetic best/worst annotation(s) over 4 scored set(s)"
    )
    flat = SyntheticReport(judge="j", written=4, sets_scored=4, tied=3)
    assert annotate_note(scored, flat).endswith(
        "over 4 scored set(s), 3 of them tie-breaks (the judge gave every candidate the same score)"
    )

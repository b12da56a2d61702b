"""`charm-build demo`: the whole pipeline, its steps and its closing summary, in a log (not a terminal)."""

from __future__ import annotations

import hashlib

import pytest

from tests.charm_builder.simulate.helpers import MODELS, write_roster
from tests.fakes.openai_server import FakeLLMServer, roleplay_reply
from tests.helpers import run_cli

try:  # the LLM-judge stage (charm-build judge) arrives from another branch
    import charm_builder.judge  # noqa: F401

    HAS_JUDGE = True
except ImportError:
    HAS_JUDGE = False


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
    assert calls == 6 * (3 + 6) + (6 * 6 if HAS_JUDGE else 0)  # 3 turns + 6 candidates (+ 6 judge scores) each
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
    if HAS_JUDGE:
        assert (ws / "exports" / "demo" / "preferenceTraining" / "manifest.json").exists()
        assert (ws / "runs" / "demo-rm" / "eval" / "results.md").exists()
        for path in ("exports/demo/", "runs/demo-rm/", "runs/demo-rm/eval/results.md"):
            assert path in summary
    else:  # the annotation step is not in this build: it says so, and the steps that need it skip
        assert "needs the LLM-judge stage" in summary
        assert summary.count("skipped") >= 4
        assert not (ws / "runs" / "demo-rm").exists()
    again = run_cli("demo", "--dialogues", "3", "--role-reward", "3", workspace=ws)
    assert again.returncode == 2 and "--role-reward 3: must be below --dialogues 3" in again.stderr

"""`simulate --dry-run`: the plan and its cost before any call; a real run compares its ledger with it."""

from __future__ import annotations

import re
import sqlite3

import pytest

from charm_builder.llm import load_roster
from charm_builder.simulate import plan_dialogues
from charm_builder.simulate.estimate import EstimateOptions, estimate_simulation, human_tokens, human_usd
from tests.charm_builder.simulate.helpers import MODELS, write_roster
from tests.fakes.openai_server import FakeLLMServer, roleplay_reply
from tests.helpers import run_cli

SPENT = re.compile(r"spent ([\d,]+) calls / (\S+) tokens / (\$[\d.,]+) \(estimate: ([\d,]+) / (\S+) / (\$[\d.,]+)\)")


def _opts(**kw) -> EstimateOptions:
    return EstimateOptions(user_model=MODELS[0], character_model=MODELS[1], candidate_models=MODELS, **kw)


def test_estimate_counts_calls_and_prices_them_with_the_roster(library_workspace, tmp_path):
    roster = load_roster(write_roster(tmp_path / "r.yaml", "http://127.0.0.1:9/v1", price_in=2.0, price_out=8.0))
    short = plan_dialogues(library_workspace, limit=4, seed=0, turns=(5, 5))
    long = plan_dialogues(library_workspace, limit=4, seed=0, turns=(9, 9))
    est = estimate_simulation(library_workspace, roster, _opts(), specs=short)
    assert (est.dialogues, est.candidate_sets, est.turns, est.already_done) == (4, 4, 20, 0)
    assert sum(est.cells.values()) == 4 and {lang for _, _, lang in est.cells} == {"zh", "en"}
    # user speaks turns 1, 3, 5 and is also candidate A; the character turns 2, 4 and is candidate B
    assert est.per_model["m-user"].calls == 4 * 3 + 4 and est.per_model["m-char"].calls == 4 * 2 + 4
    assert est.total.calls == 4 * 5 + 4 * 6
    for u in est.per_model.values():
        assert u.cost_usd == pytest.approx((2.0 * u.input_tokens + 8.0 * u.output_tokens) / 1e6)
    longer = estimate_simulation(library_workspace, roster, _opts(), specs=long)
    assert longer.total.input_tokens > est.total.input_tokens * 1.5  # the history grows with every turn
    assert est.ceiling is not None and est.ceiling.tokens > est.total.tokens  # no max_tokens: 256 per reply
    only_dialogues = estimate_simulation(library_workspace, roster, _opts(stage="dialogues"), specs=short)
    assert (only_dialogues.total.calls, only_dialogues.candidate_sets) == (20, 0)


def test_formatting_helpers():
    assert [human_tokens(n) for n in (999, 1234, 45_600, 1_234_567)] == ["999", "1.2k", "46k", "1.23M"]
    assert [human_usd(x) for x in (0, 0.01234, 12.5)] == ["$0.00", "$0.0123", "$12.50"]


def test_dry_run_prints_plan_and_estimate_without_any_call(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    roster = write_roster(tmp_path / "r.yaml", "http://127.0.0.1:9/v1")  # nothing listens there
    proc = run_cli("simulate", "--roster", str(roster), "--limit", "4", "--turns", "5", "--dry-run", workspace=ws)
    assert proc.returncode == 0, proc.stderr
    assert "plan: 4 dialogue(s), 20 turns" in proc.stdout
    assert re.search(r"total\s.*\b44\b", proc.stdout), proc.stdout  # 4 x 5 turns + 4 x 6 candidates
    for model in MODELS:
        assert model in proc.stdout
    with sqlite3.connect(ws / "charm.db") as conn:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        assert "llm_calls" not in tables  # no LLM client was even built
        assert conn.execute("SELECT COUNT(*) FROM dialogues").fetchone()[0] == 0


def test_real_run_closing_line_compares_the_ledger_with_the_estimate(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    with FakeLLMServer(latency=0.001, reply=roleplay_reply) as srv:
        roster = write_roster(tmp_path / "r.yaml", srv.openai_base_url)
        proc = run_cli("simulate", "--roster", str(roster), "--limit", "4", "--turns", "5", workspace=ws)
        assert proc.returncode == 0, proc.stderr
        served = srv.chat_count()
        match = SPENT.search(proc.stdout)
        assert match, proc.stdout
        calls, tokens, usd, est_calls, _, est_usd = match.groups()
        with sqlite3.connect(ws / "charm.db") as conn:
            n, tok, cost = conn.execute(
                "SELECT COUNT(*), SUM(input_tokens + output_tokens), SUM(cost) FROM llm_calls"
            ).fetchone()
        assert int(calls.replace(",", "")) == n == served == 44
        assert tokens == human_tokens(tok) and usd == human_usd(cost)
        assert int(est_calls.replace(",", "")) == 44 and est_usd != "$0.00"
        # the same plan again: everything is done, the estimate says so and costs nothing
        again = run_cli("simulate", "--roster", str(roster), "--limit", "4", "--turns", "5", "--dry-run", workspace=ws)
        assert again.returncode == 0, again.stderr
        assert "already done by an earlier run (skipped): 4" in again.stdout
        assert srv.chat_count() == served

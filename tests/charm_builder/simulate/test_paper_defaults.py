"""Simulator defaults against the paper: the paper roster refines its dialogues, the user simulator
talks freely unless steered (steering is beyond the paper), and the dry run shows the planned mean."""

from __future__ import annotations

import json
import re
from importlib import resources

import pytest
import yaml

from charm_builder.llm import LLMClient
from charm_builder.simulate import RunOptions, Simulation, plan_dialogues
from charm_builder.simulate.prompts import FREE_INTENT, INTENTS
from charm_builder.store import Workspace
from schemas import Dialogue
from tests.charm_builder.simulate.helpers import MODELS, write_roster
from tests.fakes.openai_server import FakeLLMServer, roleplay_reply
from tests.helpers import run_cli

REFINED = "A refined line that stays in character."
KEYS = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant", "ARK_API_KEY": "ark", "DASHSCOPE_API_KEY": "ds"}


def _refine_or_roleplay(model, messages):
    if messages[-1]["content"].startswith("You review role-play dialogues"):
        return json.dumps({"fixes": [{"index": 1, "text": REFINED}]})
    return roleplay_reply(model, messages)


def _paper_roster_at(srv: FakeLLMServer, path):
    """The shipped paper roster, every entry pointed at the fake server (its `simulate` section kept)."""
    data = yaml.safe_load(resources.files("charm_builder.llm").joinpath("rosters", "paper.yaml").read_text())
    for entry in data["models"].values():
        entry["base_url"] = srv.anthropic_base_url if entry["provider"] == "anthropic" else srv.openai_base_url
        entry["timeout"] = 10
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")  # roster order picks the roles
    return path


def _refine_requests(srv: FakeLLMServer) -> list:
    return [
        r
        for r in srv.requests
        if isinstance(r.body, dict)
        and any("You review role-play dialogues" in str(m.get("content")) for m in r.body["messages"])
    ]


def test_paper_roster_runs_the_refine_pass_and_refine_none_skips_it(tmp_path):
    for name in ("ws", "ws-none"):
        assert run_cli("init", str(tmp_path / name)).returncode == 0
    args = ("simulate", "--limit", "2", "--turns", "3", "--language", "en", "--stage", "dialogues")
    with FakeLLMServer(reply=_refine_or_roleplay) as srv:
        roster = str(_paper_roster_at(srv, tmp_path / "paper.yaml"))
        proc = run_cli(*args, "--roster", roster, workspace=tmp_path / "ws", env=KEYS)
        assert proc.returncode == 0, proc.stderr
        assert "refine=claude-3.5-sonnet" in proc.stdout and "steer-user=off" in proc.stdout
        refines = _refine_requests(srv)
        assert len(refines) == 2  # one review per dialogue ...
        assert {(r.path, r.body["model"]) for r in refines} == {("/v1/messages", "claude-3-5-sonnet-20241022")}
        srv.requests.clear()
        off = run_cli(*args, "--roster", roster, "--refine", "none", workspace=tmp_path / "ws-none", env=KEYS)
        assert off.returncode == 0, off.stderr
        assert "refine=off" in off.stdout and _refine_requests(srv) == []
    with Workspace.open(tmp_path / "ws") as ws:
        for d in ws.iter(Dialogue):  # ... and its rewrite was applied, the original kept
            assert d.provenance.models["refine"] == "claude-3.5-sonnet"
            assert d.turns[1].text == REFINED and d.provenance.original_turns[1].text != REFINED
    with Workspace.open(tmp_path / "ws-none") as ws:
        assert ws.count(Dialogue) == 2
        assert all("refine" not in d.provenance.models and d.turns[1].text != REFINED for d in ws.iter(Dialogue))


def _user_system_prompts(srv: FakeLLMServer) -> list[str]:
    return [r.body["messages"][0]["content"] for r in srv.requests if r.body.get("model") == MODELS[0]]


def _simulate(ws, roster_path, *, steer: bool, limit: int = 4):
    client = LLMClient(str(roster_path), db=ws.db_path, run_id="t")
    opts = RunOptions(user_model=MODELS[0], character_model=MODELS[1], candidate_models=MODELS, stage="dialogues")
    sim = Simulation(ws, client, opts, spent=client.total_cost, flush=client.flush)
    specs = plan_dialogues(ws, limit=limit, seed=1, turns=(3, 3), steer_user=steer)
    return sim.run_sync(specs, close=client.aclose), specs


@pytest.mark.parametrize("steer", [False, True])
def test_user_prompt_carries_the_dimension_intent_only_when_steered(library_workspace, tmp_path, steer):
    with FakeLLMServer(reply=roleplay_reply) as srv:
        report, specs = _simulate(
            library_workspace, write_roster(tmp_path / "r.yaml", srv.openai_base_url), steer=steer
        )
        prompts = _user_system_prompts(srv)
    assert report.dialogues == 4 and len(prompts) == 4 * 2  # the user speaks turns 1 and 3
    used = {dim for dim, texts in INTENTS.items() for p in prompts if any(t in p for t in texts.values())}
    has_free = [any(f in p for f in FREE_INTENT.values()) for p in prompts]
    if steer:  # every user prompt pursues its dialogue's dimension; both dimensions were planned and used
        assert used == {s.dimension for s in specs} == set(INTENTS) and not any(has_free)
        for spec in specs:
            assert any(INTENTS[spec.dimension][spec.language] in p for p in prompts)
    else:  # as in the paper: no intent text at all, the free-conversation goal instead
        assert used == set() and all(has_free)
    assert all(d.provenance.params["steer_user"] is steer for d in library_workspace.iter(Dialogue))


def test_steered_and_free_runs_never_reuse_each_others_results(library_workspace, tmp_path):
    ws = library_workspace
    with FakeLLMServer(reply=roleplay_reply) as srv:
        roster = write_roster(tmp_path / "r.yaml", srv.openai_base_url)
        steered, _ = _simulate(ws, roster, steer=True)
        after_steered = srv.chat_count()
        free, _ = _simulate(ws, roster, steer=False)
        after_free = srv.chat_count()
        again, _ = _simulate(ws, roster, steer=True)
        assert srv.chat_count() == after_free  # the steered plan again: all done, nothing called
    assert steered.dialogues == 4 and after_steered == 4 * 3
    # the free run skipped nothing and made its own calls: the user prompt differs, so does every
    # cache key downstream of it (the character's turns see different user turns)
    assert (free.skipped, free.dialogues) == (0, 4) and after_free - after_steered == 4 * 3
    assert (again.skipped, again.dialogues) == (4, 0)
    by_setting = {}
    for d in ws.iter(Dialogue):
        by_setting.setdefault(d.provenance.params["steer_user"], set()).add(d.id)
    assert len(by_setting[True]) == len(by_setting[False]) == 4 and not by_setting[True] & by_setting[False]


def _calls(stdout: str, model: str) -> int:
    """The calls column of ``model``'s row in the dry run's estimate table."""
    row = next(line for line in stdout.splitlines() if line.strip("│ ").startswith(model + " "))
    return int(row.split("│")[3].replace(",", ""))


def test_dry_run_reports_the_planned_mean_and_the_refine_calls(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    proc = run_cli("simulate", "--roster", "paper", "--limit", "10", "--language", "en", "--dry-run", workspace=ws)
    assert proc.returncode == 0, proc.stderr
    title = re.search(r"plan: 10 dialogue\(s\), (\d+) turns", proc.stdout)
    note = "turns per dialogue (one message each): 9..17, mean 12.8 planned; these 10: {:.2f}; paper 12.8"
    assert title and note.format(int(title.group(1)) / 10) in proc.stdout, proc.stdout
    assert "turns 9..17, mean 12.8 | refine=claude-3.5-sonnet | steer-user=off" in proc.stdout
    # claude-3.5-sonnet plays the character (turns 2, 4, ...), is candidate B, and refines each dialogue
    with Workspace.open(ws) as w:
        specs = plan_dialogues(w, limit=10, seed=0, languages=("en",))
    char_turns = sum(s.turns // 2 for s in specs)
    assert _calls(proc.stdout, "claude-3.5-sonnet") == char_turns + 10 + 10
    free = run_cli(
        *("simulate", "--roster", "paper", "--limit", "10", "--language", "en", "--dry-run"),
        "--refine",
        "none",
        workspace=ws,
    )
    assert free.returncode == 0, free.stderr
    assert _calls(free.stdout, "claude-3.5-sonnet") == char_turns + 10


def test_a_roster_refine_model_must_be_one_of_its_entries(tmp_path):
    data = yaml.safe_load(write_roster(tmp_path / "r.yaml", "http://127.0.0.1:9/v1").read_text())
    data["simulate"] = {"refine_model": "gpt-9"}
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(data), encoding="utf-8")
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    proc = run_cli("simulate", "--roster", str(tmp_path / "bad.yaml"), workspace=ws)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml: simulate" in lines[0] and "'gpt-9' is not in models" in lines[0], lines
    with Workspace.open(ws) as w:
        assert w.count(Dialogue) == 0


def test_steer_user_help_says_it_is_beyond_the_paper():
    proc = run_cli("simulate", "--help", env={"COLUMNS": "400"})
    help_text = " ".join(proc.stdout.split())
    assert "--steer-user" in help_text and "--no-steer-user" in help_text
    assert "Beyond the paper" in help_text and "planned mean exactly 12.8" in help_text


def test_stats_reports_the_planned_turns_of_a_default_run(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    with FakeLLMServer(reply=roleplay_reply) as srv:
        roster = str(write_roster(tmp_path / "r.yaml", srv.openai_base_url))
        proc = run_cli("simulate", "--roster", roster, "--limit", "6", "--stage", "dialogues", workspace=ws)
        assert proc.returncode == 0, proc.stderr
        assert "turns 9..17, mean 12.8" in proc.stdout
    with Workspace.open(ws) as w:
        planned = [s.turns for s in plan_dialogues(w, limit=6, seed=0)]
    stats = run_cli("stats", "--json", workspace=ws)
    assert stats.returncode == 0, stats.stderr
    turns = json.loads(stats.stdout)["dialogue_turns"]
    # the fake's replies never end a dialogue early, so measured = planned, one message per turn
    assert turns["planned_mean"] == turns["mean"] == pytest.approx(sum(planned) / 6, abs=0.005)
    assert turns["dialogues"] == 6 and turns["paper_mean"] == 12.8

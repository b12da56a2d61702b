"""The real loop with the offline roster (SmolLM2 + Gemma 3 270M from PyPI), tiny config."""

import itertools

import pytest

from charm_builder.llm import LLMClient
from charm_builder.simulate import RunOptions, Simulation, plan_dialogues
from schemas import CandidateSet, Dialogue


@pytest.mark.slow
def test_offline_roster_real_generation_zh_and_en(library_workspace):
    ws = library_workspace
    client = LLMClient("offline", db=ws.db_path, run_id="offline-test")
    names = client.roster.names
    assert len(names) == 6
    opts = RunOptions(
        user_model=names[0],
        character_model=names[1],
        candidate_models=names,
        concurrency=2,
        params={"max_tokens": 12},
        candidate_params={"max_tokens": 12},
    )
    sim = Simulation(ws, client, opts, spent=client.total_cost, flush=client.flush)
    specs = plan_dialogues(ws, limit=2, seed=1, turns=(3, 3))
    assert {s.language for s in specs} == {"zh", "en"}

    report = sim.run_sync(specs, close=client.aclose)
    assert report.dialogues + report.failed == 2 and report.errors == 0
    dialogues = list(ws.iter(Dialogue))
    assert {d.language for d in dialogues} == {"zh", "en"}, [p for p in report.problems]
    for d in dialogues:
        roles = [t.role for t in d.turns]
        assert roles[-1] == "user" and all(a != b for a, b in itertools.pairwise(roles))
        assert d.provenance.models == {"user": names[0], "character": names[1]}
        assert d.provenance.params["usage"]["output_tokens"] > 0
    sets = list(ws.iter(CandidateSet))
    assert len(sets) == len(dialogues)
    for cset in sets:
        assert [c.model_id for c in cset.candidates] == names
        assert sum(bool(c.text.strip()) for c in cset.candidates) >= 4  # real text from real models
        assert all(c.output_tokens > 0 for c in cset.candidates)

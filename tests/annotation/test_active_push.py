"""`annotate next --push` against the real embedded server (SQLite and PostgreSQL): the priority metadata is
added to a dataset pushed before it existed, records already there are re-ranked with their responses kept,
and an annotator's queue serves the ranked records first, in rank order."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.datasets import PRIORITY
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import create_users, load_roster, push_candidate_sets
from benchmarks.annotators import PENDING_QUEUE, Annotator
from charm_builder.judge import PROMPT_VERSION
from schemas import Annotation, JudgeScore
from tests.helpers import run_cli

from .helpers import UIAnnotator, make_store

pytestmark = pytest.mark.server
JUDGE = "judge-x"
# set index -> judge scores of A-F (set 5: none). judge-disagreement by hand: 3 (1.0), 1 (0.62), 4 (0.45), 0, 2
SCORES = {
    0: [9, 8, 5, 5, 2, 1],
    1: [8, 8, 8, 2, 2, 2],
    2: [10, 9, 5, 5, 2, 1],
    3: [7, 7, 7, 7, 7, 7],
    4: [10, 1, 1, 1, 1, 1],
}


def test_next_push_ranks_records_first_in_the_queue(any_server: EmbeddedArgilla, tmp_path: Path) -> None:
    team = "next-team"
    client = any_server.client()
    store, sets = make_store(tmp_path / "ws", n_sets=6)
    store.upsert_many(
        JudgeScore(candidate_set_id=sets[i].id, label=lab, judge=JUDGE, prompt_version=PROMPT_VERSION, score=s)
        for i, scores in SCORES.items()
        for lab, s in zip("ABCDEF", scores, strict=True)
    )
    roster = tmp_path / "roster.txt"
    roster.write_text(f"{team}-ann\n")
    passwords = create_users(client, team, load_roster(roster), tmp_path / "pw.json").passwords_file
    user, password = next(iter(json.loads(Path(passwords).read_text()).items()))
    # an older dataset (no priority property) with sets 0-2; the annotator answers set 1 (not pulled yet)
    push_candidate_sets(client, store, dataset="next", workspace=team, candidate_sets=sets[:3], min_submitted=1)
    dataset = client.datasets(name="next", workspace=team)
    assert PRIORITY not in [p.name for p in dataset.settings.metadata]
    server_ids = {r.id: str(r._server_id) for r in dataset.records(with_responses=False)}
    ui = UIAnnotator(any_server.url, user, password)
    assert ui.submit(server_ids[sets[1].id], "A", "B").status_code == 201

    env = {"ARGILLA_API_URL": any_server.url, "ARGILLA_API_KEY": any_server.credentials.api_key}
    args = ["annotate", "next", "--k", "3", "--push", "--dataset", "next", "--argilla-workspace", team]
    res = run_cli(*args, "--min-submitted", "1", workspace=store.root, env=env)
    assert res.returncode == 0, res.stderr
    assert "3 record(s) sent with priority 1-3" in res.stdout

    dataset = client.datasets(name="next", workspace=team)
    assert PRIORITY in [p.name for p in dataset.settings.metadata]
    records = {r.id: r for r in dataset.records(with_responses=True)}
    assert set(records) == {s.id for s in sets[:5]}  # 0-2 before, 3 and 4 new
    ranks = {sid: r.metadata.get(PRIORITY) for sid, r in records.items()}
    assert ranks == {sets[3].id: 1, sets[1].id: 2, sets[4].id: 3, sets[0].id: None, sets[2].id: None}
    assert sorted((r.question_name, r.value) for r in records[sets[1].id].responses) == [("best", "A"), ("worst", "B")]

    member = Annotator(any_server.url, user, password)
    member.login()
    reply = member.http.post(
        f"/api/v1/me/datasets/{dataset.id}/records/search", params={"offset": 0, "limit": 10}, json=PENDING_QUEUE
    )
    reply.raise_for_status()
    queue = [item["record"]["external_id"] for item in reply.json()["items"]]
    # set 1 is answered; the ranked ones first (3 then 4), then the others
    assert queue[:2] == [sets[3].id, sets[4].id] and sorted(queue[2:]) == sorted([sets[0].id, sets[2].id])

    # set 3 gets annotated (pulled): the next ranking is 1, 4, 0; set 3's old priority goes, set 1's response stays
    store.upsert(Annotation(candidate_set_id=sets[3].id, annotator=user, best="A", worst="B"))
    res = run_cli(*args, "--min-submitted", "1", workspace=store.root, env=env)
    assert res.returncode == 0, res.stderr
    records = {r.id: r for r in client.datasets(name="next", workspace=team).records(with_responses=True)}
    ranks = {sid: r.metadata.get(PRIORITY) for sid, r in records.items()}
    assert ranks == {sets[1].id: 1, sets[4].id: 2, sets[0].id: 3, sets[3].id: None, sets[2].id: None}
    assert len(records[sets[1].id].responses) == 2
    assert records[sets[3].id].metadata["candidate_set_id"] == sets[3].id  # the rest of its metadata kept

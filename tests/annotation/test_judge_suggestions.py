"""An LLM judge's best/worst as Argilla suggestions (real embedded server), annotators answering, and the
annotator-vs-judge agreement of `annotate report` against a hand count."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from annotation.datasets import SOURCE_KEY
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import create_users, load_roster, pull_annotations, push_candidate_sets
from charm_builder.judge import PROMPT_VERSION
from schemas import JudgeScore
from tests.helpers import run_cli

from .helpers import UIAnnotator, make_store

pytestmark = pytest.mark.server
JUDGE = "judge-x"
# candidate set index -> label -> judge score (1-10); set 3 has no scores (no suggestion)
SCORES = {
    0: dict(zip("ABCDEF", [9, 4, 4, 2, 6, 5], strict=True)),
    1: dict(zip("ABCDEF", [3, 8, 1, 5, 5, 7], strict=True)),
    2: dict(zip("ABCDEF", [5, 6, 7, 10, 2, 4], strict=True)),
}
PICKS = {0: ("A", "D"), 1: ("B", "C"), 2: ("D", "E")}  # (best, worst) by hand from SCORES


def test_judge_suggestions_and_report_agreement(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = argilla_server.client()
    store, sets = make_store(tmp_path / "ws", n_sets=4)
    store.upsert_many(
        JudgeScore(
            candidate_set_id=sets[i].id,
            label=lab,
            judge=JUDGE,
            judge_model_id="jm-1",
            prompt_version=PROMPT_VERSION,
            score=s,
            raw=f"Score: {s}",
        )
        for i, scores in SCORES.items()
        for lab, s in scores.items()
    )
    roster = tmp_path / "roster.txt"
    roster.write_text("sug-one\nsug-two\n")
    passwords = create_users(client, "charm-sug", load_roster(roster), tmp_path / "pw.json").passwords_file
    # set 0 is on the server before the judge ran: pushing suggestions updates it in place
    push_candidate_sets(client, store, dataset="sug", workspace="charm-sug", candidate_sets=[sets[0]], min_submitted=2)
    env = {"ARGILLA_API_URL": argilla_server.url, "ARGILLA_API_KEY": argilla_server.credentials.api_key}
    res = run_cli(
        "annotate",
        "push",
        "--dataset",
        "sug",
        "--argilla-workspace",
        "charm-sug",
        "--min-submitted",
        "2",
        "--suggestions",
        JUDGE,
        workspace=store.root,
        env=env,
    )
    assert res.returncode == 0, res.stderr
    assert "3 with judge-x's suggestions" in res.stdout

    dataset = client.datasets(name="sug", workspace="charm-sug")
    records = {r.id: r for r in dataset.records(with_suggestions=True)}
    assert len(records) == 4
    shown: dict[int, dict[str, str]] = {}  # set index -> source label -> displayed label
    for i, cset in enumerate(sets):
        rec = records[cset.id]
        shown[i] = {rec.metadata[SOURCE_KEY.format(label=d)]: d for d in "ABCDEF"}
        got = {s.question_name: s for s in rec.suggestions}
        if i not in PICKS:
            assert got == {}
            continue
        best, worst = PICKS[i]
        assert (got["best"].value, got["worst"].value) == (shown[i][best], shown[i][worst])
        assert got["best"].agent == JUDGE and got["worst"].agent == JUDGE
        assert got["best"].score == pytest.approx((SCORES[i][best] - 1) / 9, abs=1e-4)
        assert got["worst"].score == pytest.approx((10 - SCORES[i][worst]) / 9, abs=1e-4)

    # annotators answer (in displayed labels); agreement by hand: source-label picks vs PICKS
    pw = json.loads(Path(passwords).read_text())
    answers = {
        "sug-one": {0: ("A", "D"), 1: ("B", "F"), 2: ("C", "E"), 3: ("A", "B")},
        "sug-two": {0: ("E", "D"), 1: ("B", "C"), 2: ("D", "A")},
    }
    server_ids = {r.id: str(r._server_id) for r in records.values()}
    for user, picks in answers.items():
        ui = UIAnnotator(argilla_server.url, user, pw[user])
        for i, (best, worst) in picks.items():
            assert ui.submit(server_ids[sets[i].id], shown[i][best], shown[i][worst]).status_code == 201
    pull = pull_annotations(client, store, dataset="sug", workspace="charm-sug")
    assert pull.imported == 7
    compared = [(user, i) for user, p in answers.items() for i in p if i in PICKS]
    best_hits = sum(answers[u][i][0] == PICKS[i][0] for u, i in compared)
    worst_hits = sum(answers[u][i][1] == PICKS[i][1] for u, i in compared)
    assert (len(compared), best_hits, worst_hits) == (6, 4, 4)
    res = run_cli("annotate", "report", workspace=store.root, env=env)
    assert res.returncode == 0, res.stderr
    line = next(x for x in res.stdout.splitlines() if JUDGE in x)
    assert line.count("4/6 (66.7%)") == 2
    saved = json.loads((store.root / "plots" / "annotation-report.json").read_text())["judges"]
    assert [(j["judge"], j["compared"], j["best_matches"], j["worst_matches"]) for j in saved] == [(JUDGE, 6, 4, 4)]
    assert saved[0]["by_annotator"]["sug-two"] == {"compared": 3, "best": 2, "worst": 2}

"""Issue 23.1 end to end through the real server: annotators of known accuracy (three right 90% of the
time, two clicking at random) work a campaign through the web page's endpoints; after `annotate pull`,
`annotate report` ranks the random clickers last and flags them, and the reliability model's verdicts
beat majority vote against the known truth."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import polars as pl
import pytest

from annotation.datasets import DISPLAY_LABELS, display_order
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import create_users, load_roster, pull_annotations, push_candidate_sets
from benchmarks.annotators import accuracy_picker, run_annotators
from charm_builder.export.inputs import read_inputs
from tests.helpers import run_cli

from .helpers import make_store

pytestmark = pytest.mark.server

SETS = 72  # each by three of five annotators: 100 of 100 simulated campaigns rank and flag all five right
ACCURACY = {"rel-good0": 0.9, "rel-good1": 0.9, "rel-good2": 0.9, "rel-rand0": None, "rel-rand1": None}


def _truth(set_id: str) -> tuple[str, str]:
    """The true best and worst reply of a set, as stored (before the page's per-record shuffle)."""
    rng = random.Random(int.from_bytes(hashlib.sha256(set_id.encode()).digest()[:8]))
    best, worst = rng.sample("ABCDEF", 2)
    return best, worst


def _shown(set_id: str, label: str) -> str:
    """The letter the page shows for a stored label (annotation.datasets shuffles per record)."""
    order = display_order(set_id, list("ABCDEF"))
    return DISPLAY_LABELS[order.index(label)]


def test_report_ranks_random_clickers_last_and_the_model_beats_majority(
    argilla_server: EmbeddedArgilla, tmp_path: Path
) -> None:
    store, sets = make_store(tmp_path / "ws", n_sets=SETS)
    roster = tmp_path / "team.txt"
    roster.write_text("".join(f"{name}\n" for name in ACCURACY))
    passwords = tmp_path / "team.json"
    server = argilla_server
    client = server.client()
    create_users(client, "rel", load_roster(roster), passwords)
    push_candidate_sets(client, store, dataset="rel", workspace="rel", min_submitted=3, overlap=1.0)

    def truth_shown(set_id: str) -> tuple[str, str]:
        best, worst = _truth(set_id)
        return _shown(set_id, best), _shown(set_id, worst)

    users = sorted(json.loads(passwords.read_text()).items())
    stats = run_annotators(
        server.url, users=users, dataset="rel", workspace="rel", picker=accuracy_picker(truth_shown, ACCURACY)
    )
    assert stats.errors == [] and stats.submitted == 3 * SETS
    pull_annotations(client, store, dataset="rel", workspace="rel")

    result = run_cli("annotate", "report", "--workspace", str(store.root), "--out", str(tmp_path / "plots"))
    assert result.returncode == 0, result.stderr
    report = json.loads((tmp_path / "plots" / "annotation-report.json").read_text())
    ranked = [row["annotator"] for row in report["reliability"]]
    assert set(ranked[:3]) == {"rel-good0", "rel-good1", "rel-good2"} and set(ranked[3:]) == {"rel-rand0", "rel-rand1"}
    assert {row["annotator"]: row["likely_random"] for row in report["reliability"]} == {
        name: acc is None for name, acc in ACCURACY.items()
    }
    assert "Annotator reliability" in result.stdout and result.stdout.count("likely random") >= 2

    inputs = read_inputs(store, aggregate="dawid-skene")
    truth = {s.id: _truth(s.id) for s in sets}
    model = inputs.votes(1).verdicts
    majority = read_inputs(store).votes(1).verdicts.filter(pl.col("reason") == "ok")

    def right(verdicts: pl.DataFrame) -> int:
        return sum(truth[cs] == (b, w) for cs, b, w in verdicts.select("candidate_set_id", "best", "worst").iter_rows())

    assert model.height == SETS
    assert right(model) > right(majority) + 3  # about 0.85 of the sets against 0.55 in simulation

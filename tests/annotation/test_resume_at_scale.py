"""Kill `annotate push` and `annotate pull` with SIGKILL midway and rerun them: the final counts are exact,
no record is pushed twice and no response is lost (a few hundred Charm-sized records, the real server)."""

from __future__ import annotations

import json
import signal
from collections import Counter
from pathlib import Path

import pytest

from annotation.datasets import in_overlap
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import create_users, load_roster
from benchmarks.annotators import run_annotators
from benchmarks.bench_annotation_scale import fill_workspace, log_shows, run_cli
from charm_builder.store.workspace import Workspace
from schemas import Annotation, CandidateSet

pytestmark = [pytest.mark.server, pytest.mark.slow]

RECORDS = 400


def test_push_and_pull_survive_sigkill(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    ws_root = tmp_path / "ws"
    fill_workspace(ws_root, RECORDS, seed=3).close()
    client = argilla_server.client()
    roster = tmp_path / "roster.txt"
    roster.write_text("".join(f"resume-ann{i}\n" for i in range(5)))
    create_users(client, "resume-team", load_roster(roster), tmp_path / "passwords.json")
    users = sorted(json.loads((tmp_path / "passwords.json").read_text()).items())
    env = {"ARGILLA_API_URL": argilla_server.url, "ARGILLA_API_KEY": argilla_server.credentials.api_key}
    where = ["--workspace", str(ws_root), "--argilla-workspace", "resume-team", "--dataset", "resume"]

    def on_server() -> int:
        ds = client.datasets(name="resume", workspace="resume-team")
        return 0 if ds is None else int(ds.progress().get("total", 0))

    # push in small batches; SIGKILL once some batches are in, then rerun to the end
    push = ["annotate", "push", *where, "--min-submitted", "3", "--overlap", "0.1", "--batch-size", "10"]
    _, _, code = run_cli(push, env=env, kill_when=lambda: on_server() >= 50, quiet=True)
    assert code == -signal.SIGKILL, "push ended before it could be killed"
    assert 50 <= on_server() < RECORDS
    _, _, code = run_cli(push, env=env, quiet=True)
    assert code == 0
    dataset = client.datasets(name="resume", workspace="resume-team")
    ids = [r.id for r in dataset.records(with_responses=False)]
    with Workspace.open(ws_root) as store:
        sets = store.ids(CandidateSet)
    assert len(ids) == len(set(ids)) == RECORDS and set(ids) == set(sets)  # each record exactly once

    stats = run_annotators(argilla_server.url, users=users, dataset="resume", workspace="resume-team")
    assert stats.errors == []
    need = {s: 3 if in_overlap(s, 0.1) else 1 for s in sets}
    counts = stats.per_record()
    assert all(counts.get(s, 0) >= n for s, n in need.items())

    # pull: SIGKILL while it pages through the records, then rerun
    pull = ["annotate", "pull", *where]
    pages = log_shows(argilla_server.logs_dir / "web.log", "/records?offset=", after=0.0)
    _, _, code = run_cli(pull, env=env, kill_when=pages, quiet=True)
    assert code == -signal.SIGKILL, "pull ended before it could be killed"
    with Workspace.open(ws_root) as store:
        assert store.count(Annotation) == 0  # a killed pull leaves nothing half-written
    for _ in range(2):  # a second rerun changes nothing
        _, _, code = run_cli(pull, env=env, quiet=True)
        assert code == 0
        with Workspace.open(ws_root) as store:
            stored = [(a.candidate_set_id, a.annotator) for a in store.iter(Annotation)]
        acked = [(rid, user) for user, rids in stats.acked.items() for rid in rids]
        assert Counter(stored) == Counter(acked)  # every acknowledged submit once, nothing else

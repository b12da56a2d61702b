"""How the embedded server hands records to a team (on SQLite and PostgreSQL): per-record annotator counts
(``push --overlap``), members' own stripes first, records open on someone's page not served to others,
and a team of simulated annotators (benchmarks/annotators.py) finishing a campaign with nothing lost."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from annotation.datasets import RECORD_MIN_SUBMITTED, in_overlap
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import AnnotationError, create_users, load_roster, pull_annotations, push_candidate_sets
from benchmarks.annotators import PENDING_QUEUE, Annotator, run_annotators
from schemas import Annotation

from .helpers import make_store

pytestmark = pytest.mark.server


def _team(server: EmbeddedArgilla, tmp_path: Path, workspace: str, n: int) -> list[tuple[str, str]]:
    roster = tmp_path / f"{workspace}.txt"
    roster.write_text("".join(f"{workspace}-ann{i}\n" for i in range(n)))
    passwords = tmp_path / f"{workspace}.json"
    create_users(server.client(), workspace, load_roster(roster), passwords)
    return sorted(json.loads(passwords.read_text()).items())


def _member(server: EmbeddedArgilla, user: tuple[str, str], dataset_id: str) -> Annotator:
    annotator = Annotator(server.url, *user)
    annotator.login()
    annotator.dataset_id = dataset_id
    return annotator


def _queue(annotator: Annotator, limit: int = 10) -> tuple[list[str], int]:
    reply = annotator.http.post(
        f"/api/v1/me/datasets/{annotator.dataset_id}/records/search",
        params={"offset": 0, "limit": limit},
        json=PENDING_QUEUE,
    )
    reply.raise_for_status()
    body = reply.json()
    return [item["record"]["external_id"] for item in body["items"]], body["total"]


@pytest.fixture(scope="module")
def campaign(any_server: EmbeddedArgilla, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """48 candidate sets pushed with --min-submitted 3 --overlap 0.25 to a team of four."""
    tmp = tmp_path_factory.mktemp("campaign")
    store, sets = make_store(tmp / "ws", n_sets=48)
    users = _team(any_server, tmp, "overlap-team", 4)
    client = any_server.client()
    push_candidate_sets(client, store, dataset="overlap", workspace="overlap-team", min_submitted=3, overlap=0.25)
    dataset = client.datasets(name="overlap", workspace="overlap-team")
    need = {s.id: 3 if in_overlap(s.id, 0.25) else 1 for s in sets}
    return {"store": store, "users": users, "dataset": dataset, "need": need, "client": client}


def test_overlap_records_carry_their_own_count(campaign: dict[str, Any]) -> None:
    dataset, need = campaign["dataset"], campaign["need"]
    assert dataset.settings.distribution.min_submitted == 1
    records = list(dataset.records(with_responses=False))
    assert {r.id: r.metadata[RECORD_MIN_SUBMITTED] for r in records} == need
    assert 1 < sum(n == 3 for n in need.values()) < len(need)


def test_first_pages_are_disjoint_where_one_annotator_suffices(any_server: EmbeddedArgilla, campaign: dict) -> None:
    members = [_member(any_server, u, str(campaign["dataset"].id)) for u in campaign["users"]]
    pages = [_queue(m, limit=5)[0] for m in members]
    seen = Counter(rid for page in pages for rid in page)
    assert all(len(page) == 5 for page in pages)
    # a record needing one annotator is on at most one page; one needing three on at most three
    assert all(count <= campaign["need"][rid] for rid, count in seen.items()), seen
    for m in members:
        m.close()


def test_team_finishes_the_campaign_with_exact_counts(any_server: EmbeddedArgilla, campaign: dict) -> None:
    stats = run_annotators(any_server.url, users=campaign["users"], dataset="overlap", workspace="overlap-team")
    assert stats.errors == []
    counts = stats.per_record()
    need = campaign["need"]
    assert counts == need  # every record exactly as many annotators as it needs: none short, none extra
    progress = campaign["dataset"].progress()
    assert progress["completed"] == len(need) and progress.get("pending", 0) == 0

    store = campaign["store"]
    pull_annotations(campaign["client"], store, dataset="overlap", workspace="overlap-team")
    stored = {(a.candidate_set_id, a.annotator) for a in store.iter(Annotation)}
    acked = {(rid, user) for user, ids in stats.acked.items() for rid in ids}
    assert stored == acked  # nothing lost, nothing invented


def _pair_on_one_dataset(server: EmbeddedArgilla, tmp_path: Path, name: str, n_sets: int, min_submitted: int):
    """``n_sets`` candidate sets pushed as dataset ``name`` to a two-member team ``{name}-team``; the
    store's sets, the dataset, and the two logged-in members."""
    store, sets = make_store(tmp_path / "ws", n_sets=n_sets)
    users = _team(server, tmp_path, f"{name}-team", 2)
    client = server.client()
    push_candidate_sets(client, store, dataset=name, workspace=f"{name}-team", min_submitted=min_submitted)
    dataset = client.datasets(name=name, workspace=f"{name}-team")
    one, two = (_member(server, u, str(dataset.id)) for u in users)
    return sets, dataset, one, two


def test_a_record_open_on_a_page_waits_until_answered(any_server: EmbeddedArgilla, tmp_path: Path) -> None:
    sets, dataset, one, two = _pair_on_one_dataset(any_server, tmp_path, "lease", n_sets=3, min_submitted=1)

    page, total = _queue(one)
    assert sorted(page) == sorted(s.id for s in sets) and total == 3
    assert _queue(two) == ([], 0)  # all three are open on one's page
    server_ids = {r.id: str(r._server_id) for r in dataset.records(with_responses=False)}
    assert one.submit((server_ids[page[0]], page[0]))
    assert _queue(two) == ([], 0)  # still two open on one's page, one done
    assert sorted(_queue(one)[0]) == sorted(page[1:])  # one sees its own open records again
    for rid in page[1:]:
        assert one.submit((server_ids[rid], rid))
    assert _queue(one) == ([], 0) and _queue(two) == ([], 0)
    one.close()
    two.close()


def test_a_record_needing_two_is_served_to_a_second_annotator(any_server: EmbeddedArgilla, tmp_path: Path) -> None:
    sets, _, one, two = _pair_on_one_dataset(any_server, tmp_path, "pair", n_sets=2, min_submitted=2)
    assert len(_queue(one)[0]) == 2
    assert sorted(_queue(two)[0]) == sorted(s.id for s in sets)  # open on one page, but two are needed
    one.close()
    two.close()


def test_overlap_needs_a_dataset_created_with_it(any_server: EmbeddedArgilla, tmp_path: Path) -> None:
    store, _ = make_store(tmp_path / "ws", n_sets=2)
    client = any_server.client()
    push_candidate_sets(client, store, dataset="no-overlap", workspace="overlap-team", min_submitted=3)
    with pytest.raises(AnnotationError, match="created without --overlap"):
        push_candidate_sets(client, store, dataset="no-overlap", workspace="overlap-team", overlap=0.1)
    push_candidate_sets(client, store, dataset="with-overlap", workspace="overlap-team", overlap=0.1)
    with pytest.raises(AnnotationError, match="created with --overlap"):
        push_candidate_sets(client, store, dataset="with-overlap", workspace="overlap-team")

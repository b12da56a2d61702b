"""End-to-end through the SDK against the embedded server: users, push, annotate (two annotators), pull, report."""

from __future__ import annotations

import json
import stat
from pathlib import Path

import httpx
import pytest

from annotation.datasets import MODEL_KEY
from annotation.report import build_report, write_report
from annotation.server.embedded import EmbeddedArgilla
from annotation.sync import (
    annotator_progress,
    create_users,
    load_roster,
    pull_annotations,
    pull_dialogue_quality,
    push_candidate_sets,
    push_dialogue_quality,
)
from charm_builder.export import add_dq_annotation, load_dq_annotations
from schemas import Annotation, CandidateSet

from .helpers import UIAnnotator, make_store

pytestmark = pytest.mark.server


def test_full_annotation_round(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = argilla_server.client()
    store, sets = make_store(tmp_path / "ws", n_sets=3)

    # 1. accounts from a roster; passwords once into a 0600 file
    roster_file = tmp_path / "roster.yaml"
    roster_file.write_text("annotators:\n  - username: ann-one\n    first_name: One\n  - ann-two\n")
    passwords = tmp_path / "ws" / "argilla" / "secrets" / "annotators.json"
    result = create_users(client, "charm-flow", load_roster(roster_file), passwords)
    assert result.created == ["ann-one", "ann-two"]
    assert stat.S_IMODE(passwords.stat().st_mode) == 0o600
    first_passwords = json.loads(passwords.read_text())
    again = create_users(client, "charm-flow", load_roster(roster_file), passwords)
    assert again.created == [] and again.existing == ["ann-one", "ann-two"]
    assert json.loads(passwords.read_text()) == first_passwords  # written once, never regenerated

    # 2. push twice: deterministic ids, no duplicates
    pushed = push_candidate_sets(client, store, dataset="prefs", workspace="charm-flow", min_submitted=2)
    assert (pushed.total, pushed.pushed) == (3, 3)
    repeat = push_candidate_sets(client, store, dataset="prefs", workspace="charm-flow", min_submitted=2)
    assert (repeat.pushed, repeat.skipped_existing) == (0, 3)
    dataset = client.datasets(name="prefs", workspace="charm-flow")
    records = list(dataset.records(with_responses=False))
    assert sorted(r.id for r in records) == sorted(s.id for s in sets)
    server_ids = {r.id: str(r._server_id) for r in records}

    # 3. two annotators work through their queues the way the UI does
    one = UIAnnotator(argilla_server.url, "ann-one", first_passwords["ann-one"])
    two = UIAnnotator(argilla_server.url, "ann-two", first_passwords["ann-two"])
    ds_id = str(dataset.id)
    queue = one.search(ds_id, ["pending"])
    assert queue["total"] == 3 and len(queue["items"]) == 3
    # annotators never see the model mapping
    shown = queue["items"][0]["record"]
    assert not any(key.startswith("model_") for key in shown.get("metadata") or {})

    choices_one = {sets[0].id: ("A", "B"), sets[1].id: ("C", "D"), sets[2].id: ("E", "F")}
    choices_two = {sets[0].id: ("A", "C"), sets[1].id: ("C", "D"), sets[2].id: ("B", "B")}  # last: best == worst
    for who, choices in ((one, choices_one), (two, choices_two)):
        for cset_id, (best, worst) in choices.items():
            assert who.submit(server_ids[cset_id], best, worst).status_code == 201
    assert one.search(ds_id, ["pending"])["total"] == 0
    submitted = one.search(ds_id, ["submitted"])
    assert submitted["total"] == 3
    assert one.metrics(ds_id)["responses"]["submitted"] == 3

    # 4. progress per annotator, record status completed (min_submitted=2)
    totals, per_user = annotator_progress(client, dataset="prefs", workspace="charm-flow")
    assert totals["total"] == 3 and totals["completed"] == 3
    assert {p.username: p.submitted for p in per_user} == {"ann-one": 3, "ann-two": 3}

    # 5. pull: five usable responses, one rejected (best == worst); pulling twice is idempotent
    rejected_file = tmp_path / "ws" / "exports" / "rejected.json"
    pulled = pull_annotations(client, store, dataset="prefs", workspace="charm-flow", rejected_file=rejected_file)
    assert pulled.imported == 5
    assert [(r.annotator, r.best, r.worst, r.reason) for r in pulled.rejected] == [
        ("ann-two", "B", "B", "best == worst")
    ]
    pull_annotations(client, store, dataset="prefs", workspace="charm-flow")
    stored = list(store.iter(Annotation))
    assert len(stored) == 5

    # labels were mapped back from the shuffled display to the candidate set's own labels
    metadata = {r.id: r.metadata for r in records}
    ann = next(a for a in stored if a.annotator == "ann-one" and a.candidate_set_id == sets[0].id)
    cset = store.get(CandidateSet, sets[0].id)
    assert cset is not None
    assert cset.by_label(ann.best).model_id == metadata[sets[0].id][MODEL_KEY.format(label="A")]
    assert cset.by_label(ann.worst).model_id == metadata[sets[0].id][MODEL_KEY.format(label="B")]

    # 6. report
    report = build_report(stored, {s.id: s for s in store.iter(CandidateSet)})
    write_report(report, tmp_path / "ws" / "plots")
    assert report.annotators == ["ann-one", "ann-two"]
    assert report.alpha_best is not None and report.alpha_worst is not None
    assert Path(report.files["chart"]).stat().st_size > 1000
    assert sum(s.appearances for s in report.scores) == 5 * 6


def test_annotator_cannot_read_foreign_workspace(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = argilla_server.client()
    store, _ = make_store(tmp_path / "ws", n_sets=1)
    push_candidate_sets(client, store, dataset="secret-prefs", workspace="team-secret", min_submitted=1)
    secret_ds = client.datasets(name="secret-prefs", workspace="team-secret")
    passwords = tmp_path / "pw.json"
    create_users(client, "team-open", load_roster(_roster(tmp_path, "outsider")), passwords)
    outsider = UIAnnotator(argilla_server.url, "outsider", json.loads(passwords.read_text())["outsider"])

    assert outsider.http.get(f"/api/v1/datasets/{secret_ds.id}").status_code == 403
    assert outsider.http.post(f"/api/v1/me/datasets/{secret_ds.id}/records/search", json={}).status_code == 403
    listed = outsider.http.get("/api/v1/me/datasets").json()["items"]
    assert all(item["name"] != "secret-prefs" for item in listed)
    workspaces = [w["name"] for w in outsider.http.get("/api/v1/me/workspaces").json()["items"]]
    assert "team-secret" not in workspaces


def _roster(tmp_path: Path, *names: str) -> Path:
    path = tmp_path / "roster.txt"
    path.write_text("\n".join(names) + "\n")
    return path


def test_no_secret_in_logs_or_exports(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = argilla_server.client()
    passwords = tmp_path / "secrets.json"
    create_users(client, "team-audit", load_roster(_roster(tmp_path, "auditor")), passwords)
    annotator_password = json.loads(passwords.read_text())["auditor"]
    UIAnnotator(argilla_server.url, "auditor", annotator_password)  # a real login, so it is in the logs
    users = httpx.get(
        f"{argilla_server.url}/api/v1/users", headers={"X-Argilla-Api-Key": argilla_server.credentials.api_key}
    ).json()["items"]
    secrets = [argilla_server.credentials.password, argilla_server.credentials.api_key, annotator_password]
    secrets += [u["api_key"] for u in users]

    scanned = 0
    for folder in (argilla_server.logs_dir, argilla_server.workdir, tmp_path):
        for path in folder.rglob("*"):
            if not path.is_file() or path.suffix in (".db", ".db-wal", ".db-shm", ".rdb") or "secrets" in path.parts:
                continue
            if path == passwords:
                continue
            text = path.read_bytes().decode("utf-8", errors="replace")
            scanned += 1
            for secret in secrets:
                assert secret not in text, f"a secret leaked into {path}"
    assert scanned >= 5


def test_dialogue_quality_round(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = argilla_server.client()
    store, _ = make_store(tmp_path / "ws", n_sets=2)
    passwords = tmp_path / "pw.json"
    create_users(client, "team-dq", load_roster(_roster(tmp_path, "writer")), passwords)
    first = push_dialogue_quality(client, store, dataset="dq", workspace="team-dq", dimensions=["empathy", "knowledge"])
    again = push_dialogue_quality(client, store, dataset="dq", workspace="team-dq", dimensions=["empathy", "knowledge"])
    assert (first.pushed, again.pushed, again.total) == (4, 0, 4)

    writer = UIAnnotator(argilla_server.url, "writer", json.loads(passwords.read_text())["writer"])
    dataset_id = str(client.datasets(name="dq", workspace="team-dq").id)
    queue = writer.search(dataset_id, ["pending"])
    assert queue["total"] == 4
    record = queue["items"][0]["record"]
    values = {
        "user_query": {"value": "Do you remember the peach banquet?"},
        "criteria": {"value": "- stays in character\n- mentions the Jade Emperor\n\n"},
    }
    response = writer.http.post(
        f"/api/v1/records/{record['id']}/responses", json={"values": values, "status": "submitted"}
    )
    assert response.status_code == 201, response.text
    items, rejected = pull_dialogue_quality(client, store, dataset="dq", workspace="team-dq")
    assert rejected == [] and len(items) == 1
    item, annotator = items[0]
    assert f"{item.dialogue_id}:{item.dimension}" == record["external_id"]
    assert item.criteria == ["stays in character", "mentions the Jade Emperor"]
    assert item.user_query == "Do you remember the peach banquet?"
    # the export stage reads dialogueQuality annotations from the dq_annotations table
    add_dq_annotation(
        store,
        dialogue_id=item.dialogue_id,
        dimension=item.dimension,
        language=item.language,
        user_query=item.user_query,
        criteria=item.criteria,
        annotator=annotator,
    )
    frame = load_dq_annotations(store)
    assert frame.height == 1 and frame["annotator"][0] == annotator and frame["user_query"][0] == item.user_query

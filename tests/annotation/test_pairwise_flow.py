"""Human pairwise evaluation (paper appendix A.2) through the embedded server: push blinded A-vs-B pairs,
two annotators answer, the report un-blinds them into win/tie/loss per opponent and per annotator."""

from __future__ import annotations

from pathlib import Path

import pytest

from annotation.pairwise import push_pairwise, report_pairwise
from annotation.server.embedded import EmbeddedArgilla

from .helpers import UIAnnotator, create_annotators, make_store

pytestmark = pytest.mark.server


def test_pairwise_push_answer_report(argilla_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = argilla_server.client()
    store, _sets = make_store(tmp_path / "ws", n_sets=2)
    passwords = create_annotators(client, "charm-pairwise", "annotators:\n  - pw-one\n  - pw-two\n", tmp_path)

    push = dict(models="gpt-4o,claude-3.5-sonnet,qwen2.5-7b", dataset="pw", workspace="charm-pairwise", annotators=2)
    first = push_pairwise(client, store, **push)
    again = push_pairwise(client, store, **push)  # the same push, a second time
    assert (first.pushed, first.contexts) == (4, 2)  # 2 contexts x 2 opponents
    dataset = client.datasets(name="pw", workspace="charm-pairwise")
    records = list(dataset.records(with_responses=False))
    assert len(records) == again.pushed == 4  # re-push updates, never duplicates

    # annotators see only "reply 1 / reply 2": answer so the target (gpt-4o) always wins
    expected = {"claude-3.5-sonnet": {"win": 0, "tie": 0, "loss": 0}, "qwen2.5-7b": {"win": 0, "tie": 0, "loss": 0}}
    for name in ("pw-one", "pw-two"):
        who = UIAnnotator(argilla_server.url, name, passwords[name])
        queue = who.search(str(dataset.id), ["pending"])
        assert queue["total"] == 4
        for item in queue["items"]:
            record = item["record"]
            assert not any(k.startswith("model_") or k == "target" for k in record.get("metadata") or {})
            meta = next(r.metadata for r in records if r.id == record["external_id"])
            value = "1" if meta["model_1"] == "gpt-4o" else "2"
            if name == "pw-two" and meta["opponent"] == "qwen2.5-7b":
                value = "tie"
            expected[meta["opponent"]]["tie" if value == "tie" else "win"] += 1
            body = {"values": {"preference": {"value": value}}, "status": "submitted"}
            assert who.http.post(f"/api/v1/records/{record['id']}/responses", json=body).status_code == 201

    tallies, png = report_pairwise(client, dataset="pw", workspace="charm-pairwise", out_dir=tmp_path / "plots")
    assert {t.opponent: t.total for t in tallies} == expected
    qwen = next(t for t in tallies if t.opponent == "qwen2.5-7b")
    assert qwen.by_annotator == {"pw-one": {"win": 2, "tie": 0, "loss": 0}, "pw-two": {"win": 0, "tie": 2, "loss": 0}}
    assert png.exists() and png.stat().st_size > 1000

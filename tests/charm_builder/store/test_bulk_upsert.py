"""``Workspace.bulk_upsert``: the store's bulk import that ``benchmarks/bench_export.py`` fills workspaces with."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

import schemas as s
from charm_builder.store import Workspace


def _stream(n: int) -> Iterator[s.Record]:
    """n dialogues, each with a candidate set and two annotations, interleaved as an importer yields them."""
    char = s.Character(name={"en": "Hero"}, sub_category="games", profile={"en": "p"}, system_prompt={"en": "sp"})
    yield char
    for i in range(n):
        turns = [s.Message(role="user", speaker="Ann", text=f"hello {i}")]
        dlg = s.Dialogue(character_id=char.id, language="en", turns=turns)
        cset = s.CandidateSet(
            dialogue_id=dlg.id,
            context=dlg.turns,
            candidates=[{"label": lab, "model_id": "m", "text": f"{i}{lab}"} for lab in "AB"],
        )
        yield dlg
        yield cset
        for a in range(2):
            yield s.Annotation(candidate_set_id=cset.id, annotator=f"ann{a}", best="A", worst="B")


def _counts(ws: Workspace) -> dict[str, int]:
    return {k: v for k, v in ws.counts().items() if v}


def test_bulk_upsert_writes_every_record_in_batches(workspace):
    batches: list[int] = []
    records = list(_stream(10))
    written = workspace.bulk_upsert(iter(records), batch_size=7, on_batch=batches.append)
    assert written == 41 and sum(batches) == 41 and batches[:-1] == [7] * 5 and batches[-1] == 6
    assert _counts(workspace) == {"characters": 1, "dialogues": 10, "candidate_sets": 10, "annotations": 20}
    for record in records[::9]:
        assert workspace.get(type(record), record.id) == record


def test_the_last_version_of_a_record_wins_within_and_across_batches(workspace):
    first = list(_stream(2))
    ann = next(r for r in first if isinstance(r, s.Annotation))
    changed = ann.model_copy(update={"best": "B", "worst": "A"})
    for size in (100, 3):  # one batch, then split so the change lands in a later batch
        workspace.bulk_upsert([*first, changed, *first[-1:]], batch_size=size)
        assert workspace.get(s.Annotation, ann.id).best == "B"
        assert workspace.count(s.Annotation) == 4


def test_a_crash_keeps_committed_batches_and_the_rerun_adds_no_duplicates(workspace):
    def crashing() -> Iterator[s.Record]:
        for i, record in enumerate(_stream(10)):
            if i == 23:
                raise RuntimeError("importer died")
            yield record

    with pytest.raises(RuntimeError, match="importer died"):
        workspace.bulk_upsert(crashing(), batch_size=10)
    assert sum(_counts(workspace).values()) == 20  # two whole batches, nothing of the third
    workspace.bulk_upsert(_stream(10), batch_size=10)
    assert _counts(workspace) == {"characters": 1, "dialogues": 10, "candidate_sets": 10, "annotations": 20}


def test_inside_a_transaction_the_batches_join_it(workspace):
    with pytest.raises(RuntimeError), workspace.transaction():
        workspace.bulk_upsert(_stream(5), batch_size=2)
        raise RuntimeError("rolled back")
    assert _counts(workspace) == {}


def test_batch_size_below_one_is_refused(workspace):
    with pytest.raises(ValueError, match="batch_size"):
        workspace.bulk_upsert(_stream(1), batch_size=0)

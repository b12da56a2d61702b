"""Issue 13.6: exports follow the paper's item rules.

Flagged replies never become chosen/rejected; dialogueQuality keeps N hand-written items per
language plus their translations; cards and `stats` report measured turns; a small pool still
leaves preferenceTraining pairs.
"""

from __future__ import annotations

import json

import polars as pl
import pytest

import schemas as s
from charm_builder.export import ExportOptions, build_export, export_workspace, run_translate
from charm_builder.export.check import check_export
from charm_builder.store import workspace_stats
from tests.charm_builder.export.helpers import LABELS, TaggingTranslator, annotate_zh, character
from tests.helpers import paper_candidates, run_cli


def flag(ws, cset: s.CandidateSet, label: str, kind: str) -> None:
    """Rewrite one candidate of a stored set as the simulator would have flagged it (same set id)."""
    cands = []
    for c in cset.candidates:
        if c.label == label:
            text = "" if kind == "empty" else next(o.text for o in cset.candidates if o.label != label)
            c = c.model_copy(update={"text": text, "flags": [kind]})
        cands.append(c)
    ws.upsert(cset.model_copy(update={"candidates": cands}))


def test_flagged_replies_are_never_chosen_or_rejected(workspace, built, tmp_path):
    flag(workspace, built.sets["d1"], "F", "empty")  # d1: majority worst F is empty
    flag(workspace, built.sets["d2"], "B", "duplicate")  # d2: majority best B duplicates another reply
    flag(workspace, built.sets["d12"], "A", "empty")  # d12 (training only): worst A is empty
    data = build_export(workspace, ExportOptions(size=4000, pairs="all", grpo_fraction=0.0))
    rr = data["roleReward"]
    assert sorted(built.name_of(d) for d in rr.splits["test"]["dialogue_id"]) == ["d7", "d8"]
    assert rr.charm["exclusions"]["flagged_candidate"] == 2
    train = data["preferenceTraining"].splits["train"]
    texts = {m["content"] for col in ("chosen", "rejected") for msgs in train[col].to_list() for m in msgs}
    assert "" not in texts and "d12 reply A" not in texts
    d12 = train.filter(pl.col("dialogue_id") == built.dialogues["d12"].id)
    # pairs=all on d12 (best F, worst A, 6 labels): 5 best-vs-other + 4 other-vs-worst = 9; the 5 touching A
    # dropped. d1 and d2, left out of roleReward, train too: d1 loses the 5 pairs with F, d2 the 5 with B.
    assert d12.height == 4 and data["preferenceTraining"].charm["exclusions"]["flagged_candidate"] == 15
    # the export passes its own check and the summary says what was dropped
    out = tmp_path / "exp"
    summary = export_workspace(workspace, out, ExportOptions(size=4000, pairs="all", grpo_fraction=0.0))
    assert check_export(out).rows["preferenceTraining"]["train"] > 0  # raises CharmError on a bad row
    assert any("preferenceTraining: dropped 15 pair(s)" in n for n in summary.notes)
    card = (out / "roleReward" / "README.md").read_text(encoding="utf-8")
    assert "flagged candidate: 2" in card and "`empty` or `duplicate`" in card


def test_dialogue_quality_keeps_n_per_language_then_translations_double_it(workspace, built):
    annotate_zh(workspace, built, 8)

    def dq(seed: int = 0) -> pl.DataFrame:
        return build_export(workspace, ExportOptions(subset="dialogueQuality", dq_per_language=3, seed=seed))[
            "dialogueQuality"
        ].splits["test"]

    first = dq()
    assert first.height == 3 and set(first["language"]) == {"zh"}
    assert first["dimension"].n_unique() == 3  # dimensions taken in turn
    assert dq()["id"].to_list() == first["id"].to_list()  # seeded: same selection again
    report = run_translate(workspace, TaggingTranslator(), src="zh", dst="en")
    assert report.translated == 8  # translate fills every item; the export keeps the translations of the chosen
    data = build_export(workspace, ExportOptions(subset="dialogueQuality", dq_per_language=3))["dialogueQuality"]
    rows = data.splits["test"]
    assert rows.group_by("language").len().sort("language").rows() == [("en", 3), ("zh", 3)]
    zh = rows.filter(pl.col("language") == "zh")
    assert set(zh["id"]) == set(first["id"])
    kept_sources = {(r["dialogue_id"], r["dimension"]) for r in zh.to_dicts()}
    assert {
        (r["dialogue_id"], r["dimension"]) for r in rows.filter(pl.col("language") == "en").to_dicts()
    } == kept_sources
    assert data.charm["exclusions"]["over_per_language_quota"] == 10 and data.charm["per_language"] == 3
    everything = build_export(workspace, ExportOptions(subset="dialogueQuality"))["dialogueQuality"]
    assert everything.splits["test"].height == 16  # default 400 per language keeps all 8 + 8


def test_translate_can_fill_only_the_selected_items(workspace, built):
    annotate_zh(workspace, built, 8)
    report = run_translate(workspace, TaggingTranslator(), src="zh", dst="en", per_language=3, seed=5)
    assert report.translated == 3
    rows = build_export(workspace, ExportOptions(subset="dialogueQuality", dq_per_language=3, seed=5))[
        "dialogueQuality"
    ].splits["test"]
    assert rows.group_by("language").len().sort("language").rows() == [("en", 3), ("zh", 3)]


def test_turns_measured_in_stats_and_card(workspace, built, tmp_path):
    dlg = built.dialogues["d1"]
    turns = [
        *dlg.turns,
        s.Message(role="character", speaker="Link", text="more"),
        s.Message(role="user", speaker="Ann", text="and?"),
    ]
    prov = {**dlg.provenance.model_dump(), "source": "simulated", "params": {"planned_turns": 5}}
    workspace.upsert(s.Dialogue.model_validate({**dlg.model_dump(), "turns": turns, "provenance": prov}))
    t = workspace_stats(workspace)["dialogue_turns"]
    n = len(built.dialogues)
    assert t["dialogues"] == n and t["max"] == 5 and t["min"] == 3
    assert t["mean"] == pytest.approx(round((3 * (n - 1) + 5) / n, 2))
    assert (t["planned_range"], t["planned_mean"], t["paper_mean"]) == ("5..5", 5, 12.8)
    text = run_cli("stats", workspace=workspace.root).stdout
    assert f"measured mean {t['mean']}" in text and "planned 5..5" in text and "paper mean 12.8" in text
    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(size=4000, subset="roleReward"))
    card = (out / "roleReward" / "README.md").read_text(encoding="utf-8")
    # roleReward holds d1 (5 turns), d2, d7, d8 (3 turns each)
    assert "Turns per dialogue: measured mean 3.5 (min 3, max 5) over 4 dialogue(s); planned 5..5" in card


def small_pool(ws, per_cell: int) -> None:
    """per_cell clear-majority sets in each dimension x language cell (3 agreeing annotators each)."""
    chars = {lang: character(f"Role{lang}", "games", "你好。", "Hello.") for lang in ("zh", "en")}
    ws.upsert_many(chars.values())
    for dim in ("knowledge_consistency", "attractiveness"):
        for lang, char in chars.items():
            for i in range(per_cell):
                turns = [
                    s.Message(role="user", speaker="Ann", text=f"{dim} {lang} {i} hi"),
                    s.Message(role="character", speaker="R", text=f"{dim} {lang} {i} hello"),
                    s.Message(role="user", speaker="Ann", text=f"{dim} {lang} {i} more"),
                ]
                dlg = s.Dialogue(character_id=char.id, language=lang, target_dimension=dim, turns=turns)
                cset = s.CandidateSet(
                    dialogue_id=dlg.id,
                    context=turns,
                    candidates=paper_candidates([f"{dlg.id} {lab}" for lab in LABELS]),
                )
                ws.upsert_many([dlg, cset])
                ws.upsert_many(
                    s.Annotation(candidate_set_id=cset.id, annotator=f"a{k}", status="submitted", best="A", worst="F")
                    for k in range(3)
                )


def test_small_pool_keeps_pairs_for_training(workspace, tmp_path):
    small_pool(workspace, 15)  # 60 usable sets, far below the 4,000 quota
    out = tmp_path / "exp"
    done = run_cli("export", "--out", str(out), "--grpo-fraction", "0", workspace=workspace.root)
    assert done.returncode == 0, done.stderr
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["rows"]["roleReward"] == {"test": 12}  # 20% of 15 = 3 per cell
    assert manifest["rows"]["preferenceTraining"] == {"train": 48}
    assert "roleReward: only 60 usable item(s), below the 4000 quota: took 20%" in done.stderr
    card = (out / "roleReward" / "README.md").read_text(encoding="utf-8")
    assert "**Small pool:**" in card and "size_mode: share" in card
    # an explicit --size restores "everything to the benchmark"
    full = tmp_path / "full"
    again = run_cli("export", "--out", str(full), "--size", "4000", "--grpo-fraction", "0", workspace=workspace.root)
    rows = json.loads((full / "manifest.json").read_text())["rows"]
    assert rows["roleReward"] == {"test": 60} and "preferenceTraining" not in rows
    assert "took 20%" not in again.stderr

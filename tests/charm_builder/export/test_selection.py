"""Which items each subset contains, for a workspace with known annotations."""

from __future__ import annotations

import polars as pl
import pytest
from pydantic import ValidationError

from charm_builder.export import ExportOptions, add_dq_annotation, build_export
from charm_builder.export.votes import aggregate_votes
from charm_kernel.errors import CharmError
from schemas import GRPO_COLUMNS, ROLE_REWARD_COLUMNS


def names(built, frame: pl.DataFrame) -> list[str]:
    return sorted(built.name_of(d) for d in frame["dialogue_id"].to_list())


def test_votes_classify_ties_best_equals_worst_and_too_few(workspace, built):
    from charm_builder.export.inputs import read_inputs

    verdicts = aggregate_votes(read_inputs(workspace).annotations, 3).verdicts
    reason = {
        built.name_of(built.sets[n].dialogue_id): r
        for n in built.sets
        for r in verdicts.filter(pl.col("candidate_set_id") == built.sets[n].id)["reason"]
    }
    assert reason == {
        "d1": "ok",
        "d2": "ok",
        "d3": "tie_best",
        "d4": "best_equals_worst",
        "d5": "too_few_annotators",
        "d6": "tie_worst",
        "d7": "ok",
        "d8": "ok",
        "d9": "too_few_annotators",
        "d10": "too_few_annotators",
        "d12": "ok",
    }
    d1 = verdicts.filter(pl.col("candidate_set_id") == built.sets["d1"].id).row(0, named=True)
    assert (d1["best"], d1["worst"], d1["n_annotators"]) == ("A", "F", 3)
    assert d1["agreement"] == pytest.approx((2 + 3) / 6)


def test_role_reward_contains_exactly_the_clear_majority_items(workspace, built):
    data = build_export(workspace, ExportOptions(size=4000, subset="roleReward"))["roleReward"]
    rows = data.splits["test"]
    assert names(built, rows) == ["d1", "d2", "d7", "d8"]
    by_dialogue = {built.name_of(r["dialogue_id"]): r for r in rows.to_dicts()}
    d1 = by_dialogue["d1"]
    assert (d1["chosen"], d1["rejected"], d1["dimension"], d1["language"]) == (
        "d1 reply A",
        "d1 reply F",
        "knowledge_consistency",
        "zh",
    )
    assert d1["system_prompt"] == "你是林克。" and d1["n_annotators"] == 3
    assert [m["text"] for m in d1["context"]] == ["d1 hello", "d1 hi there", "d1 tell me more"]
    assert d1["context"][1] == {"role": "character", "speaker": "Link", "text": "d1 hi there"}
    assert by_dialogue["d8"]["system_prompt"] == "你是诺娃。"  # zh prompt
    assert by_dialogue["d7"]["system_prompt"] == "You are Sherlock Holmes."  # en-only character, en dialogue
    assert by_dialogue["d2"]["agreement"] == 1.0
    assert set(rows.columns) >= set(ROLE_REWARD_COLUMNS)
    charm = data.charm
    assert charm["exclusions"]["tie_best"] == 1 and charm["exclusions"]["tie_worst"] == 1
    assert charm["exclusions"]["best_equals_worst"] == 1 and charm["exclusions"]["too_few_annotators"] == 1
    assert charm["available"] == {
        "knowledge_consistency/zh": 2,
        "knowledge_consistency/en": 1,
        "attractiveness/zh": 1,
        "attractiveness/en": 0,
    }
    assert charm["shortfall"]["attractiveness/en"] == 1000
    assert charm["counts"]["test"]["by_language"] == {"en": 1, "zh": 3}


def test_role_reward_balances_to_size_and_is_seed_deterministic(workspace, built):
    def pick(seed: int) -> list[str]:
        rows = build_export(workspace, ExportOptions(subset="roleReward", size=4, seed=seed))["roleReward"]
        return names(built, rows.splits["test"])

    picks = {seed: pick(seed) for seed in range(8)}
    for chosen in picks.values():  # one per cell; kc/zh has two candidates (d1, d8), att/en none
        assert len(chosen) == 3 and {"d2", "d7"} <= set(chosen) and len({"d1", "d8"} & set(chosen)) == 1
    assert pick(3) == picks[3]
    assert {tuple(p) for p in picks.values()} == {("d1", "d2", "d7"), ("d2", "d7", "d8")}


def test_min_annotators_flag_admits_two_annotator_sets(workspace, built):
    rows = build_export(workspace, ExportOptions(size=4000, subset="roleReward", min_annotators=2))[
        "roleReward"
    ].splits["test"]
    assert names(built, rows) == ["d1", "d2", "d5", "d7", "d8"]


def test_preference_training_pairs_and_disjoint_grpo(workspace, built):
    data = build_export(workspace, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0))[
        "preferenceTraining"
    ]
    train, grpo = data.splits["train"], data.splits["grpo"]
    # roleReward claims d1 d2 d7 d8; d3/d4/d6 have no clear verdict; d11 unannotated; d13 has no candidate set
    assert names(built, train) == ["d10", "d12", "d5", "d9"]
    assert grpo.is_empty()
    d12 = next(r for r in train.to_dicts() if built.name_of(r["dialogue_id"]) == "d12")
    assert d12["prompt"] == [
        {"role": "system", "content": "你是诺娃。"},
        {"role": "user", "content": "d12 hello"},
        {"role": "assistant", "content": "d12 hi there"},
        {"role": "user", "content": "d12 tell me more"},
    ]
    assert d12["chosen"] == [{"role": "assistant", "content": "d12 reply F"}]
    assert d12["rejected"] == [{"role": "assistant", "content": "d12 reply A"}]
    assert d12["margin_agreement"] == pytest.approx((2 + 3) / 6) and d12["margin_judge"] is None
    assert data.charm["exclusions"]["claimed_by_other_subsets"] == 4


def test_pairs_all_adds_best_vs_others_and_others_vs_worst(workspace, built):
    data = build_export(
        workspace, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0, pairs="all")
    )
    train = data["preferenceTraining"].splits["train"]
    d9 = [
        (r["chosen"][0]["content"][-1], r["rejected"][0]["content"][-1])
        for r in train.to_dicts()
        if built.name_of(r["dialogue_id"]) == "d9"
    ]
    # d9: best A, worst B -> A over C..F and B; C..F over B
    assert sorted(d9) == sorted([("A", x) for x in "BCDEF"] + [(x, "B") for x in "CDEF"])
    assert train.height == 4 * 9 and train["id"].n_unique() == train.height
    d9_margins = {
        (r["chosen"][0]["content"][-1], r["rejected"][0]["content"][-1]): r["margin_agreement"]
        for r in train.to_dicts()
        if built.name_of(r["dialogue_id"]) == "d9"
    }
    assert d9_margins[("A", "B")] == 1.0 and d9_margins[("A", "C")] == 0.5 and d9_margins[("C", "B")] == 0.5


def test_grpo_split_is_disjoint_by_dialogue_and_by_character(workspace, built):
    data = build_export(workspace, ExportOptions(size=4000, grpo_fraction=0.5))
    rr = set(data["roleReward"].splits["test"]["dialogue_id"])
    train = set(data["preferenceTraining"].splits["train"]["dialogue_id"])
    grpo_frame = data["preferenceTraining"].splits["grpo"]
    grpo = set(grpo_frame["dialogue_id"])
    assert grpo and train and not (rr & train) and not (rr & grpo) and not (train & grpo)
    assert grpo_frame.drop("context_key").columns == list(GRPO_COLUMNS)  # pinned in test_schema_rows
    # by character: roleReward uses c1, c2, c3 -> nothing is left for training
    by_char = build_export(workspace, ExportOptions(grpo_fraction=0.5, split_by="character", size=2))
    rr_chars = set(by_char["roleReward"].splits["test"]["character_id"])
    pt = by_char["preferenceTraining"].splits
    used = set(pt["train"]["character_id"]) | set(pt["grpo"]["character_id"])
    assert not (rr_chars & used)
    assert not (set(pt["train"]["character_id"]) & set(pt["grpo"]["character_id"]))


def test_dialogue_quality_items_and_reserved_dialogues(workspace, built):
    d13 = built.dialogues["d13"].id
    d9 = built.dialogues["d9"].id
    add_dq_annotation(
        workspace,
        dialogue_id=d13,
        dimension="empathy",
        language="zh",
        user_query="我今天很难过。",
        criteria=["回应体贴", "保持角色"],
        annotator="ann1",
    )
    add_dq_annotation(
        workspace,
        dialogue_id=d9,
        dimension="knowledge",
        language="zh",
        user_query="海拉鲁在哪？",
        criteria=["符合设定"],
        annotator="ann2",
    )
    data = build_export(workspace, ExportOptions(size=4000, grpo_fraction=0.0))
    dq = data["dialogueQuality"].splits["test"]
    assert names(built, dq) == ["d13", "d9"]
    row = next(r for r in dq.to_dicts() if r["dialogue_id"] == d13)
    assert (row["dimension"], row["language"], row["user_query"]) == ("empathy", "zh", "我今天很难过。")
    assert row["criteria"] == ["回应体贴", "保持角色"] and row["system_prompt"] == "你是林克。"
    assert [m["text"] for m in row["context"]] == ["d13 hello", "d13 hi there", "d13 tell me more"]
    # d9 is reserved by dialogueQuality: it no longer feeds preference training
    assert d9 not in set(data["preferenceTraining"].splits["train"]["dialogue_id"])


def test_bad_options_and_empty_workspace_are_one_line_errors(workspace):
    with pytest.raises(ValidationError, match="rolereward2"):
        ExportOptions(size=4000, subset="rolereward2")
    with pytest.raises(CharmError, match="has no dialogues"):
        build_export(workspace, ExportOptions(size=4000))
    with pytest.raises(ValidationError, match="grpo_fraction"):
        ExportOptions(size=4000, grpo_fraction=1.5)
    assert ExportOptions(size=4000, subset="ROLEREWARD").subset == "roleReward"

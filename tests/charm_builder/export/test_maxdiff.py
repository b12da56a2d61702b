"""Issue 23.4: `export --pairs maxdiff` makes the nine pairs a best/worst pick implies, tagged with their
set; the card names the policy; sets stay whole in splits and in RM micro-batches."""

from __future__ import annotations

from collections import Counter

import polars as pl

from charm_builder.export import ExportOptions, build_export, export_workspace
from charm_builder.export.check import check_export
from training.rm.batching import epoch_batches
from training.rm.sources import load_preference_data


def _train(workspace, pairs: str) -> pl.DataFrame:
    return build_export(workspace, ExportOptions(size=4000, pairs=pairs, grpo_fraction=0.0))[
        "preferenceTraining"
    ].splits["train"]


def test_maxdiff_gives_nine_implied_pairs_per_set(workspace, built):
    best_worst = _train(workspace, "best-worst")
    maxdiff = _train(workspace, "maxdiff")
    per_set = Counter(maxdiff["candidate_set_id"].to_list())
    assert set(per_set) == set(best_worst["candidate_set_id"].to_list())
    assert set(per_set.values()) == {9}
    for cs, frame in maxdiff.group_by("candidate_set_id"):
        bw = best_worst.filter(pl.col("candidate_set_id") == cs[0]).row(0, named=True)
        best, worst = bw["chosen_model"], bw["rejected_model"]
        pairs = set(frame.select("chosen_model", "rejected_model").iter_rows())
        replies = {m for pair in pairs for m in pair}
        assert len(replies) == 6
        others, middle = replies - {best}, replies - {best, worst}
        assert pairs == {(best, o) for o in others} | {(m, worst) for m in middle}
    # the old name gives the same rows
    assert _train(workspace, "all").equals(maxdiff)


def test_card_names_the_policy_and_training_keeps_sets_whole(workspace, built, tmp_path):
    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(size=4000, pairs="maxdiff", grpo_fraction=0.0))
    check_export(out)
    card = (out / "preferenceTraining" / "README.md").read_text(encoding="utf-8")
    assert "**Pairs:** `maxdiff`" in card
    data = load_preference_data([out / "preferenceTraining"], "train")
    assert data.groups is not None and data.record()["candidate_sets"] == len(data.rows) // 9
    batches = epoch_batches(len(data.rows), 9, seed=0, epoch=0, groups=data.groups)
    for b in batches:
        assert len({data.groups[i] for i in b}) == 1 and len(b) == 9  # --batch-size 9: one whole set each
    small = epoch_batches(len(data.rows), 4, seed=0, epoch=0, groups=data.groups)
    assert max(map(len, small)) == 4  # --batch-size still bounds a micro-batch


def test_best_worst_card_says_one_pair_per_set(workspace, built, tmp_path):
    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(size=4000, grpo_fraction=0.0))
    card = (out / "preferenceTraining" / "README.md").read_text(encoding="utf-8")
    assert "**Pairs:** `best-worst`: one pair per candidate set" in card

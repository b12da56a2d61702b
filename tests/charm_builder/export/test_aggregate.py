"""Issue 23.1: `export --aggregate dawid-skene` and the label_confidence column."""

from __future__ import annotations

import polars as pl

from charm_builder.export import ExportOptions, build_export, export_workspace
from charm_builder.export.check import check_export
from tests.helpers import run_cli


def _train(workspace, aggregate: str) -> pl.DataFrame:
    # --min-annotators 10: roleReward claims no set, so every annotated set trains
    opts = ExportOptions(size=4000, grpo_fraction=0.0, min_annotators=10, aggregate=aggregate)
    return build_export(workspace, opts)["preferenceTraining"].splits["train"]


def test_majority_leaves_label_confidence_null(workspace, built):
    train = _train(workspace, "majority")
    assert train.height and train["label_confidence"].null_count() == train.height


def test_dawid_skene_decides_ties_and_fills_confidence(workspace, built):
    majority = _train(workspace, "majority")
    model = _train(workspace, "dawid-skene")
    dialogue = {v.id: k for k, v in built.dialogues.items()}
    kept = {dialogue[d] for d in model["dialogue_id"].to_list()}
    # d3 (a three-way tie on best), d4 (best == worst) and d6 (a tie on worst) have no majority verdict
    assert {"d3", "d4", "d6"} <= kept
    assert not {"d3", "d4", "d6"} & {dialogue[d] for d in majority["dialogue_id"].to_list()}
    conf = dict(zip((dialogue[d] for d in model["dialogue_id"]), model["label_confidence"], strict=True))
    assert all(0.5 <= c <= 1.0 for c in conf.values())
    assert conf["d2"] > conf["d1"]  # three of three agree on d2; on d1 one of three picks another best


def test_dawid_skene_export_passes_its_check_and_says_so(workspace, built, tmp_path):
    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(size=4000, grpo_fraction=0.0, aggregate="dawid-skene"))
    check_export(out)
    card = (out / "preferenceTraining" / "README.md").read_text(encoding="utf-8")
    assert "**Verdicts:** the most probable best/worst under a one-coin Dawid-Skene model" in card
    assert "ann0 " in card  # every annotator's accuracy is listed


def test_unknown_aggregate_is_one_line(workspace, built, tmp_path):
    result = run_cli("export", "--workspace", str(workspace.root), "--out", str(tmp_path / "x"), "--aggregate", "mean")
    assert result.returncode == 2
    lines = [ln for ln in result.stderr.strip().splitlines() if ln.strip()]
    assert len(lines) == 1 and "--aggregate" in lines[0] and "dawid-skene" in lines[0]
    assert not (tmp_path / "x").exists()

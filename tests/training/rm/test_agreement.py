"""Human-agreement margin: vote counts and best-worst scaling gaps on known annotations, and
`charm-train rm --loss margin --margin-source agreement|bws`."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from charm_builder.export import ExportOptions, build_export, check_export, export_workspace
from tests.training.rm.helpers import train_one_margin_step
from training.rm.margin_sources import MARGIN_SOURCES, margin_column_for

runner = CliRunner()


def rows_by_dialogue(built, train) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for r in train.to_dicts():
        out.setdefault(built.name_of(r["dialogue_id"]), []).append(r)
    return out


def test_agreement_columns_on_known_annotations(workspace, built):
    train = build_export(workspace, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0))[
        "preferenceTraining"
    ].splits["train"]
    rows = rows_by_dialogue(built, train)
    # d12: best F, F, E; worst A, A, A (3 annotators)
    d12 = rows["d12"][0]
    assert (d12["n_annotators"], d12["chosen_best_votes"], d12["rejected_worst_votes"]) == (3, 2, 3)
    assert d12["margin_agreement"] == pytest.approx(5 / 6)
    # BWS: F = (2 - 0) / 3, A = (0 - 3) / 3 -> gap 2/3 + 1 = 5/3
    assert d12["margin_bws"] == pytest.approx(5 / 3)
    # d5: two submitted annotations, both best A / worst F -> unanimous
    d5 = rows["d5"][0]
    assert (d5["n_annotators"], d5["chosen_best_votes"], d5["rejected_worst_votes"]) == (2, 2, 2)
    assert d5["margin_agreement"] == 1.0 and d5["margin_bws"] == 2.0


def test_bws_gaps_for_all_pairs(workspace, built):
    train = build_export(
        workspace, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0, pairs="all")
    )["preferenceTraining"].splits["train"]
    d12 = {
        (r["chosen"][0]["content"][-1], r["rejected"][0]["content"][-1]): r
        for r in rows_by_dialogue(built, train)["d12"]
    }
    # scores: F = 2/3, E = 1/3, A = -1, B = C = D = 0
    assert d12[("F", "A")]["margin_bws"] == pytest.approx(5 / 3)
    assert d12[("F", "E")]["margin_bws"] == pytest.approx(1 / 3)  # E got one best vote
    assert d12[("F", "B")]["margin_bws"] == pytest.approx(2 / 3)
    assert d12[("C", "A")]["margin_bws"] == pytest.approx(1.0)
    assert d12[("E", "A")]["margin_bws"] == pytest.approx(4 / 3)
    assert (d12[("E", "A")]["chosen_best_votes"], d12[("C", "A")]["chosen_best_votes"]) == (1, 0)
    assert d12[("F", "E")]["rejected_worst_votes"] == 0 and d12[("F", "E")]["margin_agreement"] == pytest.approx(1 / 3)


def test_written_export_with_agreement_columns_passes_check(workspace, built, tmp_path):
    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(size=4000, grpo_fraction=0.5, pairs="all"))
    assert check_export(out).rows["preferenceTraining"]["train"] > 0


def test_margin_sources_map_to_columns():
    assert MARGIN_SOURCES == {
        "agreement": "margin_agreement",
        "bws": "margin_bws",
        "judge": "margin_judge",
        "posterior": "label_confidence",
    }
    assert margin_column_for("agreement") == "margin_agreement"
    with pytest.raises(ValueError, match="choose one of agreement, bws, judge, posterior"):
        margin_column_for("gpt")


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--loss", "bt", "--margin-source", "agreement"], "--margin-source needs --loss margin (got --loss bt)"),
        (
            ["--loss", "margin", "--margin-source", "gpt"],
            "--margin-source 'gpt': choose one of agreement, bws, judge, posterior",
        ),
    ],
)
def test_margin_source_errors_are_one_line(pref_export: Path, tmp_path: Path, args: list[str], needle: str):
    res = runner.invoke(app, ["rm", "-d", str(pref_export), "-o", str(tmp_path / "x"), "-q", *args])
    assert res.exit_code == 2 and res.stderr.strip().splitlines() == [f"error: {needle}"]


@pytest.mark.slow
def test_rm_with_agreement_margin_uses_scaled_column(workspace, built, tiny_llama: Path, tmp_path: Path):
    """The margin column comes from a real export of the annotated workspace (d12's 5/6, d5's 1.0, ...)."""
    from datasets import load_from_disk

    exp = tmp_path / "exp"
    export_workspace(workspace, exp, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0))
    data = exp / "preferenceTraining"
    column = load_from_disk(str(data))["train"]["margin_agreement"]
    assert len(set(column)) > 1 and all(0 < m <= 1 for m in column)
    out = tmp_path / "rm"
    meta, step = train_one_margin_step(
        data, out, tiny_llama, len(column), "--margin-source", "agreement", "--margin-scale", "2"
    )
    # one batch = every exported pair: the logged margin is twice the column's mean
    assert step["margin_mean"] == pytest.approx(2 * sum(column) / len(column), abs=1e-6)
    assert meta["train_config"]["margin_column"] == "margin_agreement" and meta["train_config"]["margin_scale"] == 2

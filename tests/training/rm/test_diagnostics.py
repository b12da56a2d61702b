"""Margin diagnostics: Spearman and the disagreement list by hand, and `charm-train diagnose` end to end."""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import train_rm
from training.rm.diagnostics import DiagnosticsError, PairDiagnosis, disagreements, rankdata, spearman, summarize

runner = CliRunner()


def test_rankdata_and_spearman_by_hand():
    assert rankdata([10, 30, 20, 30]) == [1.0, 3.5, 2.0, 3.5]
    # ranks y = 1, 2, 3.5, 5, 3.5: cov = 4 + 1 + 0 + 2 + 1 = 8, var x = 10, var y = 9.5 -> 8 / sqrt(95)
    assert spearman([1, 2, 3, 4, 5], [5, 6, 7, 8, 7]) == pytest.approx(8 / math.sqrt(95))
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 1, 1], [1, 2, 3]) is None and spearman([1], [2]) is None


def pair(i: int, agreement: float, gap: float, margin: float = 0.0) -> PairDiagnosis:
    return PairDiagnosis(i, f"p{i}", agreement, gap, 0.0, margin)


def test_disagreements_are_the_confidently_wrong_pairs():
    pairs = [pair(0, 1.0, 2.0), pair(1, 0.67, -2.0), pair(2, 1.0, -3.0), pair(3, 0.83, -0.5), pair(4, 0.5, -1.3863)]
    # confidence 0.8: p(chosen) = sigmoid(gap) <= 0.2  <=>  gap <= -log(4) = -1.3863
    got = disagreements(pairs, 0.8)
    assert [p.id for p in got] == ["p2", "p1", "p4"]  # most confident first
    assert all(p.p_model_chosen <= 0.2 + 1e-6 for p in got)
    assert [p.id for p in disagreements(pairs, 0.5)] == ["p2", "p1", "p4", "p3"]
    with pytest.raises(DiagnosticsError, match="--confidence must be in"):
        disagreements(pairs, 1.0)
    s = summarize([pair(0, 0.5, 1, 0.1), pair(1, 0.75, 1, 0.3), pair(2, 1.0, -1, 0.2)], 0.8, "ld", 1.0)
    assert s["spearman_agreement_vs_aam_margin"] == pytest.approx(0.5)  # ranks (1,2,3) vs (1,3,2)
    assert s["model_accuracy"] == pytest.approx(2 / 3, abs=1e-4) and s["confidently_against_annotators"] == 0


@pytest.mark.slow
def test_diagnose_cli_writes_plot_csv_and_summary(pref_export: Path, tiny_llama: Path, tmp_path: Path):
    rm = tmp_path / "rm"
    train_rm(pref_export, rm, tiny_llama, "--loss", "aam-pr", "--max-steps", "2", "--lr", "1e-3", "--max-length", "96")
    out = tmp_path / "diag"
    res = runner.invoke(
        app,
        [
            "diagnose",
            str(rm),
            "--data",
            str(pref_export),
            "--out",
            str(out),
            "--confidence",
            "0.5",
            "--max-length",
            "96",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    assert (out / "margin_vs_agreement.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    summary = json.loads((out / "summary.json").read_text())
    assert summary["margin"] == "pr" and summary["beta"] == pytest.approx(0.1) and summary["pairs"] == 8
    rows = list(csv.DictReader((out / "pairs.csv").open()))
    assert len(rows) == 8
    agreement = [float(r["agreement"]) for r in rows]
    assert agreement == pytest.approx([0.5 + 0.05 * i for i in range(8)])
    assert summary["spearman_agreement_vs_aam_margin"] == pytest.approx(
        spearman(agreement, [float(r["aam_margin"]) for r in rows]), abs=1e-3
    )
    against = {r["id"] for r in csv.DictReader((out / "disagreements.csv").open())}
    assert against == {r["id"] for r in rows if float(r["p_model_chosen"]) <= 0.5}
    assert summary["confidently_against_annotators"] == len(against)
    # the LD margin of the same model, and one-line errors
    res = runner.invoke(
        app,
        [
            "diagnose",
            str(rm),
            "-d",
            str(pref_export),
            "-o",
            str(tmp_path / "ld"),
            "--margin",
            "ld",
            "--max-length",
            "96",
            "-q",
        ],
    )
    assert res.exit_code == 0 and json.loads((tmp_path / "ld" / "summary.json").read_text())["beta"] == 0.1
    res = runner.invoke(app, ["diagnose", str(rm), "-d", str(pref_export), "--agreement-column", "nope", "-q"])
    assert res.exit_code == 2 and "missing column 'nope'" in res.stderr and len(res.stderr.strip().splitlines()) == 1


def test_new_commands_have_help_with_examples():
    for cmd in ("diagnose", "self-evolve"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0 and "Examples" in res.output and f"charm-train {cmd}" in res.output

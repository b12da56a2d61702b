"""`charm-train table3`: every preset on one export root, the Table 3 layout, reuse on rerun, and
one-line errors before anything trains (tiny random Llama; fast)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import preference_rows, role_reward_rows

runner = CliRunner()
PRESETS = "paper-bt,paper-aam-ld-reg,paper-gpt-margin"


def _export(root: Path, pref: list[dict]) -> Path:
    from datasets import Dataset, DatasetDict

    DatasetDict({"train": Dataset.from_list(pref)}).save_to_disk(str(root / "preferenceTraining"))
    Dataset.from_list(role_reward_rows()).save_to_disk(str(root / "roleReward"))
    return root


def _run(export: Path, out: Path, model: Path, *extra: str) -> object:
    return runner.invoke(
        app,
        [
            "table3",
            "--data",
            str(export),
            "--out",
            str(out),
            "--model",
            str(model),
            "--presets",
            PRESETS,
            "--max-steps",
            "1",
            "--max-length",
            "64",
            "-q",
            *extra,
        ],
    )


def _hand_cells(pairs_file: Path) -> dict[tuple[str, str], float]:
    """Accuracy (%) per (dimension, language) counted from the per-pair scores."""
    hits: dict[tuple[str, str], list[bool]] = {}
    for line in pairs_file.read_text().splitlines():
        p = json.loads(line)
        hits.setdefault((p["dimension"], p["language"]), []).append(p["chosen_score"] > p["rejected_score"])
    return {k: 100.0 * sum(v) / len(v) for k, v in hits.items()}


def test_table3_layout_numbers_and_rerun(tiny_llama: Path, tmp_path: Path) -> None:
    export = _export(tmp_path / "export", preference_rows(8))
    out = tmp_path / "t3"
    res = _run(export, out, tiny_llama)
    assert res.exit_code == 0, res.output
    md = (out / "results.md").read_text()
    assert "| Method | SFT Pre-train | SFT Reg. | zh | en | avg. |" in md
    with (out / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["Preset"] for r in table] == PRESETS.split(",")
    assert [(r["Method"], r["SFT Pre-train"], r["SFT Reg."]) for r in table] == [
        ("BT (Baseline)", "No", "No"),
        ("AAM_LD + Reg.", "Yes", "Yes"),
        ("GPT-Margin", "No", "No"),
    ]
    for r in table:  # cells = accuracy counted by hand from that run's per-pair scores
        hand = _hand_cells(out / "runs" / r["Preset"] / "eval" / "pairs.jsonl")
        zh, en = hand[("knowledge_consistency", "zh")], hand[("knowledge_consistency", "en")]
        assert float(r["Charm-Consistency zh"]) == pytest.approx(zh)
        assert float(r["Charm-Consistency en"]) == pytest.approx(en)
        assert float(r["Charm-Consistency avg."]) == pytest.approx((zh + en) / 2)
        att = (hand[("attractiveness", "zh")] + hand[("attractiveness", "en")]) / 2
        assert float(r["Charm-RoleReward (both dimensions) avg."]) == pytest.approx(((zh + en) / 2 + att) / 2)
    base, reg = table[0], table[1]
    delta = float(reg["Charm-Consistency avg."]) - float(base["Charm-Consistency avg."])
    arrow = "=" if round(delta, 1) == 0 else "↑" if delta > 0 else "↓"
    lo, hi = float(reg["Charm-Consistency avg. lo"]), float(reg["Charm-Consistency avg. hi"])
    p = float(reg["Charm-Consistency avg. p vs paper-bt"])
    p_text = f"{p:.3f}" if p >= 0.001 else "<0.001"
    value = float(reg["Charm-Consistency avg."])
    cell = f"{value:.1f} ± {(hi - lo) / 2:.1f} {arrow}{abs(delta):.1f} (p {p_text})"
    consistency = md.split("### Charm-Consistency")[1].split("###")[0]
    assert "| AAM_LD + Reg. | Yes | Yes | " in consistency and cell in consistency
    assert lo <= value <= hi and 0 < p <= 1 and base["Charm-Consistency avg. p vs paper-bt"] == ""
    assert "± is half the width of the 95 % percentile bootstrap interval" in md
    summary = json.loads((out / "summary.json").read_text())
    # the baseline's interval is its own eval-rm run's (same pairs, same seed, same resamples)
    own = json.loads((out / "runs" / "paper-bt" / "eval" / "summary.json").read_text())["intervals"]
    assert summary["rows"][0]["intervals"]["Charm-Consistency avg."] == own["Charm-Consistency avg."]
    paired = summary["rows"][1]["paired_vs_baseline"]["Charm-Consistency avg."]
    assert paired["delta"] == pytest.approx(delta) and paired["p"] == pytest.approx(p, abs=1e-4)
    assert summary["baseline"] == "paper-bt"
    rows = {r["preset"]: r for r in summary["rows"]}
    assert rows["paper-aam-ld-reg"]["resolved_config"]["sft_reg"] == 0.01
    assert rows["paper-gpt-margin"]["resolved_config"]["margin_column"] == "margin_judge"
    assert {r["resolved_config"]["seed"] for r in summary["rows"]} == {42}
    assert rows["paper-aam-ld-reg"]["delta_vs_baseline"]["knowledge_consistency"]["avg"] == pytest.approx(delta)
    assert not any(r["reused"] for r in summary["rows"])

    res = _run(export, out, tiny_llama)  # finished runs are evaluated again, not retrained
    assert res.exit_code == 0, res.output
    again = json.loads((out / "summary.json").read_text())
    assert all(r["reused"] for r in again["rows"])
    assert [r["cells"] for r in again["rows"]] == [r["cells"] for r in summary["rows"]]
    res = _run(export, out, tiny_llama, "--seed", "7")  # other settings: refuse, keep the runs
    assert res.exit_code == 2 and "trained with other settings" in res.stderr
    assert json.loads((out / "summary.json").read_text()) == again


def test_table3_ablations_follow_the_paper_rows_with_deltas(tiny_llama: Path, tmp_path: Path) -> None:
    from training.rm.presets import ABLATIONS
    from training.rm.presets import PRESETS as ALL

    export = _export(tmp_path / "export", preference_rows(8))
    out = tmp_path / "t3"
    # an ablation named first still comes after the paper rows; --ablations adds the others
    res = _run(export, out, tiny_llama, "--presets", "paper-aam-pr-init,paper-bt,paper-aam-pr", "--ablations")
    assert res.exit_code == 0, res.output
    order = ["paper-bt", "paper-aam-pr", *ABLATIONS]
    with (out / "results.csv").open() as fh:
        table = list(csv.DictReader(fh))
    assert [r["Preset"] for r in table] == order
    assert [r["Ablation of"] for r in table] == ["", ""] + [ALL[n].ablation_of for n in ABLATIONS]
    init = table[2]
    assert (init["Method"], init["Ablation of"], init["SFT Pre-train"]) == (
        "AAM_PR (π_ref init)",
        "paper-aam-pr",
        "Yes",
    )
    summary = json.loads((out / "summary.json").read_text())
    rows = {r["preset"]: r for r in summary["rows"]}
    assert [r["preset"] for r in summary["rows"]] == order
    assert rows["paper-aam-pr-init"]["resolved_config"]["pr_reference"] == "init"
    assert rows["paper-aam-pr"]["resolved_config"]["pr_reference"] == "base"
    assert rows["paper-aam-ld-grad"]["resolved_config"]["margin_grad"] is True
    assert rows["paper-aam-pr"]["ablation_of"] is None and "pi_ref" in rows["paper-aam-pr-init"]["differs"]
    for name in ABLATIONS:  # ablations get their change vs paper-bt like the paper rows
        delta = float(table[order.index(name)]["Charm-Consistency avg."]) - float(table[0]["Charm-Consistency avg."])
        assert rows[name]["delta_vs_baseline"]["knowledge_consistency"]["avg"] == pytest.approx(delta)
    md = (out / "results.md").read_text()
    consistency = md.split("### Charm-Consistency")[1].split("###")[0]
    lines = [line for line in consistency.splitlines() if line.startswith("| ")][1:]
    assert [line.split(" | ")[0][2:] for line in lines] == [
        "BT (Baseline)",
        "AAM_PR",
        "*Ablations (not paper rows)*",
        *[ALL[n].label for n in ABLATIONS],
    ]
    assert "`paper-aam-pr-init` is `paper-aam-pr` except that pi_ref is the model after SFT pre-training" in md


def test_table3_bad_input_one_line_before_training(tiny_llama: Path, tmp_path: Path) -> None:
    pref = preference_rows(8)
    pref[5]["margin_judge"] = None  # the export's empty judge slot
    export = _export(tmp_path / "export", pref)
    cases = [
        (["--data", str(export)], "row 5: column 'margin_judge' must be a finite number for paper-gpt-margin"),
        (["--data", str(export / "roleReward")], "not an export root"),
        (["--data", str(export), "--presets", "paper-bt,nope"], "--presets 'nope'"),
        (["--data", str(export), "--batch-size", "0"], "--batch-size must be >= 1"),
    ]
    for args, needle in cases:
        out = tmp_path / "never"
        cmd = ["table3", "--out", str(out), "--model", str(tiny_llama), "--presets", PRESETS, "-q", *args]
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2, res.output
        lines = res.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], lines
        assert not out.exists()


def test_help_has_examples() -> None:
    res = runner.invoke(app, ["table3", "--help"])
    assert res.exit_code == 0 and "Examples" in res.output and "charm-train table3" in res.output
    assert "--ablations" in res.output
    res = runner.invoke(app, ["rm", "--help"])
    assert res.exit_code == 0 and "--preset" in res.output and "paper-aam-pr-reg" in res.output

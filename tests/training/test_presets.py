"""`charm-train rm --preset`: each paper row resolves to the paper's settings, recorded in the run
folder (charm_rm.json, config.json, README.md); explicit flags override (tiny random Llama; fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.training.helpers import train_rm
from training.cli import app
from training.presets import PRESETS, resolve

runner = CliRunner()

# The paper's Table 3 (plus GPT-Margin of Tables 1/2), written out independently of training/presets.py:
# label, SFT pre-train, SFT reg. alpha, loss, margin column. Section 5.1: alpha 0.01, 2 epochs, lr 1e-5.
PAPER_ROWS = {
    "paper-bt": ("BT (Baseline)", False, 0.0, "bt", "margin"),
    "paper-bt-pretrain": ("BT + Pre-train", True, 0.0, "bt", "margin"),
    "paper-gpt-margin": ("GPT-Margin", False, 0.0, "margin", "margin_judge"),
    "paper-aam-ld": ("AAM_LD", True, 0.0, "aam-ld", "margin"),
    "paper-aam-ld-reg": ("AAM_LD + Reg.", True, 0.01, "aam-ld", "margin"),
    "paper-aam-pr": ("AAM_PR", True, 0.0, "aam-pr", "margin"),
    "paper-aam-pr-reg": ("AAM_PR + Reg.", True, 0.01, "aam-pr", "margin"),
}


def _train(pref_export: Path, model: Path, out: Path, *args: str) -> dict:
    return train_rm(pref_export, out, model, "--max-steps", "1", "--max-length", "64", "--batch-size", "8", *args)


def test_presets_are_exactly_the_paper_rows() -> None:
    assert set(PRESETS) == set(PAPER_ROWS)
    for name, (label, sft_init, alpha, loss, _col) in PAPER_ROWS.items():
        p = PRESETS[name]
        assert (p.label, p.sft_init, p.sft_reg, p.loss) == (label, sft_init, alpha, loss)


@pytest.mark.parametrize("name", list(PAPER_ROWS))
def test_preset_resolves_and_is_recorded(name: str, pref_export: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    label, sft_init, alpha, loss, column = PAPER_ROWS[name]
    out = tmp_path / name
    meta = _train(pref_export, tiny_model_dir, out, "--preset", name)
    cfg = meta["resolved_config"]
    assert meta["preset"] == cfg["preset"] == name
    assert (cfg["loss"], cfg["sft_init"], cfg["sft_reg"], cfg["margin_column"]) == (loss, sft_init, alpha, column)
    assert (cfg["epochs"], cfg["lr"], cfg["sft_reduction"], cfg["pr_reference"]) == (2.0, 1e-5, "sum", "base")
    assert cfg["beta"] == {"aam-pr": 0.1, "aam-ld": 1.0}.get(loss, 0.0)  # resolved, not None
    assert cfg["sft_lr"] == 1e-5
    hf = json.loads((out / "config.json").read_text())["charm_rm_training"]
    assert hf == cfg
    card = (out / "README.md").read_text()
    assert f"charm_rm_preset: {name}" in card and f'"{label}"' in card
    assert f"| sft_reg | {json.dumps(alpha)} |" in card and "| epochs | 2.0 |" in card


def test_explicit_flags_override_a_preset(pref_export: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    # --loss bt and --sft-reduction sum are the CLI defaults: given explicitly they must still win
    meta = _train(
        pref_export,
        tiny_model_dir,
        tmp_path / "a",
        "--preset",
        "paper-aam-pr-reg",
        "--loss",
        "bt",
        "--epochs",
        "1",
        "--sft-reg",
        "0.05",
        "--no-sft-init",
        "--pr-reference",
        "init",
    )
    cfg = meta["resolved_config"]
    assert (cfg["loss"], cfg["epochs"], cfg["sft_reg"], cfg["sft_init"], cfg["pr_reference"]) == (
        "bt",
        1.0,
        0.05,
        False,
        "init",
    )
    assert (cfg["lr"], cfg["sft_reduction"], cfg["preset"]) == (1e-5, "sum", "paper-aam-pr-reg")
    meta = _train(
        pref_export,
        tiny_model_dir,
        tmp_path / "b",
        "--preset",
        "paper-gpt-margin",
        "--margin-column",
        "margin_agreement",
        "--sft-reduction",
        "mean",
    )
    cfg = meta["resolved_config"]
    assert (cfg["loss"], cfg["margin_column"], cfg["sft_reduction"]) == ("margin", "margin_agreement", "mean")


def test_no_preset_keeps_plain_defaults(pref_export: Path, tiny_model_dir: Path, tmp_path: Path) -> None:
    cfg = _train(pref_export, tiny_model_dir, tmp_path / "plain")["resolved_config"]
    assert (cfg["preset"], cfg["loss"], cfg["epochs"], cfg["sft_init"], cfg["sft_reg"]) == (None, "bt", 1.0, False, 0.0)


def test_resolve_uses_the_source_not_the_value() -> None:
    given = {
        "loss": "bt",
        "epochs": 1.0,
        "lr": 1e-5,
        "sft_reg": 0.0,
        "sft_init": False,
        "margin_source": None,
        "margin_column": "margin",
        "sft_reduction": "sum",
        "pr_reference": "base",
    }
    v = resolve("paper-aam-ld-reg", given, set())
    assert (v["loss"], v["sft_reg"], v["sft_init"], v["epochs"]) == ("aam-ld", 0.01, True, 2.0)
    v = resolve("paper-aam-ld-reg", given, {"loss", "epochs"})
    assert (v["loss"], v["sft_reg"], v["epochs"]) == ("bt", 0.01, 1.0)
    assert resolve(None, given, set()) == {**given, "preset": None}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--preset", "paper-xx"], "--preset 'paper-xx': choose one of paper-bt,"),
        (["--sft-reduction", "avg"], "--sft-reduction 'avg': choose 'sum' or 'mean'"),
        (["--pr-reference", "sft"], "--pr-reference 'sft': choose 'base' or 'init'"),
    ],
)
def test_bad_preset_options_one_line_exit_2(
    pref_export: Path, tiny_model_dir: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "never"
    res = runner.invoke(
        app, ["rm", "-d", str(pref_export), "-o", str(out), "--model", str(tiny_model_dir), "-q", *args]
    )
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert not out.exists()

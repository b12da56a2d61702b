"""`charm-train rm --preset`: each paper row resolves to the paper's settings, recorded in the run
folder (charm_rm.json, config.json, README.md); explicit flags override (tiny random Llama; fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import train_rm
from training.rm.presets import ABLATIONS, PAPER_PRESETS, PRESETS, parse_presets, resolve

runner = CliRunner()

# The paper's Table 3 (plus GPT-Margin of Tables 1/2), written out independently of training/rm/presets.py:
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
# The choices the paper leaves open, as every paper preset fixes them, and the ablations: each is one
# paper row with exactly one of them flipped.
OPEN = {"margin_grad": False, "pr_reference": "base", "sft_reduction": "sum", "ld_reduction": "mean"}
ABLATION_ROWS = {
    "paper-aam-pr-init": ("paper-aam-pr", "pr_reference", "init"),
    "paper-aam-pr-grad": ("paper-aam-pr", "margin_grad", True),
    "paper-aam-ld-grad": ("paper-aam-ld", "margin_grad", True),
    "paper-aam-ld-sum": ("paper-aam-ld", "ld_reduction", "sum"),
    "paper-aam-pr-reg-mean": ("paper-aam-pr-reg", "sft_reduction", "mean"),
}


def _train(pref_export: Path, model: Path, out: Path, *args: str) -> dict:
    return train_rm(pref_export, out, model, "--max-steps", "1", "--max-length", "64", "--batch-size", "8", *args)


def test_presets_are_exactly_the_paper_rows_and_their_ablations() -> None:
    assert list(PAPER_PRESETS) == list(PAPER_ROWS) and list(ABLATIONS) == list(ABLATION_ROWS)
    assert set(PRESETS) == set(PAPER_ROWS) | set(ABLATION_ROWS)
    for name, (label, sft_init, alpha, loss, _col) in PAPER_ROWS.items():
        p = PRESETS[name]
        assert (p.label, p.sft_init, p.sft_reg, p.loss, p.is_ablation) == (label, sft_init, alpha, loss, False)
        assert {k: p.settings()[k] for k in OPEN} == OPEN
    for name, (row, key, value) in ABLATION_ROWS.items():
        p, base = PRESETS[name], PRESETS[row]
        assert p.is_ablation and p.ablation_of == row and p.differs
        assert p.label.startswith(base.label + " (") and p.label != base.label  # says what differs from which row
        assert p.settings() == {**base.settings(), key: value}  # exactly one choice flipped
        assert base.settings()[key] != value


def test_parse_presets_adds_ablations_after_the_paper_rows() -> None:
    names = [p.name for p in parse_presets("paper-aam-ld-sum, paper-bt,paper-aam-pr")]
    assert names == ["paper-bt", "paper-aam-pr", "paper-aam-ld-sum"]
    names = [p.name for p in parse_presets("paper-aam-ld-sum,paper-bt", ablations=True)]
    assert names == ["paper-bt", "paper-aam-ld-sum", *[a for a in ABLATION_ROWS if a != "paper-aam-ld-sum"]]
    assert [p.name for p in parse_presets(",".join(PAPER_PRESETS))] == list(PAPER_ROWS)  # table3's default


@pytest.mark.parametrize("name", list(PAPER_ROWS))
def test_preset_resolves_and_is_recorded(name: str, pref_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    label, sft_init, alpha, loss, column = PAPER_ROWS[name]
    out = tmp_path / name
    meta = _train(pref_export, tiny_llama, out, "--preset", name)
    cfg = meta["resolved_config"]
    assert meta["preset"] == cfg["preset"] == name
    assert (cfg["loss"], cfg["sft_init"], cfg["sft_reg"], cfg["margin_column"]) == (loss, sft_init, alpha, column)
    assert (cfg["epochs"], cfg["lr"]) == (2.0, 1e-5)
    assert {k: cfg[k] for k in OPEN} == OPEN
    assert {k: c["source"] for k, c in meta["open_choices"].items()} == {
        **{k: f"preset {name}" for k in OPEN},
        "sft_init_reduction": "fixed",
    }
    assert cfg["beta"] == {"aam-pr": 0.1, "aam-ld": 1.0}.get(loss, 0.0)  # resolved, not None
    assert cfg["sft_lr"] == 1e-5
    hf = json.loads((out / "config.json").read_text())["charm_rm_training"]
    assert hf == cfg
    card = (out / "README.md").read_text()
    assert f"charm_rm_preset: {name}" in card and f'"{label}"' in card
    assert f"| sft_reg | {json.dumps(alpha)} |" in card and "| epochs | 2.0 |" in card
    assert (
        "| margin_grad | False | " + ("yes" if loss.startswith("aam") else "no") + f" | preset {name} | Detached"
        in card
    )


@pytest.mark.parametrize("name", list(ABLATION_ROWS))
def test_ablation_preset_resolves_and_says_what_it_changed(
    name: str, pref_export: Path, tiny_llama: Path, tmp_path: Path
) -> None:
    row, key, value = ABLATION_ROWS[name]
    label, sft_init, alpha, loss, _column = PAPER_ROWS[row]
    out = tmp_path / name
    meta = _train(pref_export, tiny_llama, out, "--preset", name)
    cfg = meta["resolved_config"]
    assert (cfg["preset"], cfg["loss"], cfg["sft_init"], cfg["sft_reg"]) == (name, loss, sft_init, alpha)
    assert {k: cfg[k] for k in OPEN} == {**OPEN, key: value}
    choice = meta["open_choices"][key]
    assert (choice["value"], choice["applies"], choice["source"]) == (value, True, f"preset {name}")
    card = (out / "README.md").read_text()
    assert f'an ablation, not a paper row. It is the paper\'s Table 3 row "{label}" (`{row}`) except that' in card
    assert f"| {key} | {value} | yes | preset {name} | {choice['meaning']} |" in card


def test_open_choices_name_their_source_and_meaning(pref_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    meta = _train(pref_export, tiny_llama, tmp_path / "a", "--preset", "paper-aam-pr", "--margin-grad")
    c = meta["open_choices"]
    assert c["margin_grad"]["source"] == "option --margin-grad (overrides preset paper-aam-pr)"
    assert c["margin_grad"]["meaning"].startswith("With gradient:")
    assert (
        c["pr_reference"]["source"] == "preset paper-aam-pr"
        and "before SFT pre-training" in c["pr_reference"]["meaning"]
    )
    assert (c["sft_reduction"]["applies"], c["ld_reduction"]["applies"]) == (False, False)  # no --sft-reg, not LD
    assert c["sft_init_reduction"] == {
        "value": "mean",
        "applies": True,
        "meaning": c["sft_init_reduction"]["meaning"],
        "source": "fixed",
    }
    assert "per-token mean" in c["sft_init_reduction"]["meaning"]
    meta = _train(pref_export, tiny_llama, tmp_path / "b", "--loss", "aam-ld", "--ld-reduction", "sum")
    c = meta["open_choices"]
    assert {k: (v["value"], v["applies"], v["source"]) for k, v in c.items()} == {
        "margin_grad": (False, True, "default"),
        "pr_reference": ("base", False, "default"),
        "sft_reduction": ("sum", False, "default"),
        "ld_reduction": ("sum", True, "option --ld-reduction"),
        "sft_init_reduction": ("mean", False, "fixed"),
    }
    assert "eq. 10" in c["ld_reduction"]["meaning"] and c["margin_grad"]["meaning"].startswith("Detached:")
    card = (tmp_path / "b" / "README.md").read_text()
    assert "## Choices the paper leaves open" in card
    assert f"| ld_reduction | sum | yes | option --ld-reduction | {c['ld_reduction']['meaning']} |" in card


def test_pr_init_preset_margin_is_zero_at_step_0_and_base_is_not(
    pref_export: Path, tiny_llama: Path, tmp_path: Path
) -> None:
    """paper-aam-pr-init: pi_ref is the SFT-initialised model, so the first batch's PR margin is 0 for
    every pair; paper-aam-pr (pi_ref = the backbone before SFT) starts from a non-zero margin."""
    first = {}
    for name in ("paper-aam-pr-init", "paper-aam-pr"):
        out = tmp_path / name
        # a large SFT learning rate so one SFT epoch visibly moves the tiny model
        _train(pref_export, tiny_llama, out, "--preset", name, "--sft-lr", "1e-2", "--logging-steps", "1")
        first[name] = json.loads((out / "train_log.jsonl").read_text().splitlines()[0])
    assert first["paper-aam-pr-init"]["step"] == 1.0  # logged from the batch before the first RM update
    # exactly 0: the precomputed reference and the policy are the same weights on the same pairs
    assert first["paper-aam-pr-init"]["margin_mean"] == 0.0
    assert first["paper-aam-pr-init"]["margin_std"] == 0.0
    assert abs(first["paper-aam-pr"]["margin_mean"]) > 1e-2 or first["paper-aam-pr"]["margin_std"] > 1e-2


def test_explicit_flags_override_a_preset(pref_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    # --loss bt and --sft-reduction sum are the CLI defaults: given explicitly they must still win
    meta = _train(
        pref_export,
        tiny_llama,
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
        tiny_llama,
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


def test_no_preset_keeps_plain_defaults(pref_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    cfg = _train(pref_export, tiny_llama, tmp_path / "plain")["resolved_config"]
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
        (["--ld-reduction", "token"], "--ld-reduction 'token': choose 'mean' or 'sum'"),
    ],
)
def test_bad_preset_options_one_line_exit_2(
    pref_export: Path, tiny_llama: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "never"
    res = runner.invoke(app, ["rm", "-d", str(pref_export), "-o", str(out), "--model", str(tiny_llama), "-q", *args])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0]
    assert not out.exists()

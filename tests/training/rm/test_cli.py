"""`charm-train rm` / `eval-rm` through typer's CliRunner (tiny random Llama; fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import train_rm
from training.rm.model import MARKER

runner = CliRunner()


def test_help_has_examples() -> None:
    for cmd in ("rm", "eval-rm"):
        res = runner.invoke(app, [cmd, "--help"])
        assert res.exit_code == 0
        assert "Examples" in res.output and f"charm-train {cmd}" in res.output


def test_rm_then_eval_rm(pref_export: Path, role_reward_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "rm"
    train_rm(
        pref_export,
        out,
        tiny_llama,
        "--loss",
        "aam-ld",
        "--max-steps",
        "2",
        "--max-length",
        "96",
        "--lr",
        "1e-3",
        "--logging-steps",
        "1",
    )
    assert (out / MARKER).exists()
    ev = tmp_path / "eval"
    res = runner.invoke(
        app, ["eval-rm", str(out), "--data", str(role_reward_export), "--out", str(ev), "--name", "AAM-LD", "-q"]
    )
    assert res.exit_code == 0, res.output
    assert "Charm-Consistency" in res.output and "Charm-Attractiveness" in res.output
    md = (ev / "results.md").read_text()
    assert md.startswith("| Method | Charm-Consistency zh | Charm-Consistency en | Charm-Consistency avg.")
    assert "| AAM-LD |" in md and (ev / "results.csv").exists()
    row = md.splitlines()[2]
    assert row.count(" ± ") == 7 and "± is half the width of the 95 % percentile bootstrap interval" in md
    # the seed fixes the intervals; --bootstrap 0 turns them off
    again = tmp_path / "eval2"
    args = ["eval-rm", str(out), "--data", str(role_reward_export), "--name", "AAM-LD", "-q", "--out"]
    assert runner.invoke(app, [*args, str(again)]).exit_code == 0
    assert (again / "results.md").read_text() == md
    assert runner.invoke(app, [*args, str(tmp_path / "plain"), "--bootstrap", "0"]).exit_code == 0
    assert "±" not in (tmp_path / "plain" / "results.md").read_text()
    assert not (tmp_path / "plain" / "items.jsonl").exists()
    res = runner.invoke(app, [*args, str(tmp_path / "bad"), "--bootstrap", "-5"])
    assert res.exit_code == 2 and "--bootstrap must be >= 0" in res.output and not (tmp_path / "bad").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--loss", "hinge"], "--loss 'hinge': choose 'bt', 'margin', 'aam-pr' or 'aam-ld'"),
        (["--loss", "margin", "--margin-column", "margin_gpt"], "have no margin_gpt (no such column"),
        (["--data", "{tmp}/missing-dir"], "missing-dir: no such file or directory"),
        (["--precision", "fp8"], "--precision 'fp8'"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
    ],
)
def test_rm_bad_input_one_line_exit_2(
    pref_export: Path, tiny_llama: Path, tmp_path: Path, args: list[str], needle: str
) -> None:
    out = tmp_path / "never"
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    base = ["rm", "-o", str(out), "--model", str(tiny_llama), "-q"]
    if "--data" not in args:
        base += ["--data", str(pref_export)]
    res = runner.invoke(app, base + args)
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
    assert not out.exists()


def test_eval_rm_bad_input(tmp_path: Path, role_reward_export: Path, pref_export: Path, tiny_llama: Path) -> None:
    res = runner.invoke(
        app, ["eval-rm", str(tiny_llama), "--data", str(role_reward_export), "--out", str(tmp_path / "ev")]
    )
    assert res.exit_code == 2 and "not a charm reward model" in res.stderr
    res = runner.invoke(app, ["eval-rm", str(tiny_llama), "--data", str(pref_export), "--out", str(tmp_path / "ev")])
    assert res.exit_code == 2 and "missing column 'id'" in res.stderr
    assert not (tmp_path / "ev").exists()

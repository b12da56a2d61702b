"""One source per configuration: `charm-train rm` / `grpo` options and their config fields agree, and
the config's rules reach the user as one line naming the option."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import pytest
import typer
from pydantic import BaseModel, Field
from typer.testing import CliRunner

from charm_apps.train import app
from tests.config_options import command, option_mismatches
from training.grpo.cli import GRPO_CLI_ONLY, GRPO_OPTIONS
from training.grpo.trainer import GRPORunConfig
from training.rm.cli import RM_CLI_ONLY, RM_OPTIONS
from training.rm.trainer import RMTrainConfig

runner = CliRunner()


def test_rm_options_match_rm_train_config() -> None:
    problems = option_mismatches(
        command(app, "rm"), RMTrainConfig, options=RM_OPTIONS, params={"output_dir": "out"}, cli_only=RM_CLI_ONLY
    )
    assert problems == []


def test_grpo_options_match_grpo_run_config() -> None:
    problems = option_mismatches(
        command(app, "grpo"),
        GRPORunConfig,
        options=GRPO_OPTIONS,
        params={"output_dir": "out"},
        cli_only=GRPO_CLI_ONLY,
    )
    assert problems == []


def test_the_check_catches_a_disagreement() -> None:
    class Config(BaseModel):
        steps: int = Field(3, description="Steps.")
        rate: float = Field(0.5, description="Rate.")
        hidden: int = Field(0, description="Not an option.")

    mini = typer.Typer()

    @mini.command("go")
    def go(
        steps: Annotated[int, typer.Option(help="Steps.")] = 4,
        rate: Annotated[float, typer.Option("--speed", help="How fast.")] = 0.5,
        extra: Annotated[bool, typer.Option()] = False,
    ) -> None: ...

    @mini.command("other")
    def other() -> None: ...

    problems = option_mismatches(command(mini, "go"), Config)
    assert "field steps: default 3, option --steps default 4" in problems
    assert any(p.startswith("field rate: option is ['--speed'], expected --rate") for p in problems)
    assert "field rate: help differs from option --rate: 'How fast.'" in problems
    assert "field hidden: no option" in problems
    assert "option extra: no field (and not listed as CLI-only)" in problems
    assert option_mismatches(command(mini, "go"), Config, no_option={"nothing": "why"})[-1] == (
        "nothing: listed, but Config has no such field"
    )


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--num-generations", "1"], "--num-generations must be >= 2, got 1"),
        (["--temperature", "0"], "--temperature must be > 0, got 0.0"),
        (["--scale-rewards", "rank"], "--scale-rewards 'rank': choose 'group', 'batch' or 'none'"),
    ],
)
def test_grpo_config_rules_are_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "never"
    base = ["grpo", "-d", str(tmp_path / "pt"), "-r", str(tmp_path / "rm"), "-o", str(out), "-q"]
    res = runner.invoke(app, base + args)
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [f"error: {needle}"]
    assert not out.exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--lr", "0"], "--lr must be > 0, got 0.0"),
        (["--max-length", "4"], "--max-length must be >= 8, got 4"),
        (["--warmup-ratio", "2"], "--warmup-ratio must be <= 1, got 2.0"),
        (["--preset", "paper-aam-ld", "--ref-logps", "later"], "--ref-logps 'later': choose 'precompute' or 'online'"),
    ],
)
def test_rm_config_rules_are_one_line_exit_2(tmp_path: Path, args: list[str], needle: str) -> None:
    out = tmp_path / "never"
    res = runner.invoke(app, ["rm", "-d", str(tmp_path / "pt"), "-o", str(out), "-q", *args])
    assert res.exit_code == 2
    assert res.stderr.strip().splitlines() == [f"error: {needle}"]
    assert not out.exists()

"""`charm-build simulate` options and RunOptions are one source; its rules reach the user as one line."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from charm_apps.build import app
from charm_builder.simulate.cli import SIMULATE_CLI_ONLY, SIMULATE_OPTIONS, SIMULATE_PARAMS
from charm_builder.simulate.runner import RunOptions
from tests.config_options import command, option_mismatches
from tests.helpers import run_cli


def test_simulate_options_match_run_options():
    problems = option_mismatches(
        command(app, "simulate"),
        RunOptions,
        options=SIMULATE_OPTIONS,
        params=SIMULATE_PARAMS,
        cli_only=SIMULATE_CLI_ONLY,
        no_option={
            "max_retries": "retries per degenerate dialogue / failed call: a fixed policy, not a user choice",
            "params": "built from --max-tokens",
            "candidate_params": "built from --max-tokens",
            "batch_poll_s": "how often a Batch API job is polled: tests shorten it, users need not",
        },
    )
    assert problems == []


def test_models_come_from_the_roster_unless_given():
    names = ["a", "b", "c", "d", "e", "f", "g"]
    opts = RunOptions().for_roster(names)
    assert (opts.user_model, opts.character_model, opts.candidate_models) == ("a", "b", names[:6])
    given = RunOptions(user_model="g", candidate_models="c, d,,").for_roster(names)
    assert (given.user_model, given.character_model, given.candidate_models) == ("g", "b", ["c", "d"])
    assert RunOptions().for_roster(["solo"]).character_model == "solo"
    # refine: the option, else the roster's simulate.refine_model; "none" turns a roster's default off
    assert RunOptions().for_roster(names).refine_model is None
    assert RunOptions().for_roster(names, "c").refine_model == "c"
    assert RunOptions(refine_model="d").for_roster(names, "c").refine_model == "d"
    assert RunOptions(refine_model="none").for_roster(names, "c").refine_model is None
    with pytest.raises(ValidationError, match="--batch works with --stage candidates"):
        RunOptions(batch=True)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (["--stage", "everything"], "error: --stage 'everything': choose 'all', 'dialogues' or 'candidates'"),
        (["--concurrency", "0"], "error: --concurrency must be >= 1, got 0"),
        (["--batch"], "error: --batch works with --stage candidates"),
    ],
)
def test_simulate_option_rules_are_one_line_exit_2(tmp_path, args, line):
    proc = run_cli("simulate", *args, workspace=tmp_path / "ws")
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(line), proc.stderr
    assert not (tmp_path / "ws").exists()

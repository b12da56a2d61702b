"""Helpers shared by the evaluation tests."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from charm_apps.train import app


def run_local_model_eval(command: str, model: Path, data: Path, roster: Path, out: Path, *extra: str) -> list[dict]:
    """`charm-train COMMAND` with a local ``model`` (4 new tokens, run name "tiny") judged by judge-a and judge-b
    of ``roster``; asserts that it succeeded and returns the rows of ``out/replies.jsonl``."""
    args = [command, "--model", str(model), "--data", str(data), "--judges", "judge-a,judge-b", "--roster", str(roster)]
    args += ["-o", str(out), *extra, "--max-new-tokens", "4", "--name", "tiny", "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in (out / "replies.jsonl").read_text(encoding="utf-8").splitlines()]

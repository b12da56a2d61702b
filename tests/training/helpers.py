"""Shared by the tests that train a reward model through the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from charm_apps.train import app
from training.rm.model import MARKER


def train_rm(data: Path, out: Path, model: Path, *args: str) -> dict:
    """Run ``charm-train rm -d DATA -o OUT --model MODEL ARGS -q`` in-process, assert it succeeded and
    return the run's charm_rm.json."""
    res = CliRunner().invoke(app, ["rm", "-d", str(data), "-o", str(out), "--model", str(model), *args, "-q"])
    assert res.exit_code == 0, res.output
    return json.loads((out / MARKER).read_text())


def train_one_margin_step(data: Path, out: Path, model: Path, batch_size: int, *args: str) -> tuple[dict, dict]:
    """One margin-loss step (``ARGS`` pick the margin) over a batch of ``batch_size`` pairs via :func:`train_rm`;
    returns the run's charm_rm.json and that step's logged metrics."""
    meta = train_rm(
        data,
        out,
        model,
        "--loss",
        "margin",
        *args,
        "--batch-size",
        str(batch_size),
        "--max-steps",
        "1",
        "--max-length",
        "128",
        "--logging-steps",
        "1",
    )
    return meta, json.loads((out / "train_log.jsonl").read_text().splitlines()[0])

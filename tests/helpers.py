"""Helpers shared by tests in several folders."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
# the paper's six candidate models (Charm), in label order A-F
PAPER_MODELS = ["gpt-4o", "claude-3.5-sonnet", "doubao-character", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b"]


def paper_candidates(texts: list[str], flags: dict[str, list[str]] | None = None) -> list[dict]:
    """The six candidates A-F of one set, from the paper's models in order, with these texts (and flags by label)."""
    return [
        {"label": label, "model_id": model, "text": text, "flags": (flags or {}).get(label, [])}
        for label, model, text in zip("ABCDEF", PAPER_MODELS, texts, strict=True)
    ]


def run_cli(
    *args: str,
    workspace: Path | None = None,
    env: dict | None = None,
    timeout: float = 120,
    module: str = "charm_apps",
) -> subprocess.CompletedProcess:
    """Run `python -m charm_apps ARGS` (the charm-build app) the way a user would; returns the finished process."""
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    if workspace is not None:
        full_env["CHARM_WORKSPACE"] = str(workspace)
    return subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, env=full_env, timeout=timeout, cwd=REPO
    )


def run_train_on_two_processes(*args: str) -> subprocess.CompletedProcess:
    """`charm-train ARGS --accelerate-config ddp --num-processes 2` (two CPU processes, gloo DDP), as a user runs it;
    asserts that it succeeded."""
    proc = run_cli(*args, "--accelerate-config", "ddp", "--num-processes", "2", module="charm_apps.train", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc

"""Shared fixtures: a fresh workspace and a way to run the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


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


@pytest.fixture
def workspace(tmp_path: Path):
    from charm_builder.store import Workspace

    ws = Workspace.create(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's real tokenizer and chat template: trains and generates in
    milliseconds, so tests of the training loops need not load the real model."""
    from training.rm.tiny_model import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))

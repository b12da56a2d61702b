"""Helpers shared by tests in several folders."""

from __future__ import annotations

import subprocess

from tests.conftest import run_cli


def run_train_on_two_processes(*args: str) -> subprocess.CompletedProcess:
    """`charm-train ARGS --accelerate-config ddp --num-processes 2` (two CPU processes, gloo DDP), as a user runs it;
    asserts that it succeeded."""
    proc = run_cli(*args, "--accelerate-config", "ddp", "--num-processes", "2", module="charm_apps.train", timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc

"""Every command module imports on its own in a fresh interpreter: a library user (or the demo)
may import a stage's ``cli`` before ``charm_builder.cli`` has been imported, and a cycle through the
app tree then fails with "partially initialized module"."""

from __future__ import annotations

import subprocess
import sys

import pytest

MODULES = [
    "charm_builder.simulate.cli",
    "charm_builder.export.cli",
    "charm_builder.judge.cli",
    "charm_builder.browse.cli",
    "charm_builder.demo.cli",
    "charm_builder.demo.steps",
    "charm_builder.llm.cli",
    "annotation.cli",
    "training.cli",
]


@pytest.mark.parametrize("module", MODULES)
def test_module_imports_first(module: str) -> None:
    code = f"import {module}; import charm_builder.cli as c; assert c.app.registered_commands"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr.strip().splitlines()[-1:]

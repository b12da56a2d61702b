"""First use of an offline model: its GGUF -> safetensors conversion shows our bar, not library noise."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.helpers import REPO

SCRIPT = (
    "from charm_kernel.console import quiet_libraries; quiet_libraries(); "
    "from charm_builder.offline_models import offline_model_dir; print(offline_model_dir())"
)


@pytest.mark.slow
def test_conversion_in_a_log_prints_plain_steps_and_no_third_party_bars(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "CHARM_CACHE_DIR": str(tmp_path / "cache"), "COLUMNS": "200"}
    env.pop("HF_HUB_DISABLE_PROGRESS_BARS", None)
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT], capture_output=True, text=True, env=env, timeout=600, cwd=REPO
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == str(tmp_path / "cache" / "models" / "smollm2-135m-instruct")
    log = proc.stderr
    assert "\r" not in log and "it/s" not in log and "Warning" not in log, log[-2000:]
    last = log.strip().splitlines()[-1]
    assert last.startswith("converting smollm2-135m-instruct (first use only) 4/4 (100%)") and last.endswith("done")

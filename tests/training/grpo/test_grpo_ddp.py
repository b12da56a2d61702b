"""`charm-train grpo --accelerate-config ddp --num-processes 2` on CPU: TRL shards the prompts, each
process scores with its own reward-model copy, and only rank 0 writes the policy, log and curves."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.helpers import run_train_on_two_processes
from training.grpo.trainer import CURVES_FILE, LOG_FILE, RUN_FILE


@pytest.mark.slow
def test_grpo_on_two_processes(pt_export: Path, tiny_llama: Path, tiny_rm: Path, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM

    out = tmp_path / "grpo"
    proc = run_train_on_two_processes(
        "grpo",
        "--data",
        str(pt_export),
        "--reward-model",
        str(tiny_rm),
        "--out",
        str(out),
        "--policy",
        str(tiny_llama),
        "-G",
        "2",
        "--prompts-per-step",
        "1",
        "--max-completion-length",
        "6",
        "--max-steps",
        "2",
        "--lr",
        "1e-2",
        "--lora-r",
        "4",
        "--vllm",
        "off",
    )
    assert "--num_processes 2" in proc.stderr
    for step in (1, 2):  # one console line per step: rank 1 stays quiet
        assert len(re.findall(rf"^step {step}  reward ", proc.stderr, flags=re.M)) == 1, proc.stderr
    assert proc.stdout.count("saved policy to") == 1
    # the two processes form one job (each alone would be its own rank 0 and write the same files)
    assert "(2 steps on 2 processes)" in proc.stdout, proc.stdout
    history = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    rewards = [e for e in history if "reward" in e]
    assert [e["step"] for e in rewards] == [1, 2]
    assert all(0 < e["completions/mean_length"] <= 6 for e in rewards)
    assert (out / CURVES_FILE).stat().st_size > 0 and json.loads((out / RUN_FILE).read_text())["lora_r"] == 4
    assert not (out / "adapter_config.json").exists()  # merged on rank 0
    assert AutoModelForCausalLM.from_pretrained(out).config.num_hidden_layers == 2

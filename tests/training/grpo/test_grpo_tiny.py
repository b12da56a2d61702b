"""GRPO end to end on a tiny random Llama (seconds): LoRA merge on save, length penalty, scale_rewards."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.grpo.trainer import LOG_FILE, GRPORunConfig, train_grpo


def test_lora_grpo_saves_merged_plain_model(pt_export: Path, tiny_llama: Path, tiny_rm: Path, tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from transformers import AutoModelForCausalLM

    out = tmp_path / "grpo-lora"
    cfg = GRPORunConfig(
        data=pt_export,
        reward_model=tiny_rm,
        output_dir=out,
        policy=str(tiny_llama),
        num_generations=2,
        prompts_per_step=2,
        max_completion_length=6,
        max_steps=1,
        lr=1e-2,
        lora_r=4,
        lora_alpha=8,
        beta=0.0,
        length_penalty=0.1,
        scale_rewards="batch",
        seed=0,
    )
    result = train_grpo(cfg, progress=False)
    assert result.steps == 1
    assert not (out / "adapter_config.json").exists()  # merged: loads without peft
    model = AutoModelForCausalLM.from_pretrained(out)
    base = load_file(str(tiny_llama / "model.safetensors"))
    state = model.state_dict()
    moved = [k for k in base if "proj" in k and not torch.equal(base[k], state[k])]
    assert moved, "LoRA update was not merged into the saved weights"
    (entry,) = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines() if '"reward"' in line]
    # logged reward = raw RM score - 0.1 x completion tokens (TRL's mean_length counts the same tokens)
    assert 0 < entry["completions/mean_length"] <= 6
    assert entry["rm/length_penalty"] == pytest.approx(0.1 * entry["completions/mean_length"], abs=1e-5)
    assert entry["reward"] == pytest.approx(entry["rm/raw_mean"] - entry["rm/length_penalty"], abs=1e-5)
    run = json.loads((out / "grpo_run.json").read_text())
    assert run["lora_r"] == 4 and run["scale_rewards"] == "batch"

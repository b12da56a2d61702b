"""Integration: GRPO with the real SmolLM2-135M policy and a reward model trained here with training.rm.

Runs 3 GRPO steps on CPU (group size 2, 2 prompts, 12 new tokens), checks that the policy moved,
rewards were logged and a checkpoint reloads to the same weights; then simulates a crash after step 2
(checkpoint-3 removed) and checks that `charm-train grpo --resume` continues from checkpoint-2 and redoes
step 3 (not bit-exact: the resumed step samples different completions than the uninterrupted one).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smollm2_rm(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(export, reward model): SmolLM2 + fresh value head, trained 2 BT steps with training.rm."""
    from tests.training.grpo.helpers import write_export
    from training.rm.trainer import RMTrainConfig, train_reward_model

    root = tmp_path_factory.mktemp("grpo-it")
    export = write_export(root / "preferenceTraining", n_grpo=4)
    rm_dir = root / "rm"
    train_reward_model(
        RMTrainConfig(
            data=export,
            output_dir=rm_dir,
            model="offline",
            loss="bt",
            max_steps=2,
            batch_size=1,
            max_length=96,
            lr=1e-4,
            logging_steps=1,
        ),
        progress=False,
    )
    return export, rm_dir


def test_grpo_steps_change_policy_log_rewards_and_resume(smollm2_rm: tuple[Path, Path], tmp_path: Path) -> None:
    import torch
    from safetensors.torch import load_file
    from typer.testing import CliRunner

    from charm_apps.train import app
    from charm_builder.offline_models import offline_model_dir
    from training.grpo.trainer import CURVES_FILE, LOG_FILE, GRPORunConfig, train_grpo

    export, rm_dir = smollm2_rm
    out = tmp_path / "grpo"
    logged: list[dict] = []
    cfg = GRPORunConfig(
        data=export,
        reward_model=rm_dir,
        output_dir=out,
        policy="offline",
        num_generations=2,
        prompts_per_step=2,
        max_completion_length=12,
        max_steps=3,
        lr=1e-5,
        beta=0.04,
        save_steps=1,
        keep_checkpoints=3,
        seed=0,
    )
    result = train_grpo(cfg, progress=False, on_log=logged.append)
    assert result.steps == 3

    # rewards (and KL, length) logged every step, finite
    steps = [e for e in logged if "reward" in e]
    assert [e["step"] for e in steps] == [1, 2, 3]
    for e in steps:
        assert math.isfinite(e["reward"]) and math.isfinite(e["rewards/charm_rm/mean"])
        assert e["reward_std"] > 0  # distinct completions got distinct RM scores
        assert "kl" in e and 0 < e["completions/mean_length"] <= 12
    on_disk = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [e["reward"] for e in on_disk if "reward" in e] == [e["reward"] for e in steps]
    assert (out / CURVES_FILE).read_bytes()[:4] == b"\x89PNG"

    # parameters changed
    base = load_file(str(offline_model_dir() / "model.safetensors"))
    final = load_file(str(out / "model.safetensors"))
    changed = [k for k in base if k in final and not torch.equal(base[k], final[k])]
    assert len(changed) > len(base) // 2

    # the last checkpoint reloads to the final weights
    from transformers import AutoModelForCausalLM

    ckpt = AutoModelForCausalLM.from_pretrained(out / "checkpoint-3")
    ckpt_state = ckpt.state_dict()
    for k in changed[:20]:
        assert torch.equal(ckpt_state[k], final[k]), k

    # crash after step 2: drop checkpoint-3, resume through the CLI; step 3 is redone
    import shutil

    step2 = load_file(str(out / "checkpoint-2" / "model.safetensors"))
    shutil.rmtree(out / "checkpoint-3")
    res = CliRunner().invoke(
        app,
        [
            "grpo",
            "-d",
            str(export),
            "-r",
            str(rm_dir),
            "-o",
            str(out),
            "-G",
            "2",
            "--prompts-per-step",
            "2",
            "--max-completion-length",
            "12",
            "--max-steps",
            "3",
            "--lr",
            "1e-5",
            "--save-steps",
            "1",
            "--seed",
            "0",
            "--resume",
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    history = [json.loads(line) for line in (out / LOG_FILE).read_text().splitlines()]
    assert [e["step"] for e in history if "reward" in e] == [1, 2, 3]
    assert (out / "checkpoint-3" / "trainer_state.json").exists()
    resumed = load_file(str(out / "model.safetensors"))
    assert any(not torch.equal(resumed[k], step2[k]) for k in changed[:20])  # step 3 trained
    state = json.loads((out / "checkpoint-3" / "trainer_state.json").read_text())
    assert state["global_step"] == 3
    assert [e["step"] for e in state["log_history"] if "reward" in e] == [1, 2, 3]  # steps 1-2 restored
    first_two = [e["reward"] for e in steps[:2]]
    assert [e["reward"] for e in history if "reward" in e][:2] == first_two

"""Train every loss for a few steps with the real offline SmolLM2-135M backbone (slow)."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.rm.model import load_reward_model
from training.rm.trainer import RewardModelTrainer, RMTrainConfig, evaluate_pairs

pytestmark = pytest.mark.slow


@pytest.mark.parametrize(
    "kw",
    [
        {"loss": "bt"},
        {"loss": "margin", "margin_column": "margin_agreement"},
        {"loss": "aam-ld", "sft_reg": 0.01},
        {"loss": "aam-pr", "sft_reg": 0.01},
    ],
    ids=["bt", "margin", "aam-ld", "aam-pr"],
)
def test_smollm2_loss_falls_and_accuracy_rises(pref_export: Path, tmp_path: Path, kw: dict) -> None:
    out = tmp_path / "rm"
    cfg = RMTrainConfig(
        data=pref_export,
        output_dir=out,
        model="offline",
        max_steps=3,
        batch_size=4,
        limit=4,
        lr=1e-4,
        max_length=96,
        logging_steps=1,
        seed=42,
        warmup_ratio=0.0,
        **kw,
    )
    trainer = RewardModelTrainer(cfg, progress=False)
    before = evaluate_pairs(trainer.model, trainer.pairs)
    result = trainer.train()
    after = evaluate_pairs(trainer.model, trainer.pairs)
    losses = [h["bt_loss"] for h in result.history]
    assert losses[-1] < losses[0], losses
    assert after["accuracy"] > before["accuracy"], (before, after)
    assert after["reward_gap"] > before["reward_gap"]
    if kw["loss"] == "aam-ld":
        assert all(h["margin_std"] > 0 for h in result.history)  # adaptive: differs per pair

    # save -> load -> same scores
    loaded = load_reward_model(out)
    items = [(row["prompt"], row["chosen"]) for row in trainer.rows[:2]]
    assert loaded.score(items) == pytest.approx(trainer.model.score(items), abs=1e-4)
    assert evaluate_pairs(loaded, trainer.pairs)["accuracy"] == after["accuracy"]

"""The exported preferenceTraining split goes through TRL's RewardTrainer unchanged: the trainer built on
it tokenises every pair with the chat template, its data loader collates chosen and rejected, and a
training step runs (all through TRL's public API, on the tiny random Llama with SmolLM2's tokenizer)."""

from __future__ import annotations

import math
from pathlib import Path

from datasets import load_from_disk

from charm_builder.export import ExportOptions, export_workspace


def test_preference_train_split_trains_with_trl_reward_trainer(workspace, built, tmp_path, tiny_llama: Path):
    from transformers import AutoTokenizer
    from trl import RewardConfig, RewardTrainer

    out = tmp_path / "out"
    export_workspace(
        workspace, out, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0, pairs="all")
    )
    train = load_from_disk(str(out / "preferenceTraining"))["train"]
    tok = AutoTokenizer.from_pretrained(tiny_llama)
    args = RewardConfig(
        output_dir=str(tmp_path / "rm"),
        report_to=[],
        dataset_num_proc=None,
        use_cpu=True,
        bf16=False,
        per_device_train_batch_size=4,
        max_steps=1,
        logging_steps=1,
        save_strategy="no",
        seed=0,
    )
    trainer = RewardTrainer(model=str(tiny_llama), args=args, train_dataset=train, processing_class=tok)

    prepared = trainer.train_dataset
    assert prepared.num_rows == train.num_rows == 36
    first = train[0]
    text = tok.decode(prepared[0]["chosen_ids"])
    assert first["prompt"][0]["content"] in text and first["chosen"][0]["content"] in text
    assert first["rejected"][0]["content"] in tok.decode(prepared[0]["rejected_ids"])
    assert first["chosen"][0]["content"] not in tok.decode(prepared[0]["rejected_ids"])

    batch = next(iter(trainer.get_train_dataloader()))
    assert batch["input_ids"].shape[0] == 8  # 4 chosen then 4 rejected
    assert batch["attention_mask"].shape == batch["input_ids"].shape

    result = trainer.train()
    assert result.global_step == 1 and math.isfinite(result.training_loss)

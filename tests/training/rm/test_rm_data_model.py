"""Data loading / tokenising / collation and the reward model's single forward pass (tiny random Llama)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from tests.training.rm.helpers import preference_rows
from training.rm.data import DataError, collate_pairs, encode, encode_preference_rows, load_rows
from training.rm.model import ActAdaptiveRewardModel, RewardModelError, load_backbone, load_reward_model


@pytest.fixture(scope="module")
def tiny(tiny_llama: Path) -> ActAdaptiveRewardModel:
    return load_backbone(tiny_llama, seed=0).eval()


def test_load_rows_formats(tmp_path: Path, pref_export: Path) -> None:
    rows, source = load_rows(pref_export, "train")
    assert len(rows) == 8 and "train" in source
    rows_grpo, _ = load_rows(pref_export, "grpo")
    assert rows_grpo.column_names == ["prompt"]
    jl = tmp_path / "jl"
    jl.mkdir()
    with (jl / "train.jsonl").open("w") as fh:
        for r in preference_rows(3):
            fh.write(json.dumps(r) + "\n")
    assert len(load_rows(jl)[0]) == 3
    rows.to_parquet(str(tmp_path / "pairs.parquet"))
    assert len(load_rows(tmp_path / "pairs.parquet")[0]) == 8
    with pytest.raises(DataError, match="no split 'dev'"):
        load_rows(pref_export, "dev")
    with pytest.raises(DataError, match="no such file"):
        load_rows(tmp_path / "missing")


def test_encode_splits_prompt_and_response(tiny: ActAdaptiveRewardModel) -> None:
    row = preference_rows(1)[0]
    ids, start = encode(tiny.tokenizer, row["prompt"], row["chosen"], 256)
    prompt_text = tiny.tokenizer.decode(ids[:start])
    resp_text = tiny.tokenizer.decode(ids[start:])
    assert prompt_text.endswith("assistant\n") and "Who are you?" in prompt_text
    assert resp_text.startswith("Sherlock Holmes, consulting detective")
    ids_short, start_short = encode(tiny.tokenizer, row["prompt"], row["chosen"], 24)
    assert len(ids_short) == 24
    assert ids_short[start_short:] == ids[start : start + 24 - start_short]  # response keeps its beginning
    assert ids_short[:start_short] == ids[start - start_short : start]  # prompt keeps its end


def test_encode_rejects_bad_rows(tiny: ActAdaptiveRewardModel) -> None:
    rows = preference_rows(2)
    rows[1]["chosen"] = [{"content": "no role"}]
    from datasets import Dataset

    with pytest.raises(DataError, match=r"row 1 'chosen'.*role"):
        encode_preference_rows(Dataset.from_list(rows), tiny.tokenizer, 128, "data.jsonl")
    with pytest.raises(DataError, match="missing column 'margin_x'"):
        encode_preference_rows(Dataset.from_list(preference_rows(2)), tiny.tokenizer, 128, "d", "margin_x")


def test_collate_puts_chosen_then_rejected(tiny: ActAdaptiveRewardModel) -> None:
    from datasets import Dataset

    pairs = encode_preference_rows(Dataset.from_list(preference_rows(3)), tiny.tokenizer, 128, "d", "margin_judge")
    ref = torch.tensor([[-1.0, -2.0], [-3.0, -4.0], [-5.0, -6.0]])
    b = collate_pairs(pairs[1:], tiny.pad_token_id, ref)
    assert b["input_ids"].shape[0] == 4
    assert b["input_ids"][0, : len(pairs[1].chosen_ids)].tolist() == pairs[1].chosen_ids
    assert b["input_ids"][2, : len(pairs[1].rejected_ids)].tolist() == pairs[1].rejected_ids
    assert b["response_mask"][0].sum().item() == len(pairs[1].chosen_ids) - pairs[1].chosen_start
    assert b["ref_logps"].tolist() == [-3.0, -5.0, -4.0, -6.0]
    assert b["margin"].tolist() == [1.0, 2.0]


def test_forward_logps_match_full_logits_and_padding_is_ignored(tiny: ActAdaptiveRewardModel) -> None:
    from datasets import Dataset

    pairs = encode_preference_rows(Dataset.from_list(preference_rows(2)), tiny.tokenizer, 128, "d")
    b = collate_pairs(pairs, tiny.pad_token_id)
    with torch.no_grad():
        out = tiny(b["input_ids"], b["attention_mask"], b["response_mask"])
        logits = tiny.causal_lm(input_ids=b["input_ids"], attention_mask=b["attention_mask"]).logits
        tok = logits[:, :-1].log_softmax(-1).gather(-1, b["input_ids"][:, 1:, None]).squeeze(-1)
        expected = (tok * b["response_mask"][:, 1:]).sum(1)
        assert torch.allclose(out.logps, expected, atol=1e-4)
        assert out.lengths.tolist() == b["response_mask"].sum(1).tolist()
        # reward of a padded row equals the reward of the same row alone
        for i in range(4):
            n = int(b["attention_mask"][i].sum())
            alone = tiny(b["input_ids"][i : i + 1, :n], b["attention_mask"][i : i + 1, :n]).rewards
            assert alone.item() == pytest.approx(out.rewards[i].item(), abs=1e-4)


def test_save_load_round_trip(tiny_llama: Path, tmp_path: Path) -> None:
    model = load_backbone(tiny_llama, seed=3).eval()
    row = preference_rows(1)[0]
    items = [(row["prompt"], "Elementary."), (row["prompt"], row["rejected"]), "plain text item"]
    before = model.score(items)
    (tmp_path / "rm" / "checkpoints").mkdir(parents=True)  # save must not clobber other files
    model.save(tmp_path / "rm", metadata={"loss": "bt"})
    assert (tmp_path / "rm" / "checkpoints").is_dir()
    loaded = load_reward_model(tmp_path / "rm")
    assert loaded.score(items) == pytest.approx(before, abs=1e-5)
    assert loaded.metadata["loss"] == "bt"
    with pytest.raises(RewardModelError, match="not a charm reward model"):
        load_reward_model(tiny_llama)

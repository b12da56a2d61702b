"""The training loop on a tiny random Llama (real tokenizer, real transformers/peft): fast."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from training.rm.data import DataError
from training.rm.model import MARKER, load_reward_model
from training.rm.trainer import (
    LOG_FILE,
    RewardModelTrainer,
    RMTrainConfig,
    TrainingInputError,
    train_reward_model,
)


def _cfg(data: Path, out: Path, model: Path, **kw: object) -> RMTrainConfig:
    base: dict[str, object] = {
        "data": data,
        "output_dir": out,
        "model": str(model),
        "max_steps": 3,
        "batch_size": 4,
        "lr": 1e-3,
        "max_length": 96,
        "logging_steps": 1,
        "seed": 7,
    }
    base.update(kw)
    return RMTrainConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "kw",
    [
        {"loss": "bt"},
        {"loss": "margin", "margin_column": "margin_judge"},
        {"loss": "aam-ld", "sft_reg": 0.01},
        {"loss": "aam-pr"},
        {"loss": "aam-ld", "lora_r": 4, "sft_init": True, "sft_epochs": 1},
    ],
    ids=["bt", "margin", "aam-ld+reg", "aam-pr", "aam-ld+lora+sft-init"],
)
def test_each_loss_trains_and_saves(pref_export: Path, tiny_llama: Path, tmp_path: Path, kw: dict) -> None:
    out = tmp_path / "rm"
    trainer = RewardModelTrainer(_cfg(pref_export, out, tiny_llama, **kw), progress=False)
    res = trainer.train()
    assert res.steps == 3 and len(res.history) == 3
    assert all(h["loss"] == h["loss"] for h in res.history)  # finite
    if kw["loss"] == "bt":
        assert all(h["margin_mean"] == 0 for h in res.history)
    if kw["loss"] == "margin":  # margin_judge = i % 3 over 8 rows, every batch sees real values
        assert any(h["margin_mean"] > 0 for h in res.history)
    assert (out / MARKER).exists() and (out / LOG_FILE).exists()
    loaded = load_reward_model(out)
    items = [(p["prompt"], p["chosen"]) for p in trainer.rows[:3]]
    assert loaded.score(items) == pytest.approx(trainer.model.score(items), abs=1e-4)
    assert not hasattr(loaded.lm, "peft_config")  # LoRA merged into a plain model


def test_pr_margin_starts_at_zero_and_precompute_equals_online(
    pref_export: Path, tiny_llama: Path, tmp_path: Path
) -> None:
    runs = {}
    for mode in ("precompute", "online"):
        res = train_reward_model(
            _cfg(pref_export, tmp_path / mode, tiny_llama, loss="aam-pr", ref_logps=mode), progress=False
        )
        runs[mode] = res.history
    assert runs["precompute"][0]["margin_mean"] == pytest.approx(0.0, abs=1e-5)
    assert runs["precompute"][0]["margin_std"] == pytest.approx(0.0, abs=1e-5)
    assert any(abs(h["margin_std"]) > 0 for h in runs["precompute"][1:])  # the LM moved
    for a, b in zip(runs["precompute"], runs["online"], strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-4)
        assert a["margin_mean"] == pytest.approx(b["margin_mean"], abs=1e-4)


def test_same_seed_same_run(pref_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    h1 = train_reward_model(_cfg(pref_export, tmp_path / "a", tiny_llama, loss="aam-ld"), progress=False).history
    h2 = train_reward_model(_cfg(pref_export, tmp_path / "b", tiny_llama, loss="aam-ld"), progress=False).history
    assert [h["loss"] for h in h1] == [h["loss"] for h in h2]
    h3 = train_reward_model(
        _cfg(pref_export, tmp_path / "c", tiny_llama, loss="aam-ld", seed=8), progress=False
    ).history
    assert [h["loss"] for h in h1] != [h["loss"] for h in h3]


class _Crash(RuntimeError):
    pass


def test_resume_continues_exactly(pref_export: Path, tiny_llama: Path, tmp_path: Path) -> None:
    kw = {"loss": "aam-pr", "max_steps": 4, "save_steps": 2, "grad_accum": 2, "batch_size": 2}
    full = train_reward_model(_cfg(pref_export, tmp_path / "full", tiny_llama, **kw), progress=False)

    def crash(entry: dict) -> None:
        if entry["step"] == 3:
            raise _Crash

    out = tmp_path / "crashed"
    with pytest.raises(_Crash):
        train_reward_model(_cfg(pref_export, out, tiny_llama, **kw), progress=False, on_log=crash)
    assert not (out / MARKER).exists()  # an interrupted run never looks finished
    assert (out / "checkpoints" / "step-0000002" / "state.pt").exists()
    with pytest.raises(TrainingInputError, match="not empty"):
        train_reward_model(_cfg(pref_export, out, tiny_llama, **kw), progress=False)
    resumed = train_reward_model(_cfg(pref_export, out, tiny_llama, resume=True, **kw), progress=False)
    assert [h["step"] for h in resumed.history] == [1, 2, 3, 4]
    for a, b in zip(full.history, resumed.history, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], abs=1e-5)
    assert load_reward_model(out).score(["x y z"]) == pytest.approx(
        load_reward_model(tmp_path / "full").score(["x y z"]), abs=1e-5
    )


@pytest.mark.parametrize(
    ("kw", "exc", "match"),
    [
        ({"loss": "hinge"}, ValidationError, "loss"),
        ({"loss": "margin", "margin_column": "margin_gpt"}, DataError, "have no margin_gpt \\(no such column"),
        ({"model": "/nonexistent/model"}, TrainingInputError, "--model /nonexistent/model"),
        ({"resume": True}, TrainingInputError, "--resume: no checkpoint"),
        ({"batch_size": 0}, ValidationError, "batch_size"),
    ],
)
def test_bad_input_fails_before_writing(
    pref_export: Path, tiny_llama: Path, tmp_path: Path, kw: dict, exc: type, match: str
) -> None:
    out = tmp_path / "never"
    args = {"model": str(tiny_llama), **kw}
    with pytest.raises(exc, match=match):
        train_reward_model(_cfg(pref_export, out, **args), progress=False)  # type: ignore[arg-type]
    assert not out.exists()


def test_missing_data_dir_and_column(tmp_path: Path, tiny_llama: Path) -> None:
    with pytest.raises(DataError, match="nothing-here: no such file"):
        train_reward_model(_cfg(tmp_path / "nothing-here", tmp_path / "o", tiny_llama), progress=False)
    from datasets import Dataset

    Dataset.from_list([{"prompt": "p", "chosen": "c"}]).save_to_disk(str(tmp_path / "plain"))
    with pytest.raises(DataError, match="plain: missing column 'rejected'"):
        train_reward_model(_cfg(tmp_path / "plain", tmp_path / "o", tiny_llama), progress=False)
    assert not (tmp_path / "o").exists()

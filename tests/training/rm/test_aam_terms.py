"""The AAM margin, the alpha * SFT term and the PR reference on the tiny random Llama, checked by hand:
log-probs from the backbone's full logits (float64 log-sum-exp), losses written out per pair with math."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from tests.training.rm.helpers import preference_rows
from training.rm.data import collate_pairs, encode_preference_rows
from training.rm.model import ActAdaptiveRewardModel, load_backbone
from training.rm.trainer import CHECKPOINTS, RMTrainConfig, compute_rm_loss, train_reward_model


@pytest.fixture(scope="module")
def tiny(tiny_llama: Path) -> ActAdaptiveRewardModel:
    return load_backbone(tiny_llama, seed=0).eval()


def _nls(z: float) -> float:
    return math.log(1.0 + math.exp(-z))


def _hand_logps(lm: torch.nn.Module, ids: list[int], start: int) -> tuple[float, int]:
    """sum_{t >= start} (logits[t-1][ids[t]] - logsumexp(logits[t-1])) from the backbone's full, unpacked
    logits in float64 (independent of the reward model's masked response-only projection)."""
    with torch.no_grad():
        logits = lm(torch.tensor([ids])).logits[0].double()
    total = sum(logits[t - 1, ids[t]].item() - torch.logsumexp(logits[t - 1], 0).item() for t in range(start, len(ids)))
    return total, len(ids) - start


def _cfg(**kw: object) -> RMTrainConfig:
    return RMTrainConfig(data=Path("unused"), output_dir=Path("unused"), **kw)  # type: ignore[arg-type]


def test_alpha_sft_and_ld_margin_change_the_loss_by_the_hand_computed_amount(tiny: ActAdaptiveRewardModel) -> None:
    from datasets import Dataset

    pairs = encode_preference_rows(Dataset.from_list(preference_rows(3)), tiny.tokenizer, 96, "d")
    batch = collate_pairs(pairs, tiny.pad_token_id)
    with torch.no_grad():
        rewards = tiny(batch["input_ids"], batch["attention_mask"]).rewards.tolist()
    rc, rr = rewards[:3], rewards[3:]
    hand = [
        (
            _hand_logps(tiny.causal_lm, p.chosen_ids, p.chosen_start),
            _hand_logps(tiny.causal_lm, p.rejected_ids, p.rejected_start),
        )
        for p in pairs
    ]
    z = [c - r for c, r in zip(rc, rr, strict=True)]
    margins = [lc / nc - lr / nr for (lc, nc), (lr, nr) in hand]  # eq. 9, beta = 1
    sum_margins = [0.5 * (lc - lr) for (lc, _), (lr, _) in hand]  # eq. 10 with L_SFT a sum, beta = 0.5
    bt = sum(_nls(zi) for zi in z) / 3
    ld = sum(_nls(zi - mi) for zi, mi in zip(z, margins, strict=True)) / 3
    ld_sum = sum(_nls(zi - mi) for zi, mi in zip(z, sum_margins, strict=True)) / 3
    sft_sum = -sum(lc for (lc, _), _ in hand) / 3  # the paper's L_SFT per pair, mean over pairs
    sft_mean = -sum(lc for (lc, _), _ in hand) / sum(nc for (_, nc), _ in hand)

    with torch.no_grad():
        loss_bt, _ = compute_rm_loss(tiny, batch, _cfg(loss="bt"))
        loss_ld, m_ld = compute_rm_loss(tiny, batch, _cfg(loss="aam-ld", beta=1.0))
        loss_ld_sum, m_ld_sum = compute_rm_loss(tiny, batch, _cfg(loss="aam-ld", beta=0.5, ld_reduction="sum"))
        loss_reg, m_reg = compute_rm_loss(tiny, batch, _cfg(loss="aam-ld", beta=1.0, sft_reg=0.01))
        loss_regm, _ = compute_rm_loss(tiny, batch, _cfg(loss="aam-ld", beta=1.0, sft_reg=0.01, sft_reduction="mean"))
    assert loss_bt.item() == pytest.approx(bt, rel=1e-4)
    assert m_ld["margin_mean"] == pytest.approx(sum(margins) / 3, abs=1e-5)  # float32 vs float64
    assert loss_ld.item() - loss_bt.item() == pytest.approx(ld - bt, abs=1e-5)
    assert m_ld_sum["margin_mean"] == pytest.approx(sum(sum_margins) / 3, rel=1e-4)
    assert loss_ld_sum.item() == pytest.approx(ld_sum, rel=1e-4)
    assert loss_reg.item() - loss_ld.item() == pytest.approx(0.01 * sft_sum, rel=1e-4)
    assert m_reg["sft_loss"] == pytest.approx(sft_sum, rel=1e-4)
    assert loss_regm.item() - loss_ld.item() == pytest.approx(0.01 * sft_mean, rel=1e-4)
    # the sum is the per-pair response length times stronger than the per-token mean
    assert sft_sum / sft_mean == pytest.approx(sum(nc for (_, nc), _ in hand) / 3, rel=1e-4)


def test_pr_margin_with_given_reference_by_hand(tiny: ActAdaptiveRewardModel) -> None:
    from datasets import Dataset

    pairs = encode_preference_rows(Dataset.from_list(preference_rows(2)), tiny.tokenizer, 96, "d")
    ref = torch.tensor([[-50.0, -40.0], [-30.0, -45.0]])  # (pair, chosen/rejected) reference log-probs
    batch = collate_pairs(pairs, tiny.pad_token_id, ref)
    hand = [
        (
            _hand_logps(tiny.causal_lm, p.chosen_ids, p.chosen_start)[0],
            _hand_logps(tiny.causal_lm, p.rejected_ids, p.rejected_start)[0],
        )
        for p in pairs
    ]
    with torch.no_grad():
        rewards = tiny(batch["input_ids"], batch["attention_mask"]).rewards.tolist()
        loss, metrics = compute_rm_loss(tiny, batch, _cfg(loss="aam-pr", beta=0.5))
    margins = [0.5 * ((lc - ref[i, 0].item()) - (lr - ref[i, 1].item())) for i, (lc, lr) in enumerate(hand)]
    expected = sum(_nls(rewards[i] - rewards[2 + i] - margins[i]) for i in range(2)) / 2
    assert metrics["margin_mean"] == pytest.approx(sum(margins) / 2, rel=1e-4)
    assert loss.item() == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("ref_logps", ["precompute", "online"])
def test_pr_reference_base_gives_a_nonzero_margin_at_step_0_after_sft(
    pref_export: Path, tiny_llama: Path, tmp_path: Path, ref_logps: str
) -> None:
    common = {
        "data": pref_export,
        "model": str(tiny_llama),
        "loss": "aam-pr",
        "sft_init": True,
        "sft_lr": 1e-2,
        "max_steps": 1,
        "batch_size": 8,
        "max_length": 96,
        "logging_steps": 1,
        "seed": 3,
        "save_steps": 1,
        "ref_logps": ref_logps,
    }
    base_run = train_reward_model(
        RMTrainConfig(output_dir=tmp_path / "base", pr_reference="base", **common), progress=False
    )  # type: ignore[arg-type]
    init_run = train_reward_model(
        RMTrainConfig(output_dir=tmp_path / "init", pr_reference="init", **common), progress=False
    )  # type: ignore[arg-type]
    assert init_run.history[0]["margin_mean"] == pytest.approx(0.0, abs=1e-5)  # pi_ref = the SFT model itself

    # by hand: pi_base = the fixture backbone; pi_sft = the weights saved right after SFT init (step 0)
    state = torch.load(tmp_path / "base" / CHECKPOINTS / "step-0000000" / "state.pt", weights_only=False)
    sft_model = load_backbone(tiny_llama, seed=0)
    params = dict(sft_model.named_parameters())
    with torch.no_grad():
        for name, value in state["trainable"].items():
            params[name].copy_(value)
    base_lm = load_backbone(tiny_llama, seed=0).causal_lm.eval()
    from datasets import load_from_disk

    rows = load_from_disk(str(pref_export))["train"]
    pairs = encode_preference_rows(rows, sft_model.tokenizer, 96, "d")
    margins = []
    for p in pairs:
        sc = _hand_logps(sft_model.causal_lm.eval(), p.chosen_ids, p.chosen_start)[0]
        sr = _hand_logps(sft_model.causal_lm, p.rejected_ids, p.rejected_start)[0]
        bc = _hand_logps(base_lm, p.chosen_ids, p.chosen_start)[0]
        br = _hand_logps(base_lm, p.rejected_ids, p.rejected_start)[0]
        margins.append(0.1 * ((sc - bc) - (sr - br)))  # eq. 8 with the default beta 0.1
    expected = sum(margins) / len(margins)
    assert abs(expected) > 1e-2  # SFT on the chosen replies moved the margin away from 0
    assert base_run.history[0]["margin_mean"] == pytest.approx(expected, rel=1e-3)
    if ref_logps == "precompute":  # the stored reference is the pre-SFT backbone
        ref = torch.load(tmp_path / "base" / CHECKPOINTS / "step-0000000" / "ref_logps.pt")
        bc0 = _hand_logps(base_lm, pairs[0].chosen_ids, pairs[0].chosen_start)[0]
        assert ref[0, 0].item() == pytest.approx(bc0, rel=1e-4)

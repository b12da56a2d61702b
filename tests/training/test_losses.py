"""Losses and margins checked against numbers computed by hand from given rewards and log-probs."""

from __future__ import annotations

import math

import pytest
import torch

from training.losses import bradley_terry_loss, ld_margin, pairwise_accuracy, pr_margin, sft_loss


def _nls(z: float) -> float:
    """-log(sigmoid(z)) by hand."""
    return math.log(1.0 + math.exp(-z))


def test_bt_loss_matches_hand_computation() -> None:
    rc = torch.tensor([2.0, 0.5, -1.0])
    rr = torch.tensor([1.0, 1.5, -3.0])
    expected = (_nls(1.0) + _nls(-1.0) + _nls(2.0)) / 3
    assert bradley_terry_loss(rc, rr).item() == pytest.approx(expected, rel=1e-6)


def test_bt_loss_with_margin_tensor_and_scalar() -> None:
    rc = torch.tensor([2.0, 0.5])
    rr = torch.tensor([1.0, 1.5])
    m = torch.tensor([0.5, -0.25])
    expected = (_nls(1.0 - 0.5) + _nls(-1.0 + 0.25)) / 2
    assert bradley_terry_loss(rc, rr, m).item() == pytest.approx(expected, rel=1e-6)
    expected_scalar = (_nls(1.0 - 0.3) + _nls(-1.0 - 0.3)) / 2
    assert bradley_terry_loss(rc, rr, 0.3).item() == pytest.approx(expected_scalar, rel=1e-6)


def test_pr_margin_matches_hand_computation() -> None:
    pc = torch.tensor([-10.0, -20.0])
    pr = torch.tensor([-12.0, -18.0])
    rfc = torch.tensor([-11.0, -19.0])
    rfr = torch.tensor([-11.5, -19.5])
    beta = 0.1
    # pair 0: (-10 - -11) - (-12 - -11.5) = 1 - (-0.5) = 1.5 -> 0.15
    # pair 1: (-20 - -19) - (-18 - -19.5) = -1 - 1.5 = -2.5 -> -0.25
    m = pr_margin(pc, pr, rfc, rfr, beta)
    assert m.tolist() == pytest.approx([0.15, -0.25], rel=1e-6)


def test_ld_margin_normalises_each_sum_by_its_own_length() -> None:
    pc = torch.tensor([-6.0, -10.0])
    pr = torch.tensor([-12.0, -4.0])
    lc = torch.tensor([3, 5])
    lr = torch.tensor([4, 1])
    beta = 2.0
    # pair 0: -6/3 - -12/4 = -2 + 3 = 1 -> 2.0 ; pair 1: -10/5 - -4/1 = -2 + 4 = 2 -> 4.0
    m = ld_margin(pc, pr, lc, lr, beta)
    assert m.tolist() == pytest.approx([2.0, 4.0], rel=1e-6)
    # an un-normalised difference would give 2*(-6+12)=12 for pair 0: normalisation matters
    assert m[0].item() != pytest.approx(12.0)


def test_ld_margin_equals_sft_loss_difference() -> None:
    """Eq. 10: beta * (L_SFT(y_l) - L_SFT(y_w)) with per-token SFT losses."""
    pc, pr = torch.tensor([-7.0]), torch.tensor([-9.0])
    lc, lr = torch.tensor([7]), torch.tensor([3])
    m = ld_margin(pc, pr, lc, lr, beta=1.0)
    assert m.item() == pytest.approx(sft_loss(pr, lr).item() - sft_loss(pc, lc).item(), rel=1e-6)


def test_sft_loss_is_token_mean_nll() -> None:
    logps = torch.tensor([-6.0, -2.0])
    lengths = torch.tensor([3, 1])
    assert sft_loss(logps, lengths).item() == pytest.approx(8.0 / 4.0)
    assert sft_loss(logps, lengths, "mean").item() == pytest.approx(8.0 / 4.0)


def test_sft_loss_sum_is_the_papers_summed_nll_per_pair() -> None:
    # L_SFT(y) = -sum_i log pi(y^i): pair 0 -> 6, pair 1 -> 2; mean over the 2 pairs = 4 (not 8/4 tokens)
    logps = torch.tensor([-6.0, -2.0])
    lengths = torch.tensor([3, 1])
    assert sft_loss(logps, lengths, "sum").item() == pytest.approx(4.0)
    with pytest.raises(ValueError, match="reduction 'avg'"):
        sft_loss(logps, lengths, "avg")


def test_sft_loss_sum_from_logits_by_hand() -> None:
    """Two responses over a 3-token vocabulary; log-softmax written out with math.log/exp."""
    logits = [[[2.0, 0.0, -1.0], [0.5, 0.5, 1.0]], [[-1.0, 3.0, 0.0], [0.0, 0.0, 0.0]]]
    targets = [[0, 2], [1, 2]]
    lengths = [2, 1]  # the second response has one token: its padded second position is ignored

    def logp(row: list[float], k: int) -> float:
        return row[k] - math.log(sum(math.exp(v) for v in row))

    nll = [-sum(logp(logits[b][t], targets[b][t]) for t in range(lengths[b])) for b in range(2)]
    # pair 0: -(2 - log(e^2 + 1 + e^-1)) - (1 - log(2 e^0.5 + e)); pair 1: -(3 - log(e^-1 + e^3 + 1))
    lp = torch.log_softmax(torch.tensor(logits), dim=-1).gather(-1, torch.tensor(targets).unsqueeze(-1)).squeeze(-1)
    mask = torch.tensor([[1.0, 1.0], [1.0, 0.0]])
    seq_logps = (lp * mask).sum(-1)
    got = sft_loss(seq_logps, torch.tensor(lengths), "sum").item()
    assert got == pytest.approx((nll[0] + nll[1]) / 2, rel=1e-6)
    assert sft_loss(seq_logps, torch.tensor(lengths), "mean").item() == pytest.approx((nll[0] + nll[1]) / 3, rel=1e-6)


@pytest.mark.parametrize("kind", ["pr", "ld"])
@pytest.mark.parametrize("margin_grad", [False, True])
def test_margin_gradients_detached_by_default(kind: str, margin_grad: bool) -> None:
    pc = torch.tensor([-6.0, -10.0], requires_grad=True)
    pr = torch.tensor([-12.0, -4.0], requires_grad=True)
    rc = torch.tensor([0.3, -0.2], requires_grad=True)
    rr = torch.tensor([0.1, 0.4], requires_grad=True)
    if kind == "pr":
        m = pr_margin(pc, pr, torch.tensor([-7.0, -9.0]), torch.tensor([-11.0, -5.0]), 0.5, detach=not margin_grad)
    else:
        m = ld_margin(pc, pr, torch.tensor([3, 5]), torch.tensor([4, 1]), 0.5, detach=not margin_grad)
    bradley_terry_loss(rc, rr, m).backward()
    # the reward path always gets gradients
    assert rc.grad is not None and rc.grad.abs().sum() > 0
    if margin_grad:
        assert pc.grad is not None and pc.grad.abs().sum() > 0
        assert pr.grad is not None and pr.grad.abs().sum() > 0
        # d loss / d M = sigma(-(dr - M)) > 0 per pair; d M / d pc = beta (pr) or beta/|y_w| (ld)
        z = (rc - rr - m).detach()
        dl_dm = torch.sigmoid(-z) / 2
        scale = torch.tensor([0.5, 0.5]) if kind == "pr" else torch.tensor([0.5 / 3, 0.5 / 5])
        assert pc.grad.tolist() == pytest.approx((dl_dm * scale).tolist(), rel=1e-5)
    else:
        assert pc.grad is None or torch.all(pc.grad == 0)
        assert pr.grad is None or torch.all(pr.grad == 0)


def test_bt_gradient_matches_hand_derivative() -> None:
    rc = torch.tensor([1.0], requires_grad=True)
    rr = torch.tensor([0.0], requires_grad=True)
    bradley_terry_loss(rc, rr, torch.tensor([0.5])).backward()
    # d/d rc of -log sigma(rc - rr - m) = -(1 - sigma(0.5))
    assert rc.grad.item() == pytest.approx(-(1 - 1 / (1 + math.exp(-0.5))), rel=1e-6)
    assert rr.grad.item() == pytest.approx(1 - 1 / (1 + math.exp(-0.5)), rel=1e-6)


def test_pairwise_accuracy_counts_strict_wins() -> None:
    acc = pairwise_accuracy(torch.tensor([1.0, 0.0, 2.0, 3.0]), torch.tensor([0.0, 0.0, 3.0, 1.0]))
    assert acc.item() == pytest.approx(0.5)

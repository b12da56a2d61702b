"""Losses and margins checked against numbers computed by hand: from given rewards and log-probs, and
from hand-written logits with the paper's equations in Python float64 (never from the code under test)."""

from __future__ import annotations

import math

import pytest
import torch

from training.rm.losses import (
    SFT_INIT_REDUCTION,
    bradley_terry_loss,
    ld_margin,
    pairwise_accuracy,
    pr_margin,
    sft_loss,
)


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


# Two preference pairs over a 4-token vocabulary, written out by hand: per response, the logits of the
# positions that predict its tokens and the tokens themselves. The responses differ in length
# (chosen 3 and 2 tokens, rejected 2 and 4), so eq. 9 and eq. 10 give different margins.
POLICY = {
    ("w", 0): ([[2.0, 0.5, -1.0, 0.0], [0.1, 0.2, 0.3, 0.4], [-2.0, 1.0, 1.5, 0.0]], [0, 3, 2]),
    ("l", 0): ([[0.0, 0.0, 3.0, -1.0], [1.0, -1.0, 0.5, 0.5]], [1, 0]),
    ("w", 1): ([[0.3, -0.7, 1.1, 2.2], [1.0, 1.0, 1.0, -3.0]], [3, 1]),
    ("l", 1): (
        [[0.0, 2.0, 0.0, 0.0], [1.5, -0.5, 0.25, 0.0], [-1.0, -1.0, 2.5, 0.5], [0.2, 0.9, -0.4, 1.3]],
        [2, 2, 0, 1],
    ),
}
# the frozen reference model's logits for the same tokens (AAM-PR)
REFERENCE = {
    ("w", 0): [[1.0, 0.0, 0.0, 0.0], [0.0, 0.5, 0.0, 0.5], [0.0, 0.0, 1.0, 0.0]],
    ("l", 0): [[0.5, 0.5, 0.5, 0.5], [2.0, 0.0, 0.0, 0.0]],
    ("w", 1): [[0.0, 0.0, 0.0, 1.0], [0.0, 3.0, 0.0, 0.0]],
    ("l", 1): [[0.0, 1.0, 0.0, 0.0], [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0], [0.0, 0.0, 0.0, 2.0]],
}
REWARDS = {"w": [0.7, -0.2], "l": [0.1, 0.4]}


def _hand_logp(row: list[float], k: int) -> float:
    """log softmax(row)[k] = row[k] - log sum_j exp(row[j]), in Python floats (float64)."""
    return row[k] - math.log(sum(math.exp(v) for v in row))


def _hand_sum(logits: list[list[float]], targets: list[int]) -> float:
    """S(y) = sum_i log pi(y^i | x, y^<i)."""
    return sum(_hand_logp(row, k) for row, k in zip(logits, targets, strict=True))


def _torch_logps(table: dict, side: str, reference: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-sequence log-prob sums and lengths of both pairs of ``side`` as the trainer feeds them:
    torch log_softmax in float64, gathered at the targets, summed over the response."""
    sums, lengths = [], []
    for pair in (0, 1):
        logits = table[(side, pair)] if reference else table[(side, pair)][0]
        targets = POLICY[(side, pair)][1]
        lp = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), dim=-1)
        sums.append(lp.gather(-1, torch.tensor(targets).unsqueeze(-1)).sum())
        lengths.append(len(targets))
    return torch.stack(sums), torch.tensor(lengths)


def _hand() -> dict[str, list[float]]:
    """S, |y| and the reference sums R per pair and side, from the equations' ingredients only."""
    h: dict[str, list[float]] = {}
    for side in ("w", "l"):
        h[f"S_{side}"] = [_hand_sum(*POLICY[(side, i)]) for i in (0, 1)]
        h[f"n_{side}"] = [len(POLICY[(side, i)][1]) for i in (0, 1)]
        h[f"R_{side}"] = [_hand_sum(REFERENCE[(side, i)], POLICY[(side, i)][1]) for i in (0, 1)]
    return h


def _bt_with_margin(margins: list[float]) -> float:
    """Eq. 7: -1/B sum log sigma(r_w - r_l - M), with log sigma(z) = -log(1 + e^-z)."""
    z = [rw - rl - m for rw, rl, m in zip(REWARDS["w"], REWARDS["l"], margins, strict=True)]
    return sum(math.log(1.0 + math.exp(-zi)) for zi in z) / len(z)


def test_ld_margin_eq9_and_eq10_from_hand_logits_in_float64() -> None:
    h, beta = _hand(), 0.5
    pc, lc = _torch_logps(POLICY, "w")
    pr, lr = _torch_logps(POLICY, "l")
    # eq. 9: beta/|y| (S(y_w) - S(y_l)), each sum over its own length
    eq9 = [beta * (h["S_w"][i] / h["n_w"][i] - h["S_l"][i] / h["n_l"][i]) for i in (0, 1)]
    assert ld_margin(pc, pr, lc, lr, beta).tolist() == pytest.approx(eq9, rel=1e-12)
    assert ld_margin(pc, pr, lc, lr, beta, reduction="mean").tolist() == pytest.approx(eq9, rel=1e-12)
    # eq. 10 as printed, L_SFT(y) = -S(y) a sum: M = L_SFT(y_l) - L_SFT(y_w) (beta = 1)
    eq10 = [(-h["S_l"][i]) - (-h["S_w"][i]) for i in (0, 1)]
    assert ld_margin(pc, pr, lc, lr, 1.0, reduction="sum").tolist() == pytest.approx(eq10, rel=1e-12)
    # the two equations disagree when the lengths differ: the reduction is a real choice
    assert abs(eq10[0] - eq9[0] / beta) > 0.1 and abs(eq10[1] - eq9[1] / beta) > 0.1
    # eq. 10 with per-token mean SFT losses is eq. 9 (beta = 1)
    per_token = [(-h["S_l"][i] / h["n_l"][i]) - (-h["S_w"][i] / h["n_w"][i]) for i in (0, 1)]
    assert ld_margin(pc, pr, lc, lr, 1.0).tolist() == pytest.approx(per_token, rel=1e-12)
    with pytest.raises(ValueError, match="ld_margin reduction 'token'"):
        ld_margin(pc, pr, lc, lr, 1.0, reduction="token")


def test_pr_margin_eq8_and_bt_loss_eq7_from_hand_logits_in_float64() -> None:
    h, beta = _hand(), 0.1
    pc, _ = _torch_logps(POLICY, "w")
    pr, _ = _torch_logps(POLICY, "l")
    rfc, _ = _torch_logps(REFERENCE, "w", reference=True)
    rfr, _ = _torch_logps(REFERENCE, "l", reference=True)
    eq8 = [beta * ((h["S_w"][i] - h["R_w"][i]) - (h["S_l"][i] - h["R_l"][i])) for i in (0, 1)]
    m = pr_margin(pc, pr, rfc, rfr, beta)
    assert m.tolist() == pytest.approx(eq8, rel=1e-12)
    rw = torch.tensor(REWARDS["w"], dtype=torch.float64)
    rl = torch.tensor(REWARDS["l"], dtype=torch.float64)
    assert bradley_terry_loss(rw, rl, m).item() == pytest.approx(_bt_with_margin(eq8), rel=1e-12)
    assert bradley_terry_loss(rw, rl).item() == pytest.approx(_bt_with_margin([0.0, 0.0]), rel=1e-12)


def test_sft_terms_from_hand_logits_in_float64() -> None:
    h = _hand()
    pc, lc = _torch_logps(POLICY, "w")
    # the regulariser: the paper's L_SFT(y_w) = -S(y_w), averaged over the two pairs
    l_sft = [-h["S_w"][i] for i in (0, 1)]
    assert sft_loss(pc, lc, "sum").item() == pytest.approx(sum(l_sft) / 2, rel=1e-12)
    # SFT pre-training (and --sft-reduction mean): the per-token mean over all response tokens
    token_mean = sum(l_sft) / sum(h["n_w"])
    assert sft_loss(pc, lc, SFT_INIT_REDUCTION).item() == pytest.approx(token_mean, rel=1e-12)
    assert sft_loss(pc, lc, "mean").item() == pytest.approx(token_mean, rel=1e-12)
    # the whole AAM-LD + Reg. loss, eq. 7 with the eq. 9 margin plus alpha * L_SFT
    eq9 = [h["S_w"][i] / h["n_w"][i] - h["S_l"][i] / h["n_l"][i] for i in (0, 1)]
    pr, lr = _torch_logps(POLICY, "l")
    rw = torch.tensor(REWARDS["w"], dtype=torch.float64)
    rl = torch.tensor(REWARDS["l"], dtype=torch.float64)
    total = bradley_terry_loss(rw, rl, ld_margin(pc, pr, lc, lr, 1.0)) + 0.01 * sft_loss(pc, lc, "sum")
    assert total.item() == pytest.approx(_bt_with_margin(eq9) + 0.01 * sum(l_sft) / 2, rel=1e-12)


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


def test_bradley_terry_weights_take_a_weighted_mean() -> None:
    rc, rr = torch.tensor([1.0, 0.0, 2.0]), torch.tensor([0.0, 1.0, 2.0])
    w = torch.tensor([0.5, 0.25, 0.0])
    per_pair = [math.log1p(math.exp(-d)) for d in (1.0, -1.0, 0.0)]  # -log sigmoid(d)
    expected = (0.5 * per_pair[0] + 0.25 * per_pair[1]) / 0.75
    assert bradley_terry_loss(rc, rr, weights=w).item() == pytest.approx(expected, rel=1e-6)
    assert bradley_terry_loss(rc, rr, weights=torch.ones(3)).item() == pytest.approx(sum(per_pair) / 3, rel=1e-6)

"""Reward-model losses and margins from the AAM paper, as small pure tensor functions.

Every function takes per-pair tensors of shape ``(batch,)`` and returns a tensor; nothing here
touches a model. Log-probabilities are per-sequence sums over the response tokens,
``S(y) = sum_i log pi_theta(y^i | x, y^<i)``; ``L_SFT(y) = -S(y)`` (paper section 4.3). Margins are
detached by default. Which equation each reduction follows, and why: docs/design.md#reward-model-losses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "LD_REDUCTIONS",
    "SFT_INIT_REDUCTION",
    "SFT_REDUCTIONS",
    "bradley_terry_loss",
    "ld_margin",
    "pairwise_accuracy",
    "pr_margin",
    "sft_loss",
]

SFT_REDUCTIONS: tuple[str, ...] = ("sum", "mean")
LD_REDUCTIONS: tuple[str, ...] = ("mean", "sum")
SFT_INIT_REDUCTION = "mean"  # SFT pre-training: per-token mean NLL (the paper gives no formula)


def bradley_terry_loss(
    r_chosen: Tensor, r_rejected: Tensor, margin: Tensor | float | None = None, weights: Tensor | None = None
) -> Tensor:
    """Bradley-Terry reward loss, optionally with a margin (paper eq. 2 and eq. 7).

    ``L = -mean log sigma(r(x, y_w) - r(x, y_l) - M)``

    With ``margin=None`` this is the plain BT loss (eq. 2). ``margin`` may be a fixed external
    margin (GPT-Margin, annotator agreement; a data column) or an act-adaptive margin from
    :func:`pr_margin` (eq. 8) / :func:`ld_margin` (eq. 9/10). Returns the mean over the batch, or with
    ``weights`` (one per pair, e.g. the label confidence of ``--pair-weight confidence``) the weighted
    mean ``sum(w * l) / sum(w)``. The margin is used as given: detach it first if it should not receive
    gradients.
    """
    diff = r_chosen - r_rejected
    if margin is not None:
        diff = diff - margin
    losses = -F.logsigmoid(diff)
    if weights is None:
        return losses.mean()
    return (losses * weights).sum() / weights.sum().clamp_min(1e-12)


def pr_margin(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    ref_chosen_logps: Tensor,
    ref_rejected_logps: Tensor,
    beta: float,
    *,
    detach: bool = True,
) -> Tensor:
    """Probability-Ratio adaptive margin (AAM-PR, paper eq. 6 and eq. 8), scaled by beta.

    ``M = beta (log pi_theta/pi_ref (y_w|x) - log pi_theta/pi_ref (y_l|x))``

    ``pi_theta`` is the reward model's own LM head, ``pi_ref`` a frozen copy of the initial model.
    All log-probs are per-sequence sums over response tokens. The reference log-probs never carry
    gradients; the policy ones are detached unless ``detach=False``.
    """
    margin = beta * (
        (policy_chosen_logps - ref_chosen_logps.detach()) - (policy_rejected_logps - ref_rejected_logps.detach())
    )
    return margin.detach() if detach else margin


def ld_margin(
    policy_chosen_logps: Tensor,
    policy_rejected_logps: Tensor,
    chosen_lengths: Tensor,
    rejected_lengths: Tensor,
    beta: float,
    *,
    detach: bool = True,
    reduction: str = "mean",
) -> Tensor:
    """Loss-Difference adaptive margin (AAM-LD, paper eq. 9 / eq. 10), scaled by beta; detached
    unless ``detach=False``. Lengths are clamped to at least one token; see
    docs/design.md#reward-model-losses.

    ``reduction="mean"`` (eq. 9): ``M = beta (S(y_w)/|y_w| - S(y_l)/|y_l|)``
    ``reduction="sum"``  (eq. 10 with a summed L_SFT): ``M = beta (S(y_w) - S(y_l))``
    """
    if reduction == "mean":
        chosen = policy_chosen_logps / chosen_lengths.clamp(min=1).to(policy_chosen_logps.dtype)
        rejected = policy_rejected_logps / rejected_lengths.clamp(min=1).to(policy_rejected_logps.dtype)
    elif reduction == "sum":
        chosen, rejected = policy_chosen_logps, policy_rejected_logps
    else:
        raise ValueError(f"ld_margin reduction {reduction!r}: choose one of {', '.join(LD_REDUCTIONS)}")
    margin = beta * (chosen - rejected)
    return margin.detach() if detach else margin


def sft_loss(chosen_logps: Tensor, chosen_lengths: Tensor, reduction: str = "mean") -> Tensor:
    """SFT (negative log-likelihood) loss on the chosen responses.

    ``reduction="sum"`` is the paper's ``L_SFT`` (section 4.3; the regulariser of Table 3), the
    summed NLL of each response averaged over the pairs of the batch:
    ``L_SFT = -1/B sum_pairs sum_i log pi_theta(y_w^i | x, y_w^<i)``

    ``reduction="mean"`` is the per-token mean over all response tokens of the batch,
    ``-sum_pairs sum_i log pi / sum_pairs |y_w|`` (used for SFT initialisation).
    """
    if reduction == "sum":
        return -chosen_logps.mean()
    if reduction == "mean":
        return -chosen_logps.sum() / chosen_lengths.sum().clamp(min=1).to(chosen_logps.dtype)
    raise ValueError(f"sft_loss reduction {reduction!r}: choose one of {', '.join(SFT_REDUCTIONS)}")


@torch.no_grad()
def pairwise_accuracy(r_chosen: Tensor, r_rejected: Tensor) -> Tensor:
    """Fraction of pairs whose chosen reward is strictly higher than the rejected one."""
    return (r_chosen > r_rejected).float().mean()

"""Reward-model losses and margins from the AAM paper, as small pure tensor functions.

Every function takes per-pair tensors of shape ``(batch,)`` and returns a tensor; nothing here
touches a model. Log-probabilities are *per-sequence sums over the response tokens* (prompt tokens
are masked out upstream), so ``policy_chosen_logps[i] = sum_t log pi_theta(y_w^t | x, y_w^<t)``.

Choices the paper leaves open and what we chose (see also ``training/rm/trainer.py``):

* **Margins are detached by default** (``detach=True``): the margin is a per-pair *target gap*
  for the reward difference, not something the loss should optimise. Back-propagating through
  ``-log sigma(dr - M)`` pushes ``M`` *down*, i.e. it teaches the LM head to prefer the rejected
  answer relative to the reference, which is the opposite of what we want. ``detach=False``
  (CLI ``--margin-grad``) keeps the gradient for experiments.
* **LD length normalisation**: eq. 9 writes one ``1/|y|`` for both responses; chosen and rejected
  generally differ in length, so each sum is normalised by *its own* response length (SimPO-style
  average log-likelihood, and the reading under which eq. 10 is a difference of per-token SFT
  losses).
* **SFT regulariser**: the paper's ``alpha * L_SFT`` (alpha = 0.01) on the chosen response. The paper
  defines ``L_SFT = -sum_i log pi(y^i | x, y^<i)``, a *sum* over response tokens (``reduction="sum"``:
  per-pair sum, mean over the pairs of the batch, the default of ``charm-train rm``). The per-token
  mean (``reduction="mean"``) is the usual SFT normalisation and makes alpha about ``|y|`` times
  weaker; it is what SFT initialisation uses.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = ["SFT_REDUCTIONS", "bradley_terry_loss", "ld_margin", "pairwise_accuracy", "pr_margin", "sft_loss"]

SFT_REDUCTIONS: tuple[str, ...] = ("sum", "mean")


def bradley_terry_loss(r_chosen: Tensor, r_rejected: Tensor, margin: Tensor | float | None = None) -> Tensor:
    """Bradley-Terry reward loss, optionally with a margin (paper eq. 2 and eq. 7).

    .. math::
        \\mathcal{L} = -\\mathbb{E}\\left[\\log \\sigma\\left(r_\\phi(x, y_w) - r_\\phi(x, y_l) - \\mathcal{M}\\right)\\right]

    With ``margin=None`` this is the plain BT loss (eq. 2). ``margin`` may be a fixed external
    margin (GPT-Margin, annotator agreement; a data column) or an act-adaptive margin from
    :func:`pr_margin` (eq. 8) / :func:`ld_margin` (eq. 9/10). Returns the mean over the batch.
    The margin is used as given: detach it first if it should not receive gradients.
    """
    diff = r_chosen - r_rejected
    if margin is not None:
        diff = diff - margin
    return -F.logsigmoid(diff).mean()


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

    .. math::
        \\mathcal{M} = \\beta\\left(\\log\\frac{\\pi_\\theta(y_w|x)}{\\pi_{ref}(y_w|x)}
                      - \\log\\frac{\\pi_\\theta(y_l|x)}{\\pi_{ref}(y_l|x)}\\right)

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
) -> Tensor:
    """Loss-Difference adaptive margin (AAM-LD, paper eq. 9, equivalently eq. 10), scaled by beta.

    .. math::
        \\mathcal{M} = \\beta\\left(\\frac{1}{|y_w|}\\sum_i \\log\\pi_\\theta(y_w^i|x, y_w^{<i})
                      - \\frac{1}{|y_l|}\\sum_i \\log\\pi_\\theta(y_l^i|x, y_l^{<i})\\right)
                    = \\beta\\left(\\mathcal{L}_{SFT}(y_l) - \\mathcal{L}_{SFT}(y_w)\\right)

    with per-token SFT losses. Each sum is normalised by its own response length (clamped to at
    least one token). Detached unless ``detach=False``.
    """
    chosen_avg = policy_chosen_logps / chosen_lengths.clamp(min=1).to(policy_chosen_logps.dtype)
    rejected_avg = policy_rejected_logps / rejected_lengths.clamp(min=1).to(policy_rejected_logps.dtype)
    margin = beta * (chosen_avg - rejected_avg)
    return margin.detach() if detach else margin


def sft_loss(chosen_logps: Tensor, chosen_lengths: Tensor, reduction: str = "mean") -> Tensor:
    """SFT (negative log-likelihood) loss on the chosen responses.

    ``reduction="sum"`` is the paper's definition (eq. 10 and the regulariser of Table 3), the
    summed NLL of each response averaged over the pairs of the batch:

    .. math::
        \\mathcal{L}_{SFT} = -\\frac{1}{B}\\sum_{pairs}\\sum_i \\log\\pi_\\theta(y_w^i|x, y_w^{<i})

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

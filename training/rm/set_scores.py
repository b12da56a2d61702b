"""Score the candidates of unannotated sets with a trained reward model: reward and response log-probs.

``score_run`` is the scorer ``charm-build annotate next`` passes to ``annotation.active`` for
``rm-uncertainty`` (rewards) and ``aam-margin`` (the LM head's response log-probs, from the same forward pass).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import torch

from training.rm.data import encode, pad_sequences
from training.rm.model import ActAdaptiveRewardModel, PromptLike, load_reward_model


def load_run(run: str | os.PathLike[str]) -> ActAdaptiveRewardModel:
    """The reward model of a ``charm-train rm`` output folder (``RewardModelError`` when it is not one), on
    the GPU when there is one."""
    return load_reward_model(run, device="cuda" if torch.cuda.is_available() else None)


@torch.no_grad()
def score_candidates(
    model: ActAdaptiveRewardModel,
    items: Sequence[tuple[PromptLike, str]],
    *,
    with_logps: bool = False,
    batch_size: int = 8,
    max_length: int = 1024,
) -> list[tuple[float, float, int]]:
    """``(reward, summed response log-prob, response tokens)`` per ``(prompt, response)`` item, encoded and
    truncated as in training; the log-prob is 0.0 and the length 0 unless ``with_logps``."""
    was_training = model.training
    model.eval()
    out: list[tuple[float, float, int]] = []
    try:
        for start in range(0, len(items), batch_size):
            seqs, starts = [], []
            for prompt, response in items[start : start + batch_size]:
                ids, s = encode(model.tokenizer, prompt, response, max_length)
                seqs.append(ids)
                starts.append(s)
            batch = pad_sequences(seqs, starts, model.pad_token_id)
            res = model(
                batch["input_ids"].to(model.device),
                batch["attention_mask"].to(model.device),
                response_mask=batch["response_mask"].to(model.device) if with_logps else None,
            )
            rewards = res.rewards.float().cpu().tolist()
            if with_logps and res.logps is not None and res.lengths is not None:
                logps, lengths = res.logps.float().cpu().tolist(), res.lengths.cpu().tolist()
            else:
                logps, lengths = [0.0] * len(rewards), [0] * len(rewards)
            out.extend(zip(rewards, logps, (int(n) for n in lengths), strict=True))
    finally:
        model.train(was_training)
    return out


def score_run(
    run: str | os.PathLike[str], items: Sequence[tuple[PromptLike, str]], *, with_logps: bool = False
) -> list[tuple[float, float, int]]:
    """``score_candidates`` with the reward model of run folder ``run`` (``RewardModelError``, a ``ValueError``,
    when it is not one)."""
    return score_candidates(load_run(run), items, with_logps=with_logps)

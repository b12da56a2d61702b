"""The GRPO reward: our reward model (value head on a causal LM) as a TRL reward callable.

TRL's ``GRPOTrainer`` only runs *sequence-classification* models as reward models itself; any other
scorer is passed as a callable ``f(prompts, completions, **kwargs) -> list[float]``. :class:`RMReward`
is that callable: it scores ``(character prompt + context, completion)`` with
:meth:`ActAdaptiveRewardModel.score` in batches on the RM's device (the RM's own chat template is
applied, so policy and RM may use different tokenizers), and optionally subtracts a length penalty.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from training.rm.model import ActAdaptiveRewardModel

Messages = list[dict[str, str]]


def completion_text(completion: Any) -> str:
    """The text of a completion: a plain string or a conversational ``[{role, content}, ...]`` list."""
    if isinstance(completion, str):
        return completion
    if isinstance(completion, dict):
        return str(completion.get("content", ""))
    return "".join(str(m.get("content", "")) for m in completion if m.get("role", "assistant") == "assistant")


class RMReward:
    """Reward callable for TRL: ``rm(prompt, completion) - length_penalty * completion_tokens``.

    ``length_penalty`` is subtracted per completion token (token ids from TRL's ``completion_ids``
    when given, else the RM tokenizer's count). ``batch_size`` bounds one RM forward pass.
    ``last_raw`` keeps the RM scores of the latest call (before the penalty). Under TRL, the raw
    mean and the mean penalty are also logged as ``rm/raw_mean`` and ``rm/length_penalty``.
    """

    __name__ = "charm_rm"

    def __init__(
        self,
        model: ActAdaptiveRewardModel,
        batch_size: int = 8,
        max_length: int = 2048,
        length_penalty: float = 0.0,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        self.model = model.eval()
        for p in self.model.parameters():
            p.requires_grad_(False)
        self.batch_size = batch_size
        self.max_length = max_length
        self.length_penalty = length_penalty
        self.last_raw: list[float] = []

    def to(self, device: Any) -> RMReward:
        """Move the reward model (e.g. to the trainer's accelerator device)."""
        self.model.to(device)
        return self

    def score(self, prompts: Sequence[Any], completions: Sequence[Any]) -> list[float]:
        """Raw RM rewards of each ``(prompt, completion)`` pair (no penalty)."""
        items = []
        for prompt, completion in zip(prompts, completions, strict=True):
            text = completion_text(completion)
            response: Any = [{"role": "assistant", "content": text}] if not isinstance(prompt, str) else text
            items.append((prompt, response))
        return self.model.score(items, batch_size=self.batch_size, max_length=self.max_length)

    def __call__(
        self,
        prompts: Sequence[Any],
        completions: Sequence[Any],
        completion_ids: Sequence[Sequence[int]] | None = None,
        log_metric: Callable[[str, float], None] | None = None,
        **_: Any,
    ) -> list[float]:
        raw = self.score(prompts, completions)
        self.last_raw = raw
        penalties = [0.0] * len(raw)
        if self.length_penalty:
            if completion_ids is not None:
                lengths = [len(ids) for ids in completion_ids]
            else:
                tok = self.model.tokenizer
                lengths = [len(tok(completion_text(c), add_special_tokens=False)["input_ids"]) for c in completions]
            penalties = [self.length_penalty * n for n in lengths]
        if log_metric is not None and raw:
            log_metric("rm/raw_mean", sum(raw) / len(raw))
            log_metric("rm/length_penalty", sum(penalties) / len(penalties))
        return [r - p for r, p in zip(raw, penalties, strict=True)]

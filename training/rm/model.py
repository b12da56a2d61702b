"""A reward model that keeps its LM head: HF causal-LM backbone + scalar value head.

One forward pass of the decoder gives both

* the reward ``r(x, y)``: the value head applied to the hidden state of the last non-padding token
  (batches are right-padded), and
* the per-sequence sum of response-token log-probs ``log pi_theta(y | x)`` (prompt tokens masked):
  the LM head is applied only at response positions, which keeps the vocabulary projection cheap.

Saved layout (``save``): ``save_pretrained`` of the backbone + tokenizer, ``value_head.safetensors``
and ``charm_rm.json`` (written last; its presence marks a complete model). A LoRA backbone is merged
into the base weights before the final save, so a saved model always loads without peft.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import Tensor, nn

from training.rm.data import encode, pad_sequences

MARKER = "charm_rm.json"
HEAD_FILE = "value_head.safetensors"
FORMAT = "charm-rm"


class RewardModelError(ValueError):
    """A model folder cannot be loaded (missing, not a charm reward model, ...)."""


@dataclass
class RewardOutput:
    """``rewards`` ``(N,)``; ``logps`` / ``lengths`` ``(N,)`` response log-prob sums and token counts."""

    rewards: Tensor
    logps: Tensor | None = None
    lengths: Tensor | None = None


PromptLike = str | Sequence[dict[str, str]]
ScoreItem = str | tuple[PromptLike, str | dict[str, str] | Sequence[dict[str, str]]]


class ActAdaptiveRewardModel(nn.Module):
    """Causal LM + value head. ``lm`` may be a plain HF model or a peft ``PeftModel`` around one."""

    def __init__(self, lm: nn.Module, tokenizer: Any, value_head: nn.Linear | None = None) -> None:
        super().__init__()
        self.lm = lm
        self.tokenizer = tokenizer
        hidden = self.causal_lm.config.get_text_config().hidden_size
        if value_head is None:
            value_head = nn.Linear(hidden, 1)
            nn.init.normal_(value_head.weight, std=1.0 / (hidden + 1) ** 0.5)
            nn.init.zeros_(value_head.bias)
        self.value_head = value_head
        # FSDP's transformer auto-wrap shards per decoder layer of the backbone
        self._no_split_modules = getattr(self.causal_lm, "_no_split_modules", None)
        if tokenizer.pad_token_id is None:
            tokenizer.pad_token = tokenizer.eos_token

    # ------------------------------------------------------------------------------ structure
    @property
    def causal_lm(self) -> Any:
        """The HF causal LM (inside the peft wrapper when LoRA is on)."""
        return self.lm.get_base_model() if hasattr(self.lm, "get_base_model") else self.lm

    @property
    def is_peft(self) -> bool:
        return hasattr(self.lm, "get_base_model")

    @property
    def pad_token_id(self) -> int:
        return int(self.tokenizer.pad_token_id)

    @property
    def device(self) -> torch.device:
        return self.value_head.weight.device

    # -------------------------------------------------------------------------------- forward
    def forward(
        self,
        input_ids: Tensor,
        attention_mask: Tensor,
        response_mask: Tensor | None = None,
        need_rewards: bool = True,
        **_: Any,
    ) -> RewardOutput:
        """Rewards for every row; response log-prob sums too when ``response_mask`` is given."""
        lm = self.causal_lm
        hidden = lm.get_decoder()(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
        h = hidden.last_hidden_state if hasattr(hidden, "last_hidden_state") else hidden[0]
        n = input_ids.shape[0]
        rows = torch.arange(n, device=input_ids.device)
        if need_rewards:
            last = attention_mask.sum(dim=1) - 1
            h_last = h[rows, last]
            rewards = self.value_head(h_last.to(self.value_head.weight.dtype)).squeeze(-1)
        else:
            rewards = torch.zeros(n, device=input_ids.device)
        if response_mask is None:
            return RewardOutput(rewards.float())
        target_mask = response_mask[:, 1:].bool()
        h_resp = h[:, :-1][target_mask]  # hidden states that predict response tokens
        logits = lm.get_output_embeddings()(h_resp).float()
        cap = getattr(lm.config.get_text_config(), "final_logit_softcapping", None)
        if cap:
            logits = cap * torch.tanh(logits / cap)
        token_logps = -F.cross_entropy(logits, input_ids[:, 1:][target_mask], reduction="none")
        row_of = rows.unsqueeze(1).expand_as(target_mask)[target_mask]
        logps = torch.zeros(n, device=h.device, dtype=token_logps.dtype).index_add(0, row_of, token_logps)
        return RewardOutput(rewards.float(), logps, target_mask.sum(dim=1))

    # -------------------------------------------------------------------------------- scoring
    @torch.no_grad()
    def score(self, items: Sequence[ScoreItem], batch_size: int = 8, max_length: int = 2048) -> list[float]:
        """Reward for each item: a formatted text, or a ``(prompt, response)`` pair.

        ``prompt`` is a message list (chat template applied) or plain text; ``response`` is text or an
        assistant message. Over-long items are truncated as in training (prompt keeps its end).
        """
        was_training = self.training
        self.eval()
        out: list[float] = []
        try:
            for start in range(0, len(items), batch_size):
                seqs, starts = [], []
                for item in items[start : start + batch_size]:
                    if isinstance(item, str):
                        ids = self.tokenizer(item, add_special_tokens=True)["input_ids"][-max_length:]
                        seqs.append(ids)
                        starts.append(len(ids))
                    else:
                        prompt, response = item
                        ids, s = encode(self.tokenizer, prompt, response, max_length)
                        seqs.append(ids)
                        starts.append(s)
                batch = pad_sequences(seqs, starts, self.pad_token_id)
                res = self(batch["input_ids"].to(self.device), batch["attention_mask"].to(self.device))
                out.extend(res.rewards.float().cpu().tolist())
        finally:
            self.train(was_training)
        return out

    # ---------------------------------------------------------------------------------- saving
    def merge_lora(self) -> None:
        """Fold LoRA weights into the base model (no-op without LoRA)."""
        if self.is_peft:
            self.lm = self.lm.merge_and_unload()

    def save(
        self,
        directory: str | os.PathLike[str],
        metadata: dict[str, Any] | None = None,
        state_dict: dict[str, Tensor] | None = None,
    ) -> Path:
        """Write the model into ``directory`` (which may hold other files, e.g. checkpoints).

        Files are written to a temporary sibling folder first and then moved in one by one with
        ``os.replace``; ``charm_rm.json`` is removed first and moved in last, so an interrupted save
        never looks like a complete model. Merges LoRA first. ``state_dict``: this module's full
        weights gathered from a sharded (DeepSpeed ZeRO-3 / FSDP) run, whose own tensors are shards.
        """
        self.merge_lora()
        lm_state = head_state = None
        if state_dict is not None:
            lm_state = {k.removeprefix("lm."): v for k, v in state_dict.items() if k.startswith("lm.")}
            head_state = {
                k.removeprefix("value_head."): v for k, v in state_dict.items() if k.startswith("value_head.")
            }
        target = Path(directory)
        target.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".save-", dir=target))
        try:
            self.causal_lm.save_pretrained(tmp, state_dict=lm_state)
            self.tokenizer.save_pretrained(tmp)
            head = {
                k: v.detach().to("cpu", torch.float32).contiguous()
                for k, v in (head_state or self.value_head.state_dict()).items()
            }
            save_file(head, str(tmp / HEAD_FILE))
            meta = {"format": FORMAT, "version": 1, "hidden_size": int(self.value_head.in_features)}
            meta.update(metadata or {})
            (tmp / MARKER).write_text(json.dumps(meta, indent=2, default=str), encoding="utf-8")
            (target / MARKER).unlink(missing_ok=True)
            for f in sorted(tmp.iterdir()):
                if f.name != MARKER:
                    os.replace(f, target / f.name)
            os.replace(tmp / MARKER, target / MARKER)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        return target


def load_backbone(
    path: str | os.PathLike[str], dtype: torch.dtype = torch.float32, seed: int | None = None
) -> ActAdaptiveRewardModel:
    """Build a fresh reward model (new value head) on a HF causal-LM folder. Seeds the head init."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = Path(path)
    if not (p / "config.json").exists():
        raise RewardModelError(f"{p}: not a Hugging Face model folder (no config.json)")
    tokenizer = AutoTokenizer.from_pretrained(p)
    lm = AutoModelForCausalLM.from_pretrained(p, dtype=dtype)
    if seed is not None:
        torch.manual_seed(seed)
    return ActAdaptiveRewardModel(lm, tokenizer)


def load_reward_model(
    directory: str | os.PathLike[str],
    device: str | torch.device | None = None,
    dtype: torch.dtype = torch.float32,
) -> ActAdaptiveRewardModel:
    """Load a reward model written by :meth:`ActAdaptiveRewardModel.save` (in eval mode)."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    p = Path(directory)
    if not p.is_dir():
        raise RewardModelError(f"{p}: no such model folder")
    if not (p / MARKER).exists():
        raise RewardModelError(f"{p}: not a charm reward model (no {MARKER}); train one with `charm-train rm`")
    meta = json.loads((p / MARKER).read_text(encoding="utf-8"))
    if meta.get("format") != FORMAT:
        raise RewardModelError(f"{p / MARKER}: unknown format {meta.get('format')!r}")
    tokenizer = AutoTokenizer.from_pretrained(p)
    lm = AutoModelForCausalLM.from_pretrained(p, dtype=dtype)
    head_state = load_file(str(p / HEAD_FILE))
    head = nn.Linear(head_state["weight"].shape[1], 1)
    head.load_state_dict(head_state)
    model = ActAdaptiveRewardModel(lm, tokenizer, head)
    if device is not None:
        model.to(device)
    model.metadata = meta  # type: ignore[attr-defined]
    return model.eval()


def score(model: ActAdaptiveRewardModel, items: Sequence[ScoreItem], batch_size: int = 8) -> list[float]:
    """Functional form of :meth:`ActAdaptiveRewardModel.score`."""
    return model.score(items, batch_size=batch_size)

"""Train a reward model with BT, fixed-margin or Act-Adaptive-Margin (PR / LD) losses.

A plain accelerate loop: chosen and rejected go through one forward pass that yields rewards and
response log-probs; the loss is composed from :mod:`training.rm.losses`. Owns the training loop, the
reference log-probs and the run folder; the choices the paper leaves open (beta, detached margin,
pi_ref, reductions, several processes) are explained in docs/design.md#reward-model-trainer and
recorded per run by :mod:`training.rm.choices`.
"""

from __future__ import annotations

import copy
import json
import math
import random
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from torch import nn

from training.common.distributed import gather_metrics, pool_metrics
from training.common.precision import use_bf16
from training.rm.batching import epoch_batches
from training.rm.choices import open_choices
from training.rm.data import (
    DataError,
    EncodedPair,
    collate_pairs,
    encode_preference_rows,
    pad_sequences,
)
from training.rm.losses import SFT_INIT_REDUCTION, bradley_terry_loss, ld_margin, pairwise_accuracy, pr_margin, sft_loss
from training.rm.margin_sources import margin_column_for
from training.rm.mix import normalise_weights
from training.rm.model import MARKER, ActAdaptiveRewardModel, RewardModelError
from training.rm.model_card import write_model_card
from training.rm.presets import PRESETS
from training.rm.presets import resolve as resolve_preset

LossName = Literal["bt", "margin", "aam-pr", "aam-ld"]
# when RewardModelTrainer.train asks for pi_ref (see RewardModelTrainer._prepare_reference)
RefStage = Literal["before-sft", "fresh", "resumed", "prepared"]
LOSSES: tuple[str, ...] = ("bt", "margin", "aam-pr", "aam-ld")
PR_REFERENCES: tuple[str, ...] = ("base", "init")
DEFAULT_BETA: dict[str, float] = {"aam-pr": 0.1, "aam-ld": 1.0}
CHECKPOINTS = "checkpoints"
LOG_FILE = "train_log.jsonl"
PAIR_WEIGHT_COLUMN = "label_confidence"  # --pair-weight confidence: written by export --aggregate dawid-skene


class TrainingInputError(ValueError):
    """A user-caused problem (bad path, column, option); the message names it."""


class RMTrainConfig(BaseModel):
    """Everything a reward-model run needs. Each field's description is its ``charm-train rm`` option's
    help (training/rm/cli.py reads it; tests/training/common/test_config_options.py checks names and defaults),
    and its constraints are the option's validation."""

    model_config = ConfigDict(extra="forbid")

    data: list[Path] = Field(
        min_length=1,
        description="Preference pairs; repeat to mix sources. A preferenceTraining export (save_to_disk folder, "
        "split --split), a plain saved dataset, or parquet/jsonl in any TRL preference format: prompt + string "
        "chosen/rejected, or chosen/rejected message lists (whole conversations sharing their prompt, as "
        "Skywork-Reward-Preference-80K and UltraFeedback-binarized publish them; a missing `train` split falls "
        "back to `train_prefs`). E.g. -d exports/preferenceTraining -d skywork.parquet.",
    )
    mix: list[float] | None = Field(
        None,
        description="Weights of the --data sources, e.g. 0.5,0.5 (normalised; one per --data). The run keeps "
        "the total pairs of all sources and takes weight x total from each: a random subset (seed --seed) or, "
        "above its size, every row repeated plus a random rest. Default: every row of every source once.",
    )
    output_dir: Path = Field(description="Output folder (model, train_log.jsonl, checkpoints/).")
    model: str = Field("offline", description="Local HF causal-LM folder, or 'offline' (bundled SmolLM2-135M).")
    split: str = Field("train", description="Split of a save_to_disk export holding the training pairs.")
    loss: LossName = Field("bt", description=f"One of: {', '.join(LOSSES)}.")
    margin_column: str = Field(
        "margin",
        description="Data column holding the fixed margin for --loss margin (e.g. margin_agreement, margin_judge).",
    )
    margin_scale: float = Field(
        1.0,
        description="--loss margin: margin M = scale x the column's value in -log sigmoid(r(chosen) - r(rejected) - M). "
        "Columns are chosen minus rejected (margin_judge: judge score difference, -9..9), so positive means chosen "
        "preferred and the reward gap must exceed M; a negative value (the judge preferred rejected) lets a gap "
        "below 0 pass, pushing that pair less; 0 = plain BT. Example: --margin-scale 0.5.",
    )
    pair_weight: Literal["none", "confidence"] = Field(
        "none",
        description="Weight each pair's loss: none, or confidence = its label_confidence (the posterior "
        "probability of the label under the annotator-reliability model; export with --aggregate dawid-skene), "
        "so pairs the reliable annotators agree on count more. Missing values follow --missing-margin.",
    )
    missing_margin: Literal["error", "drop"] = Field(
        "error",
        description="--loss margin: pairs whose margin column is null/NaN (or data without the column). 'error' "
        "stops before training with their count, first ids and the command that fills them; 'drop' trains "
        "without them and says how many.",
    )
    beta: float | None = Field(
        None, description="Adaptive-margin scale; default " + ", ".join(f"{k} {v}" for k, v in DEFAULT_BETA.items())
    )
    margin_grad: bool = Field(
        False, description="Let gradients flow through the adaptive margin (detached by default)."
    )
    sft_reg: float = Field(0.0, ge=0, description="alpha: add alpha x SFT loss on chosen (paper: 0.01).")
    sft_reduction: Literal["sum", "mean"] = Field(
        "sum",
        description="SFT term of --sft-reg: 'sum' over response tokens (the paper's L_SFT) or per-token 'mean' "
        "(~|y| times weaker).",
    )
    ld_reduction: Literal["mean", "sum"] = Field(
        "mean",
        description="aam-ld margin: 'mean' = difference of per-token mean log-probs (eq. 9) or 'sum' = difference "
        "of summed log-probs (eq. 10 with L_SFT a sum).",
    )
    sft_init: bool = Field(False, description="First fine-tune the backbone on chosen responses.")
    sft_epochs: float = Field(1.0, description="Epochs of --sft-init.")
    sft_lr: float | None = Field(None, gt=0, description="Learning rate of --sft-init (default: --lr).")
    ref_logps: Literal["precompute", "online"] = Field(
        "precompute",
        description="aam-pr reference: 'precompute' (once, before training) or 'online' (frozen copy each step).",
    )
    pr_reference: Literal["base", "init"] = Field(
        "base",
        description="aam-pr pi_ref: 'base' (the backbone before --sft-init) or 'init' (the model at the start of "
        "RM training).",
    )
    epochs: float = Field(1.0, gt=0, description="Training epochs (paper: 2).")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    batch_size: int = Field(4, ge=1, description="Pairs per micro-batch (x2 sequences).")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    lr: float = Field(1e-5, gt=0, description="Learning rate (paper: 1e-5).")
    weight_decay: float = Field(0.0, ge=0, description="AdamW weight decay.")
    warmup_ratio: float = Field(0.03, ge=0, le=1, description="Share of the optimizer steps spent warming up the LR.")
    max_grad_norm: float = Field(1.0, gt=0, description="Clip the gradient norm to this.")
    max_length: int = Field(1024, ge=8, description="Max tokens per prompt+response (prompt keeps its end).")
    seed: int = Field(42, description="Seed for head init and data order.")
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto (bf16 on capable GPUs), bf16 or fp32.")
    lora_r: int = Field(0, description="LoRA rank; 0 = full fine-tuning.")
    lora_alpha: int = Field(16, description="LoRA alpha.")
    lora_dropout: float = Field(0.0, ge=0, lt=1, description="LoRA dropout.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass (less memory).")
    save_steps: int = Field(0, description="Checkpoint every N steps (0 = only the final model).")
    keep_checkpoints: int = Field(2, ge=1, description="Keep only the newest N checkpoints.")
    logging_steps: int = Field(10, description="Log every N steps.")
    resume: bool = Field(False, description="Continue from the latest checkpoint in --out.")
    limit: int | None = Field(None, description="Use only the first N pairs (of each --data source).")
    preset: str | None = Field(
        None,
        description="A paper configuration (Table 3 rows, GPT-Margin) or an ablation of one (one choice the paper "
        "leaves open flipped): " + ", ".join(PRESETS) + ". Flags given explicitly override its values.",
    )  # recorded with the run; training/rm/presets.py resolves it into the other fields

    @field_validator("data", mode="before")
    @classmethod
    def _one_or_more_sources(cls, value: Any) -> Any:
        return [value] if isinstance(value, (str, PathLike)) else value

    @field_validator("mix", mode="before")
    @classmethod
    def _parse_mix(cls, value: Any) -> Any:
        if isinstance(value, str):
            try:
                return [float(w) for w in value.split(",")]
            except ValueError:
                raise ValueError(f"expected comma-separated weights such as 0.5,0.5, got {value!r}") from None
        return value

    @model_validator(mode="after")
    def _mix_per_source(self) -> RMTrainConfig:
        if self.mix is not None:
            normalise_weights(self.mix, len(self.data))  # ValueError names --mix / --data
        return self

    @property
    def effective_beta(self) -> float:
        return self.beta if self.beta is not None else DEFAULT_BETA.get(self.loss, 0.0)

    @property
    def needs_logps(self) -> bool:
        return self.loss in ("aam-pr", "aam-ld") or self.sft_reg > 0

    def resolved(self) -> dict[str, Any]:
        """Every setting of the run with the defaults filled in (beta, sft_lr), as JSON values."""
        return self.model_dump(mode="json") | {"beta": self.effective_beta, "sft_lr": self.sft_lr or self.lr}

    @classmethod
    def from_preset(cls, name: str | None = None, **explicit: Any) -> RMTrainConfig:
        """The config of preset ``name`` (None: no preset) with the ``explicit`` values on top: an explicit
        value always wins over the preset's, the preset's over the field's default.

        ``explicit`` takes every field (``data`` and ``output_dir`` are required) plus ``margin_source``
        (agreement, bws, judge or posterior; :mod:`training.rm.margin_sources`), which sets
        ``margin_column`` and needs ``loss="margin"``; a preset's margin source gives way to an explicit
        ``margin_column``. ValueError names the option (unknown preset or margin source, a margin source
        without --loss margin); pydantic's ValidationError (a ValueError too) a field's rule."""
        values = resolve_preset(name, explicit, set(explicit))
        source = values.pop("margin_source", None)
        if source is not None:
            loss = values.get("loss", cls.model_fields["loss"].default)
            if loss != "margin":
                raise ValueError(f"--margin-source needs --loss margin (got --loss {loss})")
            values["margin_column"] = margin_column_for(source)
        return cls(**values)


@dataclass
class TrainResult:
    output_dir: Path
    steps: int
    history: list[dict[str, float]] = field(default_factory=list)


# ------------------------------------------------------------------------------------- helpers


def resolve_model_path(model: str) -> Path:
    """``--model``: ``offline`` or a local Hugging Face model folder (``TrainingInputError`` otherwise)."""
    from charm_builder.offline_models import resolve_model_folder

    return resolve_model_folder(model, "--model", TrainingInputError)


def validate_config(cfg: RMTrainConfig) -> None:
    """Checks that need the file system (range and choice rules are RMTrainConfig's); raises
    TrainingInputError naming the option."""
    out = cfg.output_dir
    if out.exists() and not out.is_dir():
        raise TrainingInputError(f"--out {out}: exists and is not a folder")
    if cfg.resume:
        if latest_checkpoint(out) is None:
            raise TrainingInputError(f"--resume: no checkpoint under {out / CHECKPOINTS}")
    elif out.exists() and any(out.iterdir()):
        raise TrainingInputError(f"--out {out}: exists and is not empty; pass --resume or choose a new folder")


def check_sharded_config(cfg: RMTrainConfig) -> None:
    """Options a DeepSpeed / FSDP run (weights sharded across processes) does not support yet."""
    unsupported = {
        "--lora-r": cfg.lora_r > 0,
        "--sft-init": cfg.sft_init,
        "--ref-logps online": cfg.ref_logps == "online",
        "--save-steps": cfg.save_steps > 0,
        "--resume": cfg.resume,
    }
    bad = [name for name, on in unsupported.items() if on]
    if bad:
        raise TrainingInputError(
            f"{', '.join(bad)}: not supported with DeepSpeed/FSDP (sharded) training yet; "
            "use --accelerate-config ddp, or drop the option"
        )


def latest_checkpoint(output_dir: Path) -> Path | None:
    root = output_dir / CHECKPOINTS
    if not root.is_dir():
        return None
    done = sorted(p for p in root.glob("step-*") if (p / "state.pt").exists())
    return done[-1] if done else None


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed % 2**32)
    except ImportError:  # pragma: no cover
        pass


def disable_dropout(module: nn.Module) -> None:
    for m in module.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _to(batch: dict[str, torch.Tensor], device: torch.device) -> dict[str, torch.Tensor]:
    return {k: v.to(device) for k, v in batch.items()}


# ----------------------------------------------------------------------------- loss per batch


def compute_rm_loss(
    model: nn.Module,
    batch: dict[str, torch.Tensor],
    cfg: RMTrainConfig,
    ref_model: ActAdaptiveRewardModel | None = None,
    ref_context: Callable[[], Any] | None = None,
) -> tuple[torch.Tensor, dict[str, float]]:
    """Loss and metrics for one concatenated chosen+rejected batch (see :func:`collate_pairs`)."""
    n_pairs = batch["index"].numel()
    out = model(
        batch["input_ids"],
        batch["attention_mask"],
        batch["response_mask"] if cfg.needs_logps else None,
    )
    rc, rr = out.rewards[:n_pairs], out.rewards[n_pairs:]
    margin: torch.Tensor | None = None
    beta = cfg.effective_beta
    if cfg.loss == "margin":
        margin = batch["margin"] * cfg.margin_scale
    elif cfg.loss == "aam-ld":
        assert out.logps is not None and out.lengths is not None
        margin = ld_margin(
            out.logps[:n_pairs],
            out.logps[n_pairs:],
            out.lengths[:n_pairs],
            out.lengths[n_pairs:],
            beta,
            detach=not cfg.margin_grad,
            reduction=cfg.ld_reduction,
        )
    elif cfg.loss == "aam-pr":
        assert out.logps is not None
        if "ref_logps" in batch:
            ref = batch["ref_logps"]
        else:
            assert ref_model is not None
            with torch.no_grad(), ref_context() if ref_context else _null():
                ref = ref_model(
                    batch["input_ids"], batch["attention_mask"], batch["response_mask"], need_rewards=False
                ).logps
        margin = pr_margin(
            out.logps[:n_pairs],
            out.logps[n_pairs:],
            ref[:n_pairs],
            ref[n_pairs:],
            beta,
            detach=not cfg.margin_grad,
        )
    bt = bradley_terry_loss(rc, rr, margin, batch.get("weight"))
    loss = bt
    sft: torch.Tensor | None = None
    if cfg.sft_reg > 0:
        assert out.logps is not None and out.lengths is not None
        sft = sft_loss(out.logps[:n_pairs], out.lengths[:n_pairs], cfg.sft_reduction)
        loss = loss + cfg.sft_reg * sft
    with torch.no_grad():
        m = margin.detach().float() if margin is not None else torch.zeros_like(rc)
        metrics = {
            "loss": loss.item(),
            "bt_loss": bt.item(),
            "accuracy": pairwise_accuracy(rc, rr).item(),
            "reward_gap": (rc - rr).mean().item(),
            "margin_mean": m.mean().item(),
            "margin_std": m.std(unbiased=False).item(),
        }
        if sft is not None:
            metrics["sft_loss"] = sft.item()
    return loss, metrics


class _null:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> None:
        return None


@torch.no_grad()
def response_logps(
    model: ActAdaptiveRewardModel,
    pairs: Sequence[EncodedPair],
    batch_size: int,
    device: torch.device,
    autocast: Callable[[], Any] = _null,
    pad_token_id: int | None = None,
) -> torch.Tensor:
    """``(N, 2)`` chosen/rejected response log-prob sums, row = pair ``index``. ``model`` may be wrapped
    by ``accelerator.prepare`` (then pass ``pad_token_id``); every process runs every batch."""
    was = model.training
    model.eval()
    pad = model.pad_token_id if pad_token_id is None else pad_token_id
    out = torch.zeros(max(p.index for p in pairs) + 1, 2)
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        b = _to(collate_pairs(chunk, pad), device)
        with autocast():
            lp = model(b["input_ids"], b["attention_mask"], b["response_mask"], need_rewards=False).logps
        lp = lp.float().cpu()
        out[b["index"].cpu(), 0] = lp[: len(chunk)]
        out[b["index"].cpu(), 1] = lp[len(chunk) :]
    model.train(was)
    return out


@torch.no_grad()
def evaluate_pairs(
    model: ActAdaptiveRewardModel, pairs: Sequence[EncodedPair], batch_size: int = 8
) -> dict[str, float]:
    """Pairwise accuracy and mean reward gap of ``model`` on tokenised pairs."""
    was = model.training
    model.eval()
    correct, gap = 0.0, 0.0
    for i in range(0, len(pairs), batch_size):
        chunk = pairs[i : i + batch_size]
        b = _to(collate_pairs(chunk, model.pad_token_id), model.device)
        r = model(b["input_ids"], b["attention_mask"]).rewards
        rc, rr = r[: len(chunk)], r[len(chunk) :]
        correct += (rc > rr).float().sum().item()
        gap += (rc - rr).sum().item()
    model.train(was)
    return {"accuracy": correct / len(pairs), "reward_gap": gap / len(pairs)}


# ----------------------------------------------------------------------------------- trainer


class RewardModelTrainer:
    """Owns model, optimizer and loop state. ``train()`` runs SFT-init (optional) then RM training."""

    def __init__(
        self,
        cfg: RMTrainConfig,
        progress: bool = True,
        on_log: Callable[[dict[str, float]], None] | None = None,
        notify: Callable[[str], None] | None = None,
    ) -> None:
        validate_config(cfg)
        self.cfg = cfg
        self.progress = progress
        self.on_log = on_log
        self.model_path = resolve_model_path(cfg.model)
        # read, check and mix every source before loading any weights
        from training.rm.sources import load_preference_data

        self.data = load_preference_data(
            cfg.data,
            cfg.split,
            mix=cfg.mix,
            seed=cfg.seed,
            limit=cfg.limit,
            margin=(cfg.margin_column, cfg.missing_margin) if cfg.loss == "margin" else None,
            weight=(PAIR_WEIGHT_COLUMN, cfg.missing_margin) if cfg.pair_weight == "confidence" else None,
        )
        self.rows = self.data.rows
        self.dropped_pairs = sum(src.dropped for src in self.data.sources)
        if self.dropped_pairs and notify is not None:
            notify(
                f"--missing-margin drop: dropped {self.dropped_pairs} pairs without {cfg.margin_column}; "
                f"training on {len(self.rows)}"
            )

        from accelerate import Accelerator, DistributedType

        bf16 = use_bf16(cfg.precision)
        # the scheduler steps once per optimizer step (not once per process); accumulation through
        # accelerate, so DeepSpeed gets --grad-accum as its gradient_accumulation_steps
        self.accelerator = Accelerator(
            mixed_precision="bf16" if bf16 else "no",
            cpu=not torch.cuda.is_available(),
            gradient_accumulation_steps=cfg.grad_accum,
            step_scheduler_with_optimizer=False,
        )
        self.sharded = self.accelerator.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
        if self.sharded:
            check_sharded_config(cfg)
        if self.accelerator.is_main_process:
            from charm_kernel.console import print_warning

            for note in self.data.notes:
                print_warning(note)
        seed_everything(cfg.seed)
        self.model = self._load_model()
        self.pairs = encode_preference_rows(
            self.rows,
            self.model.tokenizer,
            cfg.max_length,
            ", ".join(s.name for s in self.data.sources),
            margin_column=cfg.margin_column if cfg.loss == "margin" else None,
            row_names=self.data.row_names,
            weight_column=PAIR_WEIGHT_COLUMN if cfg.pair_weight == "confidence" else None,
        )
        self.history: list[dict[str, float]] = []
        self.ref_logps: torch.Tensor | None = None
        self.ref_model: ActAdaptiveRewardModel | None = None
        self.ref_context: Callable[[], Any] | None = None
        self.accelerator.wait_for_everyone()  # every rank validated --out before rank 0 writes into it

    # -------------------------------------------------------------------------------- setup
    def _load_model(self) -> ActAdaptiveRewardModel:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        cfg = self.cfg
        tokenizer = AutoTokenizer.from_pretrained(self.model_path)
        lm = AutoModelForCausalLM.from_pretrained(self.model_path, dtype=torch.float32)
        head = None
        if (self.model_path / MARKER).exists():  # continue from a saved charm RM: keep its head
            from training.rm.model import load_reward_model

            head = load_reward_model(self.model_path).value_head
        torch.manual_seed(cfg.seed)
        model = ActAdaptiveRewardModel(lm, tokenizer, head)
        disable_dropout(model)
        out_emb, in_emb = model.causal_lm.get_output_embeddings(), model.causal_lm.get_input_embeddings()
        if not (cfg.needs_logps or cfg.sft_init) and out_emb is not None and out_emb.weight is not in_emb.weight:
            out_emb.requires_grad_(False)  # unused by bt/margin: DDP would wait for its gradient
        if cfg.gradient_checkpointing:
            model.causal_lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})
            model.causal_lm.config.use_cache = False
        if cfg.lora_r > 0:
            from peft import LoraConfig, get_peft_model

            lora = LoraConfig(
                r=cfg.lora_r,
                lora_alpha=cfg.lora_alpha,
                lora_dropout=cfg.lora_dropout,
                target_modules="all-linear",
                task_type="CAUSAL_LM",
            )
            model.lm = get_peft_model(model.lm, lora)
            if cfg.gradient_checkpointing:
                model.causal_lm.enable_input_require_grads()
        return model.to(self.accelerator.device)

    def _optimizer(self, lr: float) -> torch.optim.Optimizer:
        params = [p for p in self.model.parameters() if p.requires_grad]
        return torch.optim.AdamW(params, lr=lr, weight_decay=self.cfg.weight_decay)

    def _epoch_batches(self, epoch: int) -> list[list[int]]:
        acc = self.accelerator
        return epoch_batches(
            len(self.pairs),
            self.cfg.batch_size,
            self.cfg.seed,
            epoch,
            acc.process_index,
            acc.num_processes,
            groups=self.data.groups,
        )

    def _total_steps(self, epochs: float) -> tuple[int, int]:
        """(optimizer steps, micro-batches per epoch); with whole candidate sets per micro-batch the
        count can differ a little between epochs, and the first epoch's sets the schedule."""
        micro_per_epoch = len(self._epoch_batches(0))
        steps_per_epoch = max(1, math.ceil(micro_per_epoch / self.cfg.grad_accum))
        return max(1, math.ceil(epochs * steps_per_epoch)), micro_per_epoch

    def _micro_batches(self, start_micro: int) -> Iterator[tuple[int, list[EncodedPair]]]:
        """Endless stream of (global micro index, pairs), starting at ``start_micro``."""
        k, epoch = 0, 0
        while True:
            batches = self._epoch_batches(epoch)
            for batch in batches:
                if k >= start_micro:
                    yield k, [self.pairs[i] for i in batch]
                k += 1
            epoch += 1

    def _progress(self) -> Any:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        from charm_kernel.progress import progress_bar

        return progress_bar(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[stats]}"),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            disable=not (self.progress and self.accelerator.is_main_process),
        )

    # ----------------------------------------------------------------------------- phases
    def _sft_init(self) -> None:
        cfg = self.cfg
        total, _ = self._total_steps(cfg.sft_epochs)
        opt = self._optimizer(cfg.sft_lr or cfg.lr)
        model, opt = self.accelerator.prepare(self.model, opt)
        model.train()
        stream = self._micro_batches(0)
        with self._progress() as bar:
            task = bar.add_task("SFT init", total=total, stats="")
            for _step in range(total):
                for _ in range(cfg.grad_accum):
                    _, chunk = next(stream)
                    b = pad_sequences(
                        [p.chosen_ids for p in chunk], [p.chosen_start for p in chunk], self.model.pad_token_id
                    )
                    b = _to(b, self.accelerator.device)
                    with self.accelerator.accumulate(model), self.accelerator.autocast():
                        out = model(b["input_ids"], b["attention_mask"], b["response_mask"], need_rewards=False)
                        loss = sft_loss(out.logps, out.lengths, SFT_INIT_REDUCTION)
                        self.accelerator.backward(loss)  # divides by grad_accum
                if cfg.max_grad_norm > 0:
                    self.accelerator.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                opt.zero_grad(set_to_none=True)
                bar.update(task, advance=1, stats=f"nll {loss.item():.3f}")
        self.model = self.accelerator.unwrap_model(model)

    def _prepare_reference(self, stage: RefStage, resumed: bool, engine: nn.Module | None = None) -> None:
        """pi_ref of an ``aam-pr`` run: the one place that decides when it is made and from what. ``train``
        calls it at each ``stage``; each kind of reference is made at exactly one of them:

        * ``"before-sft"``: with ``pr_reference="base"`` on a fresh run, the backbone before SFT init;
        * ``"fresh"``: ``ref_logps="online"`` not made yet, the model before a checkpoint's weights are
          loaded (after SFT init); a resumed ``--sft-init --pr-reference init`` run cannot rebuild it;
        * ``"resumed"``: ``ref_logps="precompute"`` not made yet (nor brought by the checkpoint) and the
          weights not sharded, the log-probs of the model as it is now;
        * ``"prepared"``: sharded (DeepSpeed / FSDP) runs, the log-probs through ``engine``, whose forward
          alone sees whole weights.
        """
        cfg, acc = self.cfg, self.accelerator
        if cfg.loss != "aam-pr":
            return
        if stage == "prepared":
            if self.sharded:
                self.ref_logps = response_logps(
                    engine, self.pairs, cfg.batch_size, acc.device, acc.autocast, pad_token_id=self.model.pad_token_id
                )
            return
        if stage == "before-sft":
            make = cfg.pr_reference == "base" and not resumed
        elif stage == "fresh":
            make = cfg.ref_logps == "online" and self.ref_model is None
            if make and resumed and cfg.sft_init and cfg.pr_reference == "init":
                raise TrainingInputError(
                    "--resume with --sft-init, --pr-reference init and --ref-logps online is "
                    "not supported; use --ref-logps precompute"
                )
        else:  # "resumed"
            make = cfg.ref_logps == "precompute" and self.ref_logps is None and not self.sharded
        if make:
            self._setup_reference()

    def _setup_reference(self) -> None:
        """pi_ref = the model as it is now: precomputed log-probs, the PEFT model with its adapter off (the
        base), or a frozen copy (``_prepare_reference`` says when)."""
        cfg = self.cfg
        if cfg.loss != "aam-pr":
            return
        if cfg.ref_logps == "precompute":
            self.ref_logps = response_logps(
                self.model, self.pairs, cfg.batch_size, self.accelerator.device, self.accelerator.autocast
            )
        elif self.model.is_peft and (not cfg.sft_init or cfg.pr_reference == "base"):
            self.ref_model = self.model
            self.ref_context = self.model.lm.disable_adapter
        else:
            ref = ActAdaptiveRewardModel(copy.deepcopy(self.model.causal_lm), self.model.tokenizer)
            ref.requires_grad_(False)
            self.ref_model = ref.to(self.accelerator.device).eval()

    def _save_checkpoint(self, step: int, micro: int, opt: Any, sched: Any) -> None:
        if not self.accelerator.is_main_process:
            return
        root = self.cfg.output_dir / CHECKPOINTS
        root.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=".ckpt-", dir=root))
        trainable = {n: p.detach().cpu() for n, p in self.model.named_parameters() if p.requires_grad}
        state = {
            "step": step,
            "micro": micro,
            "trainable": trainable,
            "optimizer": opt.state_dict(),
            "scheduler": sched.state_dict(),
            "rng": _rng_state(),
            "history": self.history,
            "config": self.cfg.model_dump(mode="json"),
        }
        torch.save(state, tmp / "state.pt")
        if self.ref_logps is not None:
            torch.save(self.ref_logps, tmp / "ref_logps.pt")
        final = root / f"step-{step:07d}"
        if final.exists():
            shutil.rmtree(final)
        tmp.rename(final)
        done = sorted(p for p in root.glob("step-*") if (p / "state.pt").exists())
        for old in done[: max(0, len(done) - max(1, self.cfg.keep_checkpoints))]:
            shutil.rmtree(old, ignore_errors=True)

    def _load_checkpoint(self, path: Path, opt: Any, sched: Any) -> tuple[int, int]:
        state = torch.load(path / "state.pt", map_location="cpu", weights_only=False)
        saved = state["config"]
        for key in ("loss", "model", "batch_size", "grad_accum", "lora_r", "seed", "max_length"):
            now = self.cfg.model_dump(mode="json")[key]
            if saved.get(key) != now:
                raise TrainingInputError(
                    f"--resume: checkpoint {path} was trained with {key}={saved.get(key)!r}, now {now!r}"
                )
        params = dict(self.model.named_parameters())
        missing = [n for n in state["trainable"] if n not in params]
        if missing:
            raise TrainingInputError(f"--resume: checkpoint {path} has unknown parameter {missing[0]!r}")
        with torch.no_grad():
            for n, t in state["trainable"].items():
                params[n].copy_(t.to(params[n].device))
        opt.load_state_dict(state["optimizer"])
        sched.load_state_dict(state["scheduler"])
        _set_rng_state(state["rng"])
        self.history = list(state["history"])
        if (path / "ref_logps.pt").exists():
            self.ref_logps = torch.load(path / "ref_logps.pt")
        return int(state["step"]), int(state["micro"])

    def train(self) -> TrainResult:
        """SFT init (optional), then RM training: reference, schedule, resume, the loop, the saved model."""
        from transformers import get_scheduler

        cfg, acc = self.cfg, self.accelerator
        resume_from = latest_checkpoint(cfg.output_dir) if cfg.resume else None
        resumed = resume_from is not None
        self._prepare_reference("before-sft", resumed)  # pi_ref = the backbone
        if cfg.sft_init and not resumed:
            self._sft_init()
        total, _ = self._total_steps(cfg.epochs)
        if cfg.max_steps is not None:
            total = cfg.max_steps
        opt = self._optimizer(cfg.lr)
        sched = get_scheduler("linear", opt, num_warmup_steps=int(cfg.warmup_ratio * total), num_training_steps=total)
        self._prepare_reference("fresh", resumed)  # before loading the checkpoint: the fresh model *is* pi_ref
        step, micro = 0, 0
        if resume_from is not None:
            step, micro = self._load_checkpoint(resume_from, opt, sched)
        self._prepare_reference("resumed", resumed)
        if cfg.sft_init and not resumed and cfg.save_steps > 0:
            self._save_checkpoint(0, 0, opt, sched)
        if acc.state.deepspeed_plugin is not None:  # DeepSpeed wants a micro-batch size; we feed no DataLoader
            acc.state.deepspeed_plugin.deepspeed_config["train_micro_batch_size_per_gpu"] = cfg.batch_size
        model, opt, sched = acc.prepare(self.model, opt, sched)
        self._prepare_reference("prepared", resumed, model)
        step = self._loop(model, opt, sched, step, micro, total)
        self._save_model(model, step)
        return TrainResult(cfg.output_dir, step, self.history)

    def _loop(self, model: nn.Module, opt: Any, sched: Any, step: int, micro: int, total: int) -> int:
        """Optimizer steps ``step`` .. ``total`` (micro-batches from ``micro`` on), logging and checkpointing
        as configured; returns the last step."""
        cfg, acc = self.cfg, self.accelerator
        model.train()
        stream = self._micro_batches(micro)
        window: list[tuple[dict[str, float], float]] = []  # (global micro-batch metrics, pairs)
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with self._progress() as bar:
            task = bar.add_task(f"RM {cfg.loss}", total=total, completed=step, stats="")
            while step < total:
                for _ in range(cfg.grad_accum):
                    micro, chunk = next(stream)
                    micro += 1
                    batch = _to(collate_pairs(chunk, self.model.pad_token_id, self.ref_logps), acc.device)
                    with acc.accumulate(model), acc.autocast():  # no_sync until the last micro-batch
                        loss, metrics = compute_rm_loss(model, batch, cfg, self.ref_model, self.ref_context)
                        acc.backward(loss)  # divides by grad_accum (DeepSpeed: its engine does)
                    window.append(gather_metrics(acc, metrics, len(chunk)))  # the global batch's numbers
                if cfg.max_grad_norm > 0:
                    acc.clip_grad_norm_(model.parameters(), cfg.max_grad_norm)
                opt.step()
                sched.step()
                opt.zero_grad(set_to_none=True)
                step += 1
                if step % max(1, cfg.logging_steps) == 0 or step == total:
                    self._log(step, sched.get_last_lr()[0], time.perf_counter() - t0, window)
                bar.update(task, advance=1, stats=f"loss {metrics['loss']:.3f} acc {metrics['accuracy']:.2f}")
                if cfg.save_steps > 0 and step % cfg.save_steps == 0 and step < total:
                    self._save_checkpoint(step, micro, opt, sched)
        return step

    def _log(self, step: int, lr: float, elapsed_s: float, window: list[tuple[dict[str, float], float]]) -> None:
        """One log entry pooled over ``window`` (the optimizer step's pairs, then emptied): kept in the
        history, appended to train_log.jsonl and passed to ``on_log`` (rank 0)."""
        entry = {"step": float(step), "lr": lr, "elapsed_s": elapsed_s}
        entry |= pool_metrics(window)  # the whole optimizer step's pairs
        window.clear()
        self.history.append(entry)
        if self.accelerator.is_main_process:
            with (self.cfg.output_dir / LOG_FILE).open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(entry) + "\n")
            if self.on_log:
                self.on_log(entry)

    def _save_model(self, model: nn.Module, step: int) -> None:
        """The trained model, its metadata (charm_rm.json, HF config.json) and model card (rank 0 writes)."""
        cfg, acc = self.cfg, self.accelerator
        state = acc.get_state_dict(model) if self.sharded else None  # collective: gathers the shards
        self.model = acc.unwrap_model(model)
        acc.wait_for_everyone()
        if acc.is_main_process:
            meta = {
                "base_model": str(self.model_path),
                "loss": cfg.loss,
                "beta": cfg.effective_beta,
                "preset": cfg.preset,
                "steps": step,
                "dropped_pairs": self.dropped_pairs,  # --missing-margin drop
                "open_choices": open_choices(cfg),
                "train_config": cfg.model_dump(mode="json"),
                "resolved_config": cfg.resolved(),
                "data": self.data.record(),
            }
            # recorded in the HF config.json too, and in a model card (README.md) written before the marker
            self.model.causal_lm.config.charm_rm_training = {"preset": cfg.preset, **cfg.resolved()}
            write_model_card(cfg.output_dir, cfg, str(self.model_path), step, self.history, self.data.record())
            self.model.save(cfg.output_dir, metadata=meta, state_dict=state)
        acc.wait_for_everyone()


def train_reward_model(
    cfg: RMTrainConfig,
    progress: bool = True,
    on_log: Callable[[dict[str, float]], None] | None = None,
    notify: Callable[[str], None] | None = None,
) -> TrainResult:
    """Validate inputs, train, save to ``cfg.output_dir``. User errors raise :class:`TrainingInputError`
    (or :class:`DataError` / :class:`RewardModelError`) before anything is written. ``notify`` gets the
    one-line notes worth telling before training starts (pairs dropped by ``missing_margin="drop"``)."""
    return RewardModelTrainer(cfg, progress=progress, on_log=on_log, notify=notify).train()


__all__ = [
    "DEFAULT_BETA",
    "LOSSES",
    "PR_REFERENCES",
    "DataError",
    "RMTrainConfig",
    "RewardModelError",
    "RewardModelTrainer",
    "TrainResult",
    "TrainingInputError",
    "compute_rm_loss",
    "evaluate_pairs",
    "train_reward_model",
]

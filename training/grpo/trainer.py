"""GRPO training of a role-play policy on the Charm ``grpo`` prompts with TRL's ``GRPOTrainer``.

Details: docs/design.md#grpo.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import torch
from pydantic import BaseModel, ConfigDict, Field

from charm_kernel.errors import CharmError
from training.common.distributed import is_main_process
from training.common.generation import generate_replies, load_policy
from training.common.precision import use_bf16
from training.grpo.reward import RMReward

LOG_FILE = "train_log.jsonl"
CURVES_FILE = "curves.png"
RUN_FILE = "grpo_run.json"


class GRPOInputError(CharmError):
    """A user-caused problem with a GRPO run (bad path, option, data); the message names it."""


class GRPORunConfig(BaseModel):
    """Everything a GRPO run needs. Each field's description is its ``charm-train grpo`` option's help
    (training/grpo/cli.py reads it; tests/training/common/test_config_options.py checks names and defaults),
    and its constraints are the option's validation."""

    model_config = ConfigDict(extra="forbid")

    data: Path = Field(description="preferenceTraining export; its `grpo` split (conversational prompts) is used.")
    reward_model: Path = Field(description="Reward-model folder written by `charm-train rm`.")
    output_dir: Path = Field(description="Output folder: policy, checkpoint-N/, train_log.jsonl, curves.png.")
    policy: str = Field("offline", description="Local HF causal-LM folder, or 'offline' (bundled SmolLM2-135M).")
    split: str = Field("grpo", description="Split holding the prompts.")
    num_generations: int = Field(
        4, ge=2, description="Group size: completions sampled per prompt (>= 2: GRPO compares within a group)."
    )
    prompts_per_step: int = Field(2, ge=1, description="Prompts per device and micro-step.")
    grad_accum: int = Field(1, ge=1, description="Gradient accumulation steps.")
    beta: float = Field(0.04, ge=0, description="KL coefficient against the initial policy (0 = no reference).")
    max_completion_length: int = Field(256, ge=1, description="Max new tokens per completion.")
    temperature: float = Field(1.0, gt=0, description="Sampling temperature.")
    lr: float = Field(1e-6, gt=0, description="Learning rate.")
    epochs: float = Field(1.0, gt=0, description="Passes over the prompts.")
    max_steps: int | None = Field(None, ge=1, description="Stop after this many optimizer steps.")
    scale_rewards: Literal["group", "batch", "none"] = Field(
        "group", description="Reward normalisation: group (per-group std), batch, none."
    )
    loss_type: str = Field("dapo", description="TRL loss: grpo, dapo, dr_grpo, bnpo, ...")
    length_penalty: float = Field(0.0, ge=0, description="Subtract this x completion tokens from the reward.")
    lora_r: int = Field(0, ge=0, description="LoRA rank; 0 = full fine-tuning.")
    lora_alpha: int = Field(16, description="LoRA alpha.")
    vllm: Literal["auto", "on", "off"] = Field(
        "auto", description="vLLM generation: auto (when installed on a GPU), on, off."
    )
    precision: Literal["auto", "bf16", "fp32"] = Field("auto", description="auto (bf16 on capable GPUs), bf16 or fp32.")
    gradient_checkpointing: bool = Field(False, description="Recompute activations in the backward pass (less memory).")
    rm_batch_size: int = Field(8, ge=1, description="Completions per reward-model forward pass.")
    rm_max_length: int = Field(2048, ge=8, description="Max tokens per prompt+completion the reward model scores.")
    save_steps: int = Field(0, ge=0, description="Checkpoint every N steps (0 = only the final policy).")
    keep_checkpoints: int = Field(2, ge=1, description="Keep only the newest N checkpoints.")
    logging_steps: int = Field(1, ge=1, description="Log every N steps.")
    resume: bool = Field(False, description="Continue from the latest checkpoint in --out.")
    seed: int = Field(42, description="Seed for sampling and data order.")
    limit: int | None = Field(None, description="Use only the first N prompts.")


@dataclass
class GRPOResult:
    """Where the policy went, how many optimizer steps were taken, and TRL's log history."""

    output_dir: Path
    steps: int
    history: list[dict[str, Any]] = field(default_factory=list)
    processes: int = 1


# ------------------------------------------------------------------------------------------ inputs


def resolve_policy(policy: str) -> Path:
    """``offline`` -> the bundled SmolLM2 folder; otherwise a local HF model folder."""
    from charm_builder.offline_models import resolve_model_folder

    return resolve_model_folder(policy, "--policy", GRPOInputError)


def checkpoints(output_dir: Path) -> list[Path]:
    """Complete HF checkpoints (``checkpoint-N`` with ``trainer_state.json``), oldest first."""
    found = [p for p in output_dir.glob("checkpoint-*") if (p / "trainer_state.json").exists()]
    return sorted(found, key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)


def validate_config(cfg: GRPORunConfig) -> None:
    """Checks that need the file system or the GPU (range and choice rules are GRPORunConfig's);
    raises :class:`GRPOInputError` naming the option."""
    if not cfg.reward_model.is_dir():
        raise GRPOInputError(f"--reward-model {cfg.reward_model}: no such folder")
    out = cfg.output_dir
    if out.exists() and not out.is_dir():
        raise GRPOInputError(f"--out {out}: exists and is not a folder")
    if cfg.resume:
        if not checkpoints(out):
            raise GRPOInputError(f"--resume: no checkpoint-N folder under {out}")
    elif out.exists() and any(out.iterdir()):
        raise GRPOInputError(f"--out {out}: exists and is not empty; pass --resume or choose a new folder")
    if cfg.vllm == "on":
        from trl.import_utils import is_vllm_available

        if not (torch.cuda.is_available() and is_vllm_available()):
            raise GRPOInputError("--vllm on: needs a CUDA GPU and the vllm package (pip install vllm)")


def _check_prompt(prompt: Any, where: str) -> None:
    if isinstance(prompt, str):
        if not prompt.strip():
            raise GRPOInputError(f"{where}: empty prompt")
        return
    if not isinstance(prompt, list) or not prompt:
        raise GRPOInputError(f"{where}: prompt must be a non-empty list of {{role, content}} messages")
    for j, m in enumerate(prompt):
        if (
            not isinstance(m, dict)
            or m.get("role") not in ("system", "user", "assistant")
            or not isinstance(m.get("content"), str)
        ):
            raise GRPOInputError(f"{where}: message {j} must be {{role: system|user|assistant, content: str}}")
    if prompt[-1]["role"] == "assistant":
        raise GRPOInputError(f"{where}: the last message is the assistant's; a GRPO prompt must end with the user")


def load_prompts(path: Path, split: str = "grpo", limit: int | None = None) -> Any:
    """The GRPO prompts (a ``datasets.Dataset`` with a ``prompt`` column), validated."""
    from training.rm.data import DataError, load_rows

    try:
        rows, source = load_rows(path, split)
    except DataError as exc:
        raise GRPOInputError(str(exc)) from exc
    if "prompt" not in rows.column_names:
        raise GRPOInputError(f"{source}: missing column 'prompt' (found: {', '.join(rows.column_names)})")
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    if len(rows) == 0:
        raise GRPOInputError(f"{source}: no prompts")
    for i, prompt in enumerate(rows["prompt"]):
        _check_prompt(prompt, f"{source} row {i}")
    return rows


# ------------------------------------------------------------------------------------- the run


def _use_vllm(cfg: GRPORunConfig) -> bool:
    if cfg.vllm == "off":
        return False
    from trl.import_utils import is_vllm_available

    return torch.cuda.is_available() and is_vllm_available()


def build_grpo_config(cfg: GRPORunConfig) -> Any:
    """The TRL ``GRPOConfig`` for a run."""
    from trl import GRPOConfig

    save = cfg.save_steps > 0
    return GRPOConfig(
        # without a GPU, `use_cpu` is what makes HF's Trainer join the launched processes (gloo); left
        # False, every process under `accelerate launch` trained alone on all the data as its own rank 0
        use_cpu=not torch.cuda.is_available(),
        output_dir=str(cfg.output_dir),
        per_device_train_batch_size=cfg.prompts_per_step * cfg.num_generations,
        gradient_accumulation_steps=cfg.grad_accum,
        num_generations=cfg.num_generations,
        max_completion_length=cfg.max_completion_length,
        temperature=cfg.temperature,
        beta=cfg.beta,
        learning_rate=cfg.lr,
        num_train_epochs=cfg.epochs,
        max_steps=cfg.max_steps if cfg.max_steps is not None else -1,
        scale_rewards=cfg.scale_rewards,
        loss_type=cfg.loss_type,
        use_vllm=_use_vllm(cfg),
        vllm_mode="colocate",
        bf16=use_bf16(cfg.precision),
        gradient_checkpointing=cfg.gradient_checkpointing,
        logging_steps=cfg.logging_steps,
        save_strategy="steps" if save else "no",
        save_steps=cfg.save_steps if save else 500,
        save_total_limit=cfg.keep_checkpoints if save else None,
        report_to="none",
        disable_tqdm=True,
        seed=cfg.seed,
        data_seed=cfg.seed,
        log_completions=False,
    )


class _RichProgress:
    """A TrainerCallback-compatible progress bar (steps, reward, KL) that also forwards log entries."""

    def __init__(self, enabled: bool, on_log: Callable[[dict[str, Any]], None] | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

        from charm_kernel.progress import progress_bar

        self.on_log = on_log if is_main_process() else None
        enabled = enabled and is_main_process()
        self.bar = progress_bar(
            TextColumn("[bold]grpo"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            disable=not enabled,
        )
        self.task: Any = None

    def callback(self) -> Any:
        from transformers import TrainerCallback

        outer = self

        class Callback(TrainerCallback):
            def on_train_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                outer.bar.start()
                outer.task = outer.bar.add_task("grpo", total=state.max_steps, completed=state.global_step, info="")

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                outer.bar.update(outer.task, completed=state.global_step)

            def on_log(
                self, args: Any, state: Any, control: Any, logs: dict[str, Any] | None = None, **kw: Any
            ) -> None:
                if not logs:
                    return
                entry = {"step": state.global_step, **logs}
                if "reward" in logs and outer.task is not None:
                    outer.bar.update(outer.task, info=f"reward {logs['reward']:.3f}  kl {logs.get('kl', 0.0):.4f}")
                if outer.on_log is not None:
                    outer.on_log(entry)

            def on_train_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                outer.bar.stop()

        return Callback()


def _peft_config(cfg: GRPORunConfig) -> Any:
    if cfg.lora_r <= 0:
        return None
    from peft import LoraConfig

    return LoraConfig(
        r=cfg.lora_r, lora_alpha=cfg.lora_alpha, lora_dropout=0.0, target_modules="all-linear", task_type="CAUSAL_LM"
    )


def train_grpo(
    cfg: GRPORunConfig,
    progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> GRPOResult:
    """Validate, train with TRL's GRPOTrainer, save the policy + log + curves into ``cfg.output_dir``.

    User errors raise :class:`GRPOInputError` (or the RM package's ``RewardModelError``) before
    anything is written.
    """
    from accelerate import DistributedType
    from transformers import PrinterCallback
    from trl import GRPOTrainer

    from training.grpo.plots import plot_curves
    from training.rm.model import load_reward_model

    validate_config(cfg)
    prompts = load_prompts(cfg.data, cfg.split, cfg.limit)
    policy_path = resolve_policy(cfg.policy)
    args = build_grpo_config(cfg)
    dtype = torch.bfloat16 if args.bf16 else torch.float32
    reward = RMReward(
        load_reward_model(cfg.reward_model, device=args.device, dtype=dtype),
        batch_size=cfg.rm_batch_size,
        max_length=cfg.rm_max_length,
        length_penalty=cfg.length_penalty,
    )
    model, tokenizer = load_policy(policy_path, dtype)
    bar = _RichProgress(progress, on_log)
    trainer = GRPOTrainer(
        model=model,
        reward_funcs=[reward],
        args=args,
        train_dataset=prompts,
        processing_class=tokenizer,
        peft_config=_peft_config(cfg),
        callbacks=[bar.callback()],
    )
    trainer.remove_callback(PrinterCallback)
    acc = trainer.accelerator
    sharded = acc.distributed_type in (DistributedType.DEEPSPEED, DistributedType.FSDP)
    if sharded and cfg.lora_r > 0:
        raise GRPOInputError(
            "--lora-r: not supported with DeepSpeed/FSDP (sharded) training yet; use --accelerate-config ddp"
        )
    resume_from = str(checkpoints(cfg.output_dir)[-1]) if cfg.resume else None
    acc.wait_for_everyone()  # every rank validated --out before rank 0 writes into it
    if acc.is_main_process:
        cfg.output_dir.mkdir(parents=True, exist_ok=True)
        (cfg.output_dir / RUN_FILE).write_text(cfg.model_dump_json(indent=2), encoding="utf-8")
    trainer.train(resume_from_checkpoint=resume_from)  # data sharding, checkpoints: TRL / HF Trainer

    history = list(trainer.state.log_history)
    if sharded:
        trainer.save_model(str(cfg.output_dir))  # gathers the shards; rank 0 writes
    elif acc.is_main_process:
        final = acc.unwrap_model(trainer.model)
        if hasattr(final, "merge_and_unload"):
            final = final.merge_and_unload()
        final.save_pretrained(cfg.output_dir)
    if acc.is_main_process:
        tokenizer.save_pretrained(cfg.output_dir)
        with (cfg.output_dir / LOG_FILE).open("w", encoding="utf-8") as fh:
            for entry in history:
                fh.write(json.dumps(entry) + "\n")
        plot_curves(history, cfg.output_dir / CURVES_FILE)
    acc.wait_for_everyone()
    return GRPOResult(cfg.output_dir, int(trainer.state.global_step), history, acc.num_processes)


# -------------------------------------------------------------------------------- evaluation


def mean_policy_reward(
    model: Any,
    tokenizer: Any,
    prompts: Sequence[Any],
    reward: RMReward,
    max_new_tokens: int = 64,
    batch_size: int = 8,
) -> float:
    """Mean RM reward of the policy's greedy replies to ``prompts`` (no length penalty)."""
    replies = generate_replies(model, tokenizer, prompts, max_new_tokens=max_new_tokens, batch_size=batch_size)
    scores = reward.score(prompts, replies)
    return math.fsum(scores) / len(scores)

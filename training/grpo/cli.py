"""``charm-train grpo``: GRPO a role-play policy against a charm reward model (mounted in training.cli)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from charm_builder.console import fail
from training.distributed import is_main_process
from training.launch import AccelerateConfigOpt, NumProcessesOpt, PrintLaunchOpt


def grpo(
    data: Annotated[
        Path,
        typer.Option(
            "--data", "-d", help="preferenceTraining export; its `grpo` split (conversational prompts) is used."
        ),
    ],
    reward_model: Annotated[
        Path, typer.Option("--reward-model", "-r", help="Reward-model folder written by `charm-train rm`.")
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Output folder: policy, checkpoint-N/, train_log.jsonl, curves.png.")
    ],
    policy: Annotated[
        str, typer.Option(help="Local HF causal-LM folder, or 'offline' (bundled SmolLM2-135M).")
    ] = "offline",
    split: Annotated[str, typer.Option(help="Split holding the prompts.")] = "grpo",
    num_generations: Annotated[
        int, typer.Option("--num-generations", "-G", help="Group size: completions sampled per prompt.")
    ] = 4,
    prompts_per_step: Annotated[int, typer.Option(help="Prompts per device and micro-step.")] = 2,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    beta: Annotated[float, typer.Option(help="KL coefficient against the initial policy (0 = no reference).")] = 0.04,
    max_completion_length: Annotated[int, typer.Option(help="Max new tokens per completion.")] = 256,
    temperature: Annotated[float, typer.Option(help="Sampling temperature.")] = 1.0,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-6,
    epochs: Annotated[float, typer.Option(help="Passes over the prompts.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Stop after this many optimizer steps.")] = None,
    scale_rewards: Annotated[
        str, typer.Option(help="Reward normalisation: group (per-group std), batch, none.")
    ] = "group",
    loss_type: Annotated[str, typer.Option(help="TRL loss: grpo, dapo, dr_grpo, bnpo, ...")] = "dapo",
    length_penalty: Annotated[float, typer.Option(help="Subtract this x completion tokens from the reward.")] = 0.0,
    lora_r: Annotated[int, typer.Option(help="LoRA rank; 0 = full fine-tuning.")] = 0,
    lora_alpha: Annotated[int, typer.Option(help="LoRA alpha.")] = 16,
    vllm: Annotated[str, typer.Option(help="vLLM generation: auto (when installed on a GPU), on, off.")] = "auto",
    precision: Annotated[str, typer.Option(help="auto (bf16 on capable GPUs), bf16 or fp32.")] = "auto",
    gradient_checkpointing: Annotated[bool, typer.Option("--gradient-checkpointing")] = False,
    rm_batch_size: Annotated[int, typer.Option(help="Completions per reward-model forward pass.")] = 8,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps (0 = only the final policy).")] = 0,
    logging_steps: Annotated[int, typer.Option(help="Log every N steps.")] = 1,
    resume: Annotated[bool, typer.Option("--resume", help="Continue from the latest checkpoint in --out.")] = False,
    seed: Annotated[int, typer.Option(help="Seed for sampling and data order.")] = 42,
    limit: Annotated[int | None, typer.Option(help="Use only the first N prompts.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    accelerate_config: AccelerateConfigOpt = None,
    num_processes: NumProcessesOpt = None,
    print_launch: PrintLaunchOpt = False,
) -> None:
    """GRPO a policy on the Charm `grpo` prompts, rewarded by an AAM reward model.

    On several GPUs: --accelerate-config re-runs this same command under `accelerate launch` (TRL
    shards the prompts; each process holds its own copy of the reward model; only rank 0 writes).
    ZeRO-3/FSDP: full fine-tuning only (no --lora-r).

    Examples:

      charm-train grpo --policy offline --reward-model runs/rm-ld --data exports/preferenceTraining -o runs/grpo

      charm-train grpo --policy models/qwen2.5-7b -r runs/rm-ld -d exports/pt -o runs/grpo -G 8 --lora-r 16

      charm-train grpo -r runs/rm-ld -d exports/pt -o runs/grpo --save-steps 50 --resume

      charm-train grpo --policy models/qwen2.5-7b -r runs/rm-ld -d exports/pt -o runs/grpo --accelerate-config deepspeed-zero3
    """
    from pydantic import ValidationError

    from charm_builder.export.locate import subset_path
    from training.grpo.trainer import CURVES_FILE, GRPORunConfig, train_grpo

    data = subset_path(data, "preferenceTraining")
    if scale_rewards not in ("group", "batch", "none"):
        fail(f"--scale-rewards {scale_rewards!r}: choose group, batch or none")
    if vllm not in ("auto", "on", "off"):
        fail(f"--vllm {vllm!r}: choose auto, on or off")
    if precision not in ("auto", "bf16", "fp32"):
        fail(f"--precision {precision!r}: choose auto, bf16 or fp32")
    try:
        cfg = GRPORunConfig(
            data=data,
            reward_model=reward_model,
            output_dir=out,
            policy=policy,
            split=split,
            num_generations=num_generations,
            prompts_per_step=prompts_per_step,
            grad_accum=grad_accum,
            beta=beta,
            max_completion_length=max_completion_length,
            temperature=temperature,
            lr=lr,
            epochs=epochs,
            max_steps=max_steps,
            scale_rewards=scale_rewards,
            loss_type=loss_type,  # type: ignore[arg-type]
            length_penalty=length_penalty,
            lora_r=lora_r,
            lora_alpha=lora_alpha,
            vllm=vllm,  # type: ignore[arg-type]
            precision=precision,
            gradient_checkpointing=gradient_checkpointing,  # type: ignore[arg-type]
            rm_batch_size=rm_batch_size,
            save_steps=save_steps,
            logging_steps=logging_steps,
            resume=resume,
            seed=seed,
            limit=limit,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        fail(f"--{str(err['loc'][0]).replace('_', '-')}: {err['msg']}")
    if accelerate_config is not None:
        from charm_builder.errors import CharmError
        from training.grpo.trainer import validate_config
        from training.launch import launch_from_cli

        try:
            validate_config(cfg)
        except CharmError as exc:
            fail(str(exc))
        launch_from_cli("grpo", accelerate_config, num_processes, print_launch)

    def log(entry: dict[str, Any]) -> None:
        if quiet or "reward" not in entry:
            return
        typer.echo(
            f"step {entry['step']}  reward {entry['reward']:.4f}±{entry.get('reward_std', 0.0):.4f}  "
            f"kl {entry.get('kl', 0.0):.4f}  len {entry.get('completions/mean_length', 0.0):.1f}",
            err=True,
        )

    from charm_builder.errors import CharmError
    from charm_builder.offline_models import OfflineModelError
    from training.rm.model import RewardModelError

    try:
        result = train_grpo(cfg, progress=not quiet, on_log=log)
    except (CharmError, RewardModelError, OfflineModelError) as exc:
        fail(str(exc))
    if is_main_process():
        typer.echo(
            f"saved policy to {result.output_dir} ({result.steps} steps); curves: {result.output_dir / CURVES_FILE}"
        )

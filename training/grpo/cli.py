"""``charm-train grpo``: GRPO a role-play policy against a charm reward model (mounted in charm_apps.train)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from charm_kernel.console import fail
from charm_kernel.options import field_help, option_error
from training.common.distributed import is_main_process
from training.common.launch import AccelerateConfigOpt, NumProcessesOpt, PrintLaunchOpt
from training.grpo.trainer import GRPORunConfig


def _g(name: str) -> str:
    """Help of ``charm-train grpo --NAME``: the GRPORunConfig field's description (one source)."""
    return field_help(GRPORunConfig, name)


GRPO_OPTIONS = {"output_dir": "--out"}  # fields whose option is not --FIELD-NAME
# options of `charm-train grpo` that are no GRPORunConfig field (tests/training/common/test_config_options.py)
GRPO_CLI_ONLY = ("quiet", "accelerate_config", "num_processes", "print_launch")


def grpo(
    data: Annotated[Path, typer.Option("--data", "-d", help=_g("data"))],
    reward_model: Annotated[Path, typer.Option("--reward-model", "-r", help=_g("reward_model"))],
    out: Annotated[Path, typer.Option("--out", "-o", help=_g("output_dir"))],
    policy: Annotated[str, typer.Option(help=_g("policy"))] = "offline",
    split: Annotated[str, typer.Option(help=_g("split"))] = "grpo",
    num_generations: Annotated[int, typer.Option("--num-generations", "-G", help=_g("num_generations"))] = 4,
    prompts_per_step: Annotated[int, typer.Option(help=_g("prompts_per_step"))] = 2,
    grad_accum: Annotated[int, typer.Option(help=_g("grad_accum"))] = 1,
    beta: Annotated[float, typer.Option(help=_g("beta"))] = 0.04,
    max_completion_length: Annotated[int, typer.Option(help=_g("max_completion_length"))] = 256,
    temperature: Annotated[float, typer.Option(help=_g("temperature"))] = 1.0,
    lr: Annotated[float, typer.Option(help=_g("lr"))] = 1e-6,
    epochs: Annotated[float, typer.Option(help=_g("epochs"))] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help=_g("max_steps"))] = None,
    scale_rewards: Annotated[str, typer.Option(help=_g("scale_rewards"))] = "group",
    loss_type: Annotated[str, typer.Option(help=_g("loss_type"))] = "dapo",
    length_penalty: Annotated[float, typer.Option(help=_g("length_penalty"))] = 0.0,
    lora_r: Annotated[int, typer.Option(help=_g("lora_r"))] = 0,
    lora_alpha: Annotated[int, typer.Option(help=_g("lora_alpha"))] = 16,
    vllm: Annotated[str, typer.Option(help=_g("vllm"))] = "auto",
    precision: Annotated[str, typer.Option(help=_g("precision"))] = "auto",
    gradient_checkpointing: Annotated[
        bool, typer.Option("--gradient-checkpointing", help=_g("gradient_checkpointing"))
    ] = False,
    rm_batch_size: Annotated[int, typer.Option(help=_g("rm_batch_size"))] = 8,
    rm_max_length: Annotated[int, typer.Option(help=_g("rm_max_length"))] = 2048,
    save_steps: Annotated[int, typer.Option(help=_g("save_steps"))] = 0,
    keep_checkpoints: Annotated[int, typer.Option(help=_g("keep_checkpoints"))] = 2,
    logging_steps: Annotated[int, typer.Option(help=_g("logging_steps"))] = 1,
    resume: Annotated[bool, typer.Option("--resume", help=_g("resume"))] = False,
    seed: Annotated[int, typer.Option(help=_g("seed"))] = 42,
    limit: Annotated[int | None, typer.Option(help=_g("limit"))] = None,
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
    from training.grpo.trainer import CURVES_FILE, train_grpo

    values = {k: v for k, v in locals().items() if k in GRPORunConfig.model_fields}
    values |= {"data": subset_path(data, "preferenceTraining"), "output_dir": out}
    try:
        cfg = GRPORunConfig(**values)
    except ValidationError as exc:
        fail(option_error(exc, GRPO_OPTIONS))
    if accelerate_config is not None:
        from charm_kernel.errors import CharmError
        from training.common.launch import launch_from_cli
        from training.grpo.trainer import validate_config

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

    from charm_builder.offline_models import OfflineModelError
    from charm_kernel.errors import CharmError
    from training.rm.model import RewardModelError

    try:
        result = train_grpo(cfg, progress=not quiet, on_log=log)
    except (CharmError, RewardModelError, OfflineModelError) as exc:
        fail(str(exc))
    if is_main_process():
        typer.echo(
            f"saved policy to {result.output_dir} ({result.steps} steps on {result.processes} process"
            f"{'es' if result.processes > 1 else ''}); curves: {result.output_dir / CURVES_FILE}"
        )

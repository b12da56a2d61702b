"""``charm-train rm`` (train one reward model) and ``charm-train table3`` (every paper preset, Table 3)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from charm_kernel.console import fail
from charm_kernel.options import field_help, option_error
from training.common.cli_options import BootstrapOpt, check_bootstrap
from training.common.distributed import is_main_process
from training.common.launch import AccelerateConfigOpt, NumProcessesOpt, PrintLaunchOpt
from training.common.stats import BOOTSTRAP
from training.rm.cli_common import note, user_errors
from training.rm.presets import ABLATIONS, PAPER_PRESETS
from training.rm.trainer import RMTrainConfig


def _explicit(ctx: typer.Context) -> set[str]:
    """Names of the options the user set on the command line (or via an env var), not defaults.

    Compared by name: typer ships its own copy of click, whose ``ParameterSource`` is not click's."""
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    return {name for name, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")}


def _rm(name: str) -> str:
    """Help of ``charm-train rm --NAME``: the RMTrainConfig field's description (one source)."""
    return field_help(RMTrainConfig, name)


RM_OPTIONS = {"output_dir": "--out"}  # fields whose option is not --FIELD-NAME
# options of `charm-train rm` that are no RMTrainConfig field (tests/training/common/test_config_options.py)
RM_CLI_ONLY = ("margin_source", "quiet", "accelerate_config", "num_processes", "print_launch")


def step_line(entry: dict[str, float]) -> str:
    """The line `charm-train rm` prints per logged step."""
    return (
        f"step {int(entry['step'])}  loss {entry['loss']:.4f}  acc {entry['accuracy']:.3f}  "
        f"margin {entry['margin_mean']:.3f}±{entry['margin_std']:.3f}  lr {entry['lr']:.2e}"
    )


def rm(
    ctx: typer.Context,
    data: Annotated[list[Path], typer.Option("--data", "-d", metavar="PATH", help=_rm("data"))],
    out: Annotated[Path, typer.Option("--out", "-o", help=_rm("output_dir"))],
    preset: Annotated[str | None, typer.Option(help=_rm("preset"))] = None,
    loss: Annotated[str, typer.Option(help=_rm("loss"))] = "bt",
    model: Annotated[str, typer.Option(help=_rm("model"))] = "offline",
    split: Annotated[str, typer.Option(help=_rm("split"))] = "train",
    mix: Annotated[str | None, typer.Option(metavar="W1,W2,...", help=_rm("mix"))] = None,
    margin_column: Annotated[str, typer.Option(help=_rm("margin_column"))] = "margin",
    margin_source: Annotated[
        str | None,
        typer.Option(
            help="--loss margin: agreement (margin_agreement), bws "
            "(margin_bws), judge (margin_judge) or posterior (label_confidence, from export --aggregate "
            "dawid-skene); overrides --margin-column."
        ),
    ] = None,
    margin_scale: Annotated[float, typer.Option(help=_rm("margin_scale"))] = 1.0,
    missing_margin: Annotated[str, typer.Option(help=_rm("missing_margin"))] = "error",
    pair_weight: Annotated[str, typer.Option(help=_rm("pair_weight"))] = "none",
    beta: Annotated[float | None, typer.Option(help=_rm("beta"))] = None,
    margin_grad: Annotated[bool, typer.Option("--margin-grad", help=_rm("margin_grad"))] = False,
    sft_reg: Annotated[float, typer.Option("--sft-reg", help=_rm("sft_reg"))] = 0.0,
    sft_reduction: Annotated[str, typer.Option(help=_rm("sft_reduction"))] = "sum",
    ld_reduction: Annotated[str, typer.Option(help=_rm("ld_reduction"))] = "mean",
    sft_init: Annotated[bool, typer.Option("--sft-init/--no-sft-init", help=_rm("sft_init"))] = False,
    sft_epochs: Annotated[float, typer.Option(help=_rm("sft_epochs"))] = 1.0,
    sft_lr: Annotated[float | None, typer.Option(help=_rm("sft_lr"))] = None,
    ref_logps: Annotated[str, typer.Option(help=_rm("ref_logps"))] = "precompute",
    pr_reference: Annotated[str, typer.Option(help=_rm("pr_reference"))] = "base",
    epochs: Annotated[float, typer.Option(help=_rm("epochs"))] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help=_rm("max_steps"))] = None,
    batch_size: Annotated[int, typer.Option(help=_rm("batch_size"))] = 4,
    grad_accum: Annotated[int, typer.Option(help=_rm("grad_accum"))] = 1,
    lr: Annotated[float, typer.Option(help=_rm("lr"))] = 1e-5,
    weight_decay: Annotated[float, typer.Option(help=_rm("weight_decay"))] = 0.0,
    warmup_ratio: Annotated[float, typer.Option(help=_rm("warmup_ratio"))] = 0.03,
    max_grad_norm: Annotated[float, typer.Option(help=_rm("max_grad_norm"))] = 1.0,
    max_length: Annotated[int, typer.Option(help=_rm("max_length"))] = 1024,
    seed: Annotated[int, typer.Option(help=_rm("seed"))] = 42,
    precision: Annotated[str, typer.Option(help=_rm("precision"))] = "auto",
    lora_r: Annotated[int, typer.Option(help=_rm("lora_r"))] = 0,
    lora_alpha: Annotated[int, typer.Option(help=_rm("lora_alpha"))] = 16,
    lora_dropout: Annotated[float, typer.Option(help=_rm("lora_dropout"))] = 0.0,
    gradient_checkpointing: Annotated[
        bool, typer.Option("--gradient-checkpointing", help=_rm("gradient_checkpointing"))
    ] = False,
    save_steps: Annotated[int, typer.Option(help=_rm("save_steps"))] = 0,
    keep_checkpoints: Annotated[int, typer.Option(help=_rm("keep_checkpoints"))] = 2,
    logging_steps: Annotated[int, typer.Option(help=_rm("logging_steps"))] = 10,
    resume: Annotated[bool, typer.Option("--resume", help=_rm("resume"))] = False,
    limit: Annotated[int | None, typer.Option(help=_rm("limit"))] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    accelerate_config: AccelerateConfigOpt = None,
    num_processes: NumProcessesOpt = None,
    print_launch: PrintLaunchOpt = False,
) -> None:
    """Train a reward model (BT, fixed margin, or AAM-PR / AAM-LD adaptive margin).

    On several GPUs: --accelerate-config re-runs this same command under `accelerate launch` (one
    process per GPU; only rank 0 writes files and logs; the global batch is batch-size x processes x
    grad-accum). ZeRO-3/FSDP do full fine-tuning without --lora-r, --sft-init, --ref-logps online,
    --save-steps or --resume. Without --accelerate-config the command also runs as is under your own
    `accelerate launch -m charm_apps.train rm ...`.

    Examples:

      charm-train rm --data exports/preferenceTraining --out runs/rm-bt

      charm-train rm -d exports/preferenceTraining -o runs/rm-ld --loss aam-ld --sft-reg 0.01 --epochs 2

      charm-train rm -d exports/preferenceTraining -o runs/rm-pr --loss aam-pr --sft-init --lora-r 16

      charm-train rm -d pairs.parquet -o runs/rm-gm --loss margin --margin-column margin_judge

      charm-train rm -d exports/preferenceTraining -o runs/rm-human --loss margin --margin-source agreement

      charm-train rm -d exports/ds/preferenceTraining -o runs/rm-conf --loss aam-ld --pair-weight confidence

      charm-train rm -d exports/preferenceTraining -o runs/rm-ld --loss aam-ld --save-steps 100 --resume

      charm-train rm -d exports/preferenceTraining -o runs/pr-reg --preset paper-aam-pr-reg

      charm-train rm -d exports/preferenceTraining -o runs/pr-reg-1ep --preset paper-aam-pr-reg --epochs 1

      charm-train rm -d exports/preferenceTraining -o runs/rm-ld-8b --model models/llama-3.1-8b --loss aam-ld --accelerate-config deepspeed-zero3 --batch-size 4 --grad-accum 4 --epochs 2

      charm-train rm -d exports/preferenceTraining -o runs/rm-ld --accelerate-config fsdp --print-launch

      charm-train rm -d Skywork-Reward-Preference-80K-v0.2 -o runs/rm-skywork --loss aam-ld

      charm-train rm -d exports/preferenceTraining -d ultrafeedback_binarized --mix 0.5,0.5 -o runs/rm-mix
    """
    from pydantic import ValidationError

    from charm_builder.export.locate import subset_path
    from training.rm.trainer import train_reward_model

    data = [subset_path(d, "preferenceTraining") for d in data]
    given = {k: ctx.params[k] for k in _explicit(ctx) if k in RMTrainConfig.model_fields or k == "margin_source"}
    given.pop("preset", None)
    try:
        cfg = RMTrainConfig.from_preset(preset, **{**given, "data": data, "output_dir": out})
    except ValidationError as exc:
        fail(option_error(exc, RM_OPTIONS))
    except ValueError as exc:  # an unknown preset or margin source, a margin source without --loss margin
        fail(str(exc))
    if accelerate_config is not None:
        from training.common.launch import launch_from_cli
        from training.rm.trainer import validate_config

        try:
            validate_config(cfg)
        except user_errors() as exc:
            fail(str(exc))
        launch_from_cli("rm", accelerate_config, num_processes, print_launch)

    def log(entry: dict[str, float]) -> None:
        if not quiet:
            typer.echo(step_line(entry), err=True)

    try:
        result = train_reward_model(cfg, progress=not quiet, on_log=log, notify=note)
    except user_errors() as exc:
        fail(str(exc))
    if is_main_process():
        typer.echo(f"saved reward model to {result.output_dir} ({result.steps} steps)")


def table3(
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="Export root holding preferenceTraining/ and roleReward/ "
            "(or the preferenceTraining export, with --eval).",
        ),
    ],
    out: Annotated[
        Path, typer.Option("--out", "-o", help="Folder for runs/PRESET/ and results.md, results.csv, summary.json.")
    ],
    eval_data: Annotated[
        Path | None, typer.Option("--eval", help="roleReward export when --data is not an export root.")
    ] = None,
    model: Annotated[
        str, typer.Option(help="Backbone for every preset: local HF causal-LM folder or 'offline'.")
    ] = "offline",
    presets: Annotated[
        str,
        typer.Option(
            help="Comma-separated presets, in table order (ablations after the paper rows). Paper rows: "
            + ", ".join(PAPER_PRESETS)
            + "; ablations: "
            + ", ".join(ABLATIONS)
            + "."
        ),
    ] = ",".join(PAPER_PRESETS),
    ablations: Annotated[
        bool,
        typer.Option(
            "--ablations",
            help="Also train every ablation preset (one choice the paper leaves open flipped: "
            + ", ".join(ABLATIONS)
            + "), shown after the paper rows with their change vs paper-bt.",
        ),
    ] = False,
    max_steps: Annotated[
        int | None,
        typer.Option(help="Stop every run after this many optimizer steps (default: the presets' 2 epochs)."),
    ] = None,
    seed: Annotated[
        int, typer.Option(help="One seed for every run (head init, data order) and for the bootstrap intervals.")
    ] = 42,
    batch_size: Annotated[int, typer.Option(help="Pairs per micro-batch (training and evaluation).")] = 4,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps.")] = 1,
    max_length: Annotated[int, typer.Option(help="Max training tokens per prompt+response.")] = 1024,
    lora_r: Annotated[int, typer.Option(help="LoRA rank; 0 = full fine-tuning.")] = 0,
    limit: Annotated[int | None, typer.Option(help="Train on the first N pairs only.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
    bootstrap: BootstrapOpt = BOOTSTRAP,
) -> None:
    """Train every paper preset on the same data and seed, evaluate each on roleReward and write the
    paper's Table 3 layout (rows = presets with SFT Pre-train / SFT Reg., zh / en / avg. accuracy,
    changes vs paper-bt with paired bootstrap p-values, cells ± their 95 % interval) as results.md,
    results.csv and summary.json. A rerun reuses finished runs.
    --ablations adds rows for the choices the paper leaves open (margin gradient, pi_ref, reductions).

    Examples:

      charm-train table3 --data exports/charm --out runs/table3

      charm-train table3 -d exports/charm -o runs/t3-small --presets paper-bt,paper-aam-ld,paper-aam-pr --max-steps 200

      charm-train table3 -d exports/charm -o runs/t3-ablations --ablations

      charm-train table3 -d exports/charm/preferenceTraining --eval exports/charm/roleReward -o runs/t3 --lora-r 16
    """
    from pydantic import ValidationError

    from training.rm.presets import parse_presets
    from training.rm.table3 import Table3Error, print_table3, run_table3

    check_bootstrap(bootstrap)
    try:
        chosen = parse_presets(presets, ablations)
    except ValueError as exc:
        fail(str(exc))
    overrides: dict[str, Any] = {
        "model": model,
        "seed": seed,
        "batch_size": batch_size,
        "grad_accum": grad_accum,
        "max_length": max_length,
        "lora_r": lora_r,
        "max_steps": max_steps,
        "limit": limit,
    }

    def announce(i: int, preset: Any) -> None:
        if not quiet:
            typer.echo(f"[{i + 1}/{len(chosen)}] {preset.name}: {preset.label}", err=True)

    try:
        rows = run_table3(
            chosen, data, eval_data, out, overrides, progress=not quiet, on_preset=announce, bootstrap=bootstrap
        )
    except ValidationError as exc:
        fail(option_error(exc))
    except (Table3Error, *user_errors()) as exc:
        fail(str(exc))
    print_table3(rows)
    typer.echo(f"wrote {out}/results.md, results.csv, summary.json")

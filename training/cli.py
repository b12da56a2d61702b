"""``charm-train``: train and evaluate Act-Adaptive-Margin reward models.

A thin layer over :mod:`training.rm`; every command validates its inputs first and fails with one
line naming the file/field (exit code 2) before anything is written.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from charm_builder.cli.help_text import reflow_app
from charm_builder.console import fail
from charm_builder.options import field_help, option_error
from training.common.distributed import is_main_process
from training.common.launch import AccelerateConfigOpt, NumProcessesOpt, PrintLaunchOpt
from training.common.stats import BOOTSTRAP
from training.evaluation.cli import BootSeedOpt, BootstrapOpt, check_bootstrap
from training.rm.presets import ABLATIONS, PAPER_PRESETS
from training.rm.trainer import RMTrainConfig

app = typer.Typer(
    name="charm-train",
    help="Train Act-Adaptive-Margin (AAM) reward models on Charm data and evaluate them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _user_errors() -> tuple[type[BaseException], ...]:
    from charm_builder.offline_models import OfflineModelError
    from training.rm.data import DataError
    from training.rm.model import RewardModelError
    from training.rm.trainer import TrainingInputError

    return (DataError, RewardModelError, TrainingInputError, OfflineModelError)


def _explicit(ctx: typer.Context) -> set[str]:
    """Names of the options the user set on the command line (or via an env var), not defaults.

    Compared by name: typer ships its own copy of click, whose ``ParameterSource`` is not click's."""
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}
    return {name for name, src in sources.items() if src is not None and src.name not in ("DEFAULT", "DEFAULT_MAP")}


def _rm(name: str) -> str:
    """Help of ``charm-train rm --NAME``: the RMTrainConfig field's description (one source)."""
    return field_help(RMTrainConfig, name)


RM_OPTIONS = {"output_dir": "--out"}  # fields whose option is not --FIELD-NAME
# options of `charm-train rm` that are no RMTrainConfig field (tests/training/test_config_options.py)
RM_CLI_ONLY = ("margin_source", "quiet", "accelerate_config", "num_processes", "print_launch")


def _note(text: str) -> None:
    """A note worth seeing even with --quiet (on stderr, once: rank 0)."""
    if is_main_process():
        typer.echo(text, err=True)


@app.command("rm")
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
    `accelerate launch -m training.cli rm ...`.

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
    from training.rm.presets import resolve
    from training.rm.trainer import train_reward_model

    data = [subset_path(d, "preferenceTraining") for d in data]
    try:
        v = resolve(preset, ctx.params, _explicit(ctx))
    except ValueError as exc:
        fail(str(exc))
    if v["margin_source"] is not None:
        from training.rm.margin_sources import margin_column_for

        if v["loss"] != "margin":
            fail(f"--margin-source needs --loss margin (got --loss {v['loss']})")
        try:
            v["margin_column"] = margin_column_for(v["margin_source"])
        except ValueError as exc:
            fail(str(exc))
    v["data"], v["output_dir"] = data, out
    try:
        cfg = RMTrainConfig(**{k: val for k, val in v.items() if k in RMTrainConfig.model_fields})
    except ValidationError as exc:
        fail(option_error(exc, RM_OPTIONS))
    if accelerate_config is not None:
        from training.common.launch import launch_from_cli
        from training.rm.trainer import validate_config

        try:
            validate_config(cfg)
        except _user_errors() as exc:
            fail(str(exc))
        launch_from_cli("rm", accelerate_config, num_processes, print_launch)

    def log(entry: dict[str, float]) -> None:
        if not quiet:
            typer.echo(
                f"step {int(entry['step'])}  loss {entry['loss']:.4f}  acc {entry['accuracy']:.3f}  "
                f"margin {entry['margin_mean']:.3f}±{entry['margin_std']:.3f}  lr {entry['lr']:.2e}",
                err=True,
            )

    try:
        result = train_reward_model(cfg, progress=not quiet, on_log=log, notify=_note)
    except _user_errors() as exc:
        fail(str(exc))
    if is_main_process():
        typer.echo(f"saved reward model to {result.output_dir} ({result.steps} steps)")


@app.command("table3")
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
    except (Table3Error, *_user_errors()) as exc:
        fail(str(exc))
    print_table3(rows)
    typer.echo(f"wrote {out}/results.md, results.csv, summary.json")


@app.command("eval-rm")
def eval_rm(
    model: Annotated[
        Path | None, typer.Argument(help="Reward-model folder written by `charm-train rm` (or use --judge).")
    ] = None,
    data: Annotated[
        Path | None, typer.Option("--data", "-d", help="roleReward export (save_to_disk folder, parquet or jsonl).")
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(
            "--judge",
            "-j",
            help="Evaluate an LLM judge from the roster "
            "instead of a reward model: each pair is asked in both orders "
            "(paper Table 2's generative baselines).",
        ),
    ] = None,
    roster: Annotated[str, typer.Option(help="Roster name or YAML path for --judge.")] = "offline",
    cache: Annotated[
        Path | None,
        typer.Option(
            help="SQLite file caching --judge calls (default: OUT/llm_cache.db with --out); a rerun is then free."
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Write results.md, results.csv, summary.json and pairs.jsonl here."),
    ] = None,
    split: Annotated[
        str | None,
        typer.Option(
            help="Split to use (default: every split; an export with several, "
            "e.g. --shift test_id/test_ood, gets one row per split)."
        ),
    ] = None,
    name: Annotated[str | None, typer.Option(help="Method name in the table (default: model folder or judge).")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per forward batch.")] = 8,
    max_length: Annotated[int, typer.Option(help="Max tokens per context+reply.")] = 2048,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... (default: cuda if available).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
    benchmark: Annotated[
        tuple[str, Path] | None,
        typer.Option(
            "--benchmark",
            "-b",
            metavar="NAME FILE",
            help="Instead of --data: a general RM benchmark "
            "file as published (rewardbench or judgebench; "
            "parquet, json or jsonl), scored as its authors "
            "do (paper Table 1); judgebench reports Avg. (pairs) "
            "and Avg. (categories); characterbench takes the "
            "eval_data/raw_data folder of a CharacterBench clone "
            "(or one of its files) and reports the correlation "
            "of the RM's scores with the human scores per dimension.",
        ),
    ] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="--benchmark characterbench: zh (default, the items as published) or en (their translation_en), "
            "e.g. -b characterbench CharacterBench/eval_data/raw_data --language en."
        ),
    ] = None,
    limit: Annotated[
        int | None,
        typer.Option(help="--benchmark characterbench: only the first N items of each dimension's file (a quick run)."),
    ] = None,
    bootstrap: BootstrapOpt = BOOTSTRAP,
    seed: BootSeedOpt = 0,
) -> None:
    """Pairwise accuracy of a reward model (or an LLM judge) on Charm-RoleReward, per dimension x language
    (paper Table 2), or of a reward model on RewardBench / JudgeBench (Table 1, --benchmark), or its
    correlation with CharacterBench's human scores (--benchmark characterbench).

    Examples:

      charm-train eval-rm runs/rm-ld --data exports/roleReward

      charm-train eval-rm runs/rm-pr -d exports/roleReward --out runs/rm-pr/eval --name "AAM-PR w/ SFT"

      charm-train eval-rm runs/rm-ld -d exports/shift-user/roleReward   # ID vs OOD accuracy, one table

      charm-train eval-rm --judge gpt-4o --roster paper -d exports/roleReward -o runs/gpt-4o-judge

      charm-train eval-rm runs/rm-ld --benchmark rewardbench filtered-00000-of-00001.parquet -o runs/rm-ld/rb

      charm-train eval-rm runs/rm-ld -b judgebench "dataset=judgebench,response_model=gpt-4o-2024-05-13.jsonl"

      charm-train eval-rm runs/rm-ld -b characterbench CharacterBench/eval_data/raw_data --language en -o runs/rm-ld/cb
    """
    if benchmark is not None:
        from training.rm.benchmark_cli import eval_benchmark

        if data is not None or judge is not None:
            fail("--benchmark replaces --data and takes a reward model, not --judge")
        check_bootstrap(bootstrap)
        return eval_benchmark(
            model,
            benchmark[0],
            benchmark[1],
            out,
            name,
            batch_size,
            max_length,
            device,
            quiet,
            bootstrap,
            seed,
            language,
            limit,
        )
    if language is not None or limit is not None:
        fail("--language and --limit apply to --benchmark characterbench only")

    from charm_builder.llm.progress import count_bar
    from training.rm.evaluate import load_role_reward, print_table, summarize, write_report
    from training.rm.split_eval import list_splits, print_splits, write_splits_report

    if (model is None) == (judge is None):
        fail("give a reward-model folder or --judge ROSTER_ENTRY (exactly one)")
    if data is None:
        fail("--data: give the roleReward export to evaluate on")
    from charm_builder.export.locate import subset_path

    data = subset_path(data, "roleReward")
    if batch_size < 1:
        fail(f"--batch-size must be >= 1, got {batch_size}")
    check_bootstrap(bootstrap)
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    try:
        names = list_splits(data) if split is None else []
        per_split = len(names) > 1  # e.g. a shift export: test_id + test_ood, one table row each
        by_split = (
            {s: load_role_reward(data, s)[0] for s in names} if per_split else {split: load_role_reward(data, split)[0]}
        )
        if judge is not None:
            db = cache if cache is not None else (out / "llm_cache.db" if out is not None else None)
            score = _judge_scorer(judge, roster, db)
        else:
            assert model is not None
            score = _reward_model_scorer(model, device, batch_size, max_length)
    except _user_errors() as exc:
        fail(str(exc))
    method = name or judge or model.resolve().name  # type: ignore[union-attr]
    with count_bar("eval-rm", disable=quiet) as bar:
        task = bar.add_task("eval", total=sum(len(r) for r in by_split.values()))
        results_by = score(by_split, lambda k: bar.advance(task, k))
    results = [r for rs in results_by.values() for r in rs]
    summary = summarize(results, bootstrap, seed)
    if per_split:
        print_splits({s: summarize(r) for s, r in results_by.items()}, method)
    else:
        print_table(summary, method)
    if out is not None:
        write_report(out, summary, results, method)
        if per_split:
            write_splits_report(out, {s: summarize(r) for s, r in results_by.items()}, method)
        typer.echo(f"wrote {out}/results.md and results.csv" + (" and splits.md" if per_split else ""))


# split name -> rows, then a progress callback (pairs done) -> split name -> PairResults
Scorer = Callable[[dict[Any, Any], Callable[[int], None]], dict[Any, list[Any]]]


def _reward_model_scorer(model: Path, device: str | None, batch_size: int, max_length: int) -> Scorer:
    """Load the reward model now (so errors come first); return split rows -> PairResults."""
    import torch

    from training.rm.evaluate import evaluate_reward_model
    from training.rm.model import load_reward_model

    rm_model = load_reward_model(model, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))

    def score(by_split: dict[Any, Any], progress: Callable[[int], None]) -> dict[Any, list[Any]]:
        return {
            s: evaluate_reward_model(rm_model, rows, batch_size=batch_size, max_length=max_length, on_progress=progress)
            for s, rows in by_split.items()
        }

    return score


def _judge_scorer(judge: str, roster: str, db: Path | None) -> Scorer:
    """Check the judge model before any work (key, server); return split rows -> PairResults."""
    import asyncio

    from charm_builder.llm import LLMClient
    from charm_builder.llm.errors import LLMConfigError, LLMError
    from training.rm.evaluate import evaluate_judge_async, llm_judge

    try:
        LLMClient(roster).preflight([judge])  # no cache file yet: nothing is written before this passes
    except LLMConfigError as exc:
        fail(str(exc))

    def score(by_split: dict[Any, Any], progress: Callable[[int], None]) -> dict[Any, list[Any]]:
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        client = LLMClient(roster, db=db, run_id="eval-rm")

        async def run() -> dict[Any, list[Any]]:
            try:
                return {
                    s: await evaluate_judge_async(
                        llm_judge(client, judge), rows, concurrency=client.spec(judge).concurrency, on_progress=progress
                    )
                    for s, rows in by_split.items()
                }
            finally:
                await client.aclose()

        try:
            return asyncio.run(run())
        except LLMError as exc:
            fail(f"--judge {judge}: {exc}")

    return score


@app.command("diagnose")
def diagnose_cmd(
    model: Annotated[Path, typer.Argument(help="Reward-model folder written by `charm-train rm`.")],
    data: Annotated[
        Path, typer.Option("--data", "-d", help="preferenceTraining export with an agreement column (split `train`).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [default: RM_DIR/diagnostics].")
    ] = None,
    margin: Annotated[str, typer.Option(help="AAM margin: auto (pr for aam-pr models, else ld), ld or pr.")] = "auto",
    beta: Annotated[float | None, typer.Option(help="Margin scale [default: the model's beta].")] = None,
    confidence: Annotated[
        float, typer.Option(help="List pairs where the model gives the annotators' choice at most 1 - confidence.")
    ] = 0.8,
    agreement_column: Annotated[str, typer.Option(help="Agreement column of the data.")] = "margin_agreement",
    limit: Annotated[int | None, typer.Option(help="Use only the first N pairs.")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per forward batch.")] = 8,
    max_length: Annotated[int, typer.Option(help="Max tokens per prompt+response.")] = 1024,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: cuda if available).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Plot the AAM margin per pair against annotator agreement, report their Spearman correlation and
    list the pairs where the model is confidently against the annotators (CSV).

    Examples:

      charm-train diagnose runs/rm-ld --data exports/charm/preferenceTraining

      charm-train diagnose runs/rm-pr -d exports/charm/preferenceTraining --margin pr --confidence 0.9 -o diag
    """

    from charm_builder.export.locate import subset_path
    from charm_builder.llm.progress import count_bar
    from training.rm.diagnostics import DiagnosticsError, diagnose

    data = subset_path(data, "preferenceTraining")
    if batch_size < 1:
        fail(f"--batch-size must be >= 1, got {batch_size}")
    target = out or model / "diagnostics"
    bar = count_bar("diagnose", disable=quiet)
    task = bar.add_task("pairs", total=None)
    started: list[bool] = []

    def on_progress(done: int, total: int) -> None:
        if not started:  # the bar appears once the data and model are checked and scoring begins
            started.append(True)
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        summary = diagnose(
            model,
            data,
            target,
            margin=margin,
            beta=beta,
            confidence=confidence,
            agreement_column=agreement_column,
            limit=limit,
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            on_progress=on_progress,
        )
    except (DiagnosticsError, *_user_errors()) as exc:
        fail(str(exc))
    finally:
        if started:
            bar.stop()
    rho = summary["spearman_agreement_vs_aam_margin"]
    typer.echo(
        f"{summary['pairs']} pairs; Spearman(agreement, {summary['margin']} margin) = "
        f"{'n/a' if rho is None else f'{rho:.4f}'}; {summary['confidently_against_annotators']} pair(s) "
        f"confidently against the annotators"
    )
    typer.echo(f"wrote {target}/margin_vs_agreement.png, pairs.csv, disagreements.csv, summary.json")


@app.command("self-evolve")
def self_evolve_cmd(
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled preferenceTraining export (split train).")],
    eval_data: Annotated[Path, typer.Option("--eval", help="roleReward export for the accuracy after each round.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New folder: round-R/{train.parquet,model}, rounds.md.")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace holding the unannotated candidate sets [default: $CHARM_WORKSPACE or ./charm-workspace].",
        ),
    ] = None,
    init_rm: Annotated[Path | None, typer.Option(help="Starting reward model [default: train one on --data].")] = None,
    rounds: Annotated[int, typer.Option(help="Self-evolution rounds.")] = 2,
    threshold: Annotated[float, typer.Option(help="Keep a pseudo pair when r(best) - r(worst) >= this.")] = 1.0,
    loss: Annotated[str, typer.Option(help="bt, aam-pr or aam-ld.")] = "bt",
    model: Annotated[
        str, typer.Option(help="Backbone for round 0 when no --init-rm ('offline' = SmolLM2).")
    ] = "offline",
    beta: Annotated[float | None, typer.Option(help="Adaptive-margin scale.")] = None,
    epochs: Annotated[float, typer.Option(help="Epochs per round.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps per round.")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per micro-batch.")] = 4,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-5,
    max_length: Annotated[int, typer.Option(help="Max tokens per prompt+response.")] = 1024,
    seed: Annotated[int, typer.Option(help="Seed.")] = 42,
    max_unlabelled: Annotated[int | None, typer.Option(help="Score at most N unannotated sets per round.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """ChARM self-evolution: the RM pseudo-labels unannotated candidate sets (best vs worst, kept when
    the reward gap clears --threshold), retrains on labelled + pseudo pairs, N rounds; prints the
    roleReward accuracy after each round.

    Examples:

      charm-train self-evolve -d exports/charm/preferenceTraining --eval exports/charm/roleReward -o runs/evolve

      charm-train self-evolve -d pt --eval rr -o runs/evo --init-rm runs/rm-ld --loss aam-ld --rounds 3 --threshold 2
    """
    from pydantic import ValidationError

    from charm_builder.errors import CharmError
    from charm_builder.export.locate import subset_path
    from charm_builder.store import resolve_workspace
    from training.rm.self_evolve import SelfEvolveConfig, SelfEvolveError, round_rows, self_evolve

    data, eval_data = subset_path(data, "preferenceTraining"), subset_path(eval_data, "roleReward", "--eval")
    cfg = SelfEvolveConfig(
        workspace=resolve_workspace(workspace),
        data=data,
        eval_data=eval_data,
        output_dir=out,
        rounds=rounds,
        threshold=threshold,
        init_rm=init_rm,
        model=model,
        loss=loss,
        beta=beta,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        seed=seed,
        max_unlabelled=max_unlabelled,
    )

    def report(res: object) -> None:
        summary = getattr(res, "summary", {})
        acc = summary.get("avg")
        typer.echo(
            f"round {getattr(res, 'round', '?')}: {getattr(res, 'pseudo_pairs', 0)} pseudo pair(s), "
            f"roleReward Avg. {'-' if acc is None else f'{acc:.1f}'}",
            err=True,
        )

    try:
        results = self_evolve(cfg, progress=not quiet, on_round=report)
    except ValidationError as exc:  # a round's RMTrainConfig rejects an option (e.g. --batch-size 0)
        fail(option_error(exc))
    except (SelfEvolveError, CharmError, *_user_errors()) as exc:
        fail(str(exc))
    header, rows = round_rows(results)
    from rich.console import Console
    from rich.table import Table

    table = Table(title="self-evolution: roleReward accuracy (%) per round")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    Console().print(table)
    typer.echo(f"wrote {out}/rounds.md, rounds.csv, summary.json")


from training.evaluation import cli as evaluation_cli  # noqa: E402
from training.grpo import cli as grpo_cli  # noqa: E402

app.command("grpo")(grpo_cli.grpo)
app.command("eval-dq")(evaluation_cli.eval_dq)
app.command("eval-ce")(evaluation_cli.eval_ce)
app.command("compare")(evaluation_cli.compare)
reflow_app(app)


def main() -> None:
    """Entry point of the ``charm-train`` script (one-line user errors, exit 2)."""
    from charm_builder.cli.common import run_app

    run_app(app)


if __name__ == "__main__":  # pragma: no cover
    main()

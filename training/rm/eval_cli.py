"""``charm-train eval-rm``: a reward model (or an LLM judge) on roleReward (Table 2), or a reward model on a
general benchmark (``--benchmark``); the work is :mod:`training.rm.eval_run`'s and :mod:`training.rm.benchmark_cli`'s."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charm_kernel.console import fail
from training.common.cli_options import BootSeedOpt, BootstrapOpt, check_bootstrap
from training.common.stats import BOOTSTRAP


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
    from training.rm.eval_run import EvalRunError, evaluate_run, print_eval_run

    try:
        run = evaluate_run(
            model,
            data,
            judge=judge,
            roster=roster,
            cache=cache,
            out=out,
            split=split,
            name=name,
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            progress=not quiet,
            bootstrap=bootstrap,
            seed=seed,
        )
    except EvalRunError as exc:
        fail(str(exc))
    print_eval_run(run)

"""``charm-train eval-dq`` and ``charm-train compare`` (mounted in training.cli)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

import typer

from charm_builder.console import fail


def eval_dq(
    model: Annotated[str, typer.Option("--model", "-m", help="Evaluated model: a local HF folder, 'offline' "
                                       "(bundled SmolLM2), or a roster entry.")],
    data: Annotated[Path, typer.Option("--data", "-d", help="dialogueQuality export (save_to_disk folder, "
                                       "parquet or jsonl).")],
    judge: Annotated[str | None, typer.Option("--judge", "-j", help="Judge roster entry.")] = None,
    judges: Annotated[str | None, typer.Option("--judges", help="Several judges, comma-separated: scores are "
                                               "averaged and their agreement reported.")] = None,
    roster: Annotated[str, typer.Option("--roster", help="Roster name or YAML path for judges and roster "
                                        "models.")] = "offline",
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write results.md/.csv, summary.json, "
                                             "judgements.jsonl, replies.jsonl here.")] = None,
    split: Annotated[str | None, typer.Option(help="Split to use (default: all).")] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N items.")] = None,
    name: Annotated[str | None, typer.Option(help="Model name in the table (default: --model).")] = None,
    max_new_tokens: Annotated[int, typer.Option(help="Reply length for local models.")] = 256,
    batch_size: Annotated[int, typer.Option(help="Generation batch for local models.")] = 4,
    cache: Annotated[Path | None, typer.Option(help="SQLite file caching LLM calls (default: OUT/llm_cache.db "
                                               "with --out); a rerun is then free.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Score a model on Charm-DialogueQuality with LLM judges (1-5 per item; paper Table 4 layout).

    Examples:

      charm-train eval-dq --model runs/grpo --data exports/dialogueQuality --judge gpt-4o --roster paper -o runs/grpo/dq

      charm-train eval-dq -m claude-3.5-sonnet -d exports/dialogueQuality --judges gpt-4o,claude-3.5-sonnet --roster paper
    """
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from charm_builder.errors import CharmError
    from charm_builder.export.locate import subset_path
    from charm_builder.llm import LLMClient
    from charm_builder.llm.errors import LLMConfigError
    from charm_builder.llm.progress import progress_bar
    from training.evaluation.dialogue_quality import (
        RosterResponder,
        evaluate_dialogue_quality,
        load_dialogue_quality,
        resolve_responder,
    )
    from training.evaluation.tables import print_table, summarize, write_report

    if (judge is None) == (judges is None):
        fail("pass exactly one of --judge JUDGE or --judges A,B,C")
    data = subset_path(data, "dialogueQuality")
    judge_list = [j.strip() for j in (judges or judge or "").split(",") if j.strip()]
    if not judge_list or len(set(judge_list)) != len(judge_list):
        fail("--judges: give one or more distinct roster entries, comma-separated")
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    if max_new_tokens < 1 or batch_size < 1:
        fail("--max-new-tokens and --batch-size must be >= 1")
    db = cache if cache is not None else (out / "llm_cache.db" if out is not None else None)
    try:
        items = load_dialogue_quality(data, split, limit)
        if db is not None:
            db.parent.mkdir(parents=True, exist_ok=True)
        client = LLMClient(roster, db=db, run_id="eval-dq")
        responder = resolve_responder(model, client, max_new_tokens, batch_size)
    except (CharmError, LLMConfigError) as exc:
        fail(str(exc))
    needed = judge_list + ([model] if isinstance(responder, RosterResponder) else [])

    async def run() -> Any:
        try:
            try:
                await client.apreflight(needed)
            except LLMConfigError as exc:
                fail(str(exc))
            with progress_bar(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("{task.fields[cost]}"), TimeRemainingColumn(), disable=quiet) as bar:
                t_rep = bar.add_task("replies", total=len(items), cost="")
                t_jud = bar.add_task("judgements", total=len(items) * len(judge_list), cost="")

                def judged(n: int) -> None:
                    bar.update(t_jud, advance=n, cost=f"${client.total_cost():.4f}")

                return await evaluate_dialogue_quality(items, responder, judge_list, client,
                                                       on_reply=lambda n: bar.advance(t_rep, n),
                                                       on_judgement=judged)
        finally:
            await client.aclose()

    result = asyncio.run(run())
    method = name or model
    summary = summarize(result)
    print_table(summary, method)
    if out is not None:
        write_report(out, summary, result, method)
        typer.echo(f"wrote {out}/results.md, results.csv and judgements.jsonl")


def compare(
    run_a: Annotated[Path, typer.Argument(help="First eval-rm / eval-dq output folder (or its results.csv).")],
    run_b: Annotated[Path, typer.Argument(help="Second one; deltas are B - A.")],
) -> None:
    """Print two evaluation tables side by side with deltas (B - A).

    Examples:

      charm-train compare runs/rm-bt/eval runs/rm-ld/eval

      charm-train compare runs/base/dq runs/grpo/dq
    """
    from training.evaluation.compare import CompareError, compare, print_comparison, read_results

    try:
        a, b = read_results(run_a), read_results(run_b)
        rows = compare(a, b)
    except CompareError as exc:
        fail(str(exc))
    print_comparison(a, b, rows)

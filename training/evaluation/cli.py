"""``charm-train eval-dq`` and ``charm-train compare`` (mounted in charm_apps.train)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer

from charm_kernel.console import fail
from training.common.cli_options import BootSeedOpt, BootstrapOpt, check_bootstrap
from training.common.stats import BOOTSTRAP

# options eval-dq and eval-ce share
ModelOpt = Annotated[
    str,
    typer.Option(
        "--model", "-m", help="Evaluated model: a local HF folder, 'offline' (bundled SmolLM2), or a roster entry."
    ),
]
JudgeOpt = Annotated[str | None, typer.Option("--judge", "-j", help="Judge roster entry.")]
JudgesOpt = Annotated[
    str | None,
    typer.Option("--judges", help="Several judges, comma-separated: scores are averaged and their agreement reported."),
]
RosterOpt = Annotated[str, typer.Option("--roster", help="Roster name or YAML path for judges and roster models.")]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", "-o", help="Write results.md/.csv, summary.json, judgements.jsonl, replies.jsonl here."),
]
NameOpt = Annotated[str | None, typer.Option(help="Model name in the table (default: --model).")]
MaxNewTokensOpt = Annotated[int, typer.Option(help="Reply length for local models.")]
BatchSizeOpt = Annotated[int, typer.Option(help="Generation batch for local models.")]
CacheOpt = Annotated[
    Path | None,
    typer.Option(help="SQLite file caching LLM calls (default: OUT/llm_cache.db with --out); a rerun is then free."),
]
T = TypeVar("T")
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")]


def eval_dq(
    model: ModelOpt,
    data: Annotated[
        Path, typer.Option("--data", "-d", help="dialogueQuality export (save_to_disk folder, parquet or jsonl).")
    ],
    judge: JudgeOpt = None,
    judges: JudgesOpt = None,
    roster: RosterOpt = "offline",
    out: OutOpt = None,
    split: Annotated[str | None, typer.Option(help="Split to use (default: all).")] = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N items.")] = None,
    name: NameOpt = None,
    max_new_tokens: MaxNewTokensOpt = 256,
    batch_size: BatchSizeOpt = 4,
    cache: CacheOpt = None,
    quiet: QuietOpt = False,
    bootstrap: BootstrapOpt = BOOTSTRAP,
    seed: BootSeedOpt = 0,
) -> None:
    """Score a model on Charm-DialogueQuality with LLM judges (1-5 per item; paper Table 4 layout).

    Examples:

      charm-train eval-dq --model runs/grpo --data exports/dialogueQuality --judge gpt-4o --roster paper -o runs/grpo/dq

      charm-train eval-dq -m claude-3.5-sonnet -d exports/dialogueQuality --judges gpt-4o,claude-3.5-sonnet --roster paper
    """
    from charm_builder.export.locate import subset_path
    from training.evaluation.dialogue_quality import evaluate_dialogue_quality, load_dialogue_quality
    from training.evaluation.tables import print_table, summarize, write_report

    judge_list = _checked_judges(judge, judges, out, max_new_tokens, batch_size, bootstrap)
    data = subset_path(data, "dialogueQuality")
    items, client, responder = _load(
        lambda: load_dialogue_quality(data, split, limit),
        model,
        roster,
        cache,
        out,
        "eval-dq",
        max_new_tokens,
        batch_size,
    )
    result = _run_judged(
        client,
        _needed(judge_list, model, responder),
        len(items),
        len(items) * len(judge_list),
        quiet,
        lambda on_reply, on_judgement: evaluate_dialogue_quality(
            items, responder, judge_list, client, on_reply=on_reply, on_judgement=on_judgement
        ),
    )
    _report(result, name or model, out, lambda r: summarize(r, bootstrap, seed), print_table, write_report)


def eval_ce(
    model: ModelOpt,
    data: Annotated[
        Path,
        typer.Option(
            "--data",
            "-d",
            help="CharacterEval data folder: test_data.jsonl, character_profiles.json and (optional) id2metric.jsonl.",
        ),
    ],
    judge: JudgeOpt = None,
    judges: JudgesOpt = None,
    roster: RosterOpt = "offline",
    out: OutOpt = None,
    limit: Annotated[int | None, typer.Option(help="Evaluate only the first N test examples.")] = None,
    all_metrics: Annotated[
        bool,
        typer.Option(
            "--all-metrics", help="Score every example on all twelve metrics instead of those id2metric.jsonl lists."
        ),
    ] = False,
    name: NameOpt = None,
    max_new_tokens: MaxNewTokensOpt = 256,
    batch_size: BatchSizeOpt = 4,
    cache: CacheOpt = None,
    quiet: QuietOpt = False,
    bootstrap: BootstrapOpt = BOOTSTRAP,
    seed: BootSeedOpt = 0,
) -> None:
    """Score a model on CharacterEval with LLM judges: its twelve metrics (1-5) grouped into the paper's
    Table 4 columns Attr. / Conv. / Know. and Avg. (CharacterEval's own CharacterRM is not shipped).

    Examples:

      charm-train eval-ce --model runs/grpo --data CharacterEval/data --judge gpt-4o --roster paper -o runs/grpo/ce

      charm-train eval-ce -m qwen2.5-7b -d CharacterEval/data --judges gpt-4o,claude-3.5-sonnet --roster paper --limit 200
    """
    from training.evaluation.ce_tables import print_table, write_report
    from training.evaluation.character_eval import (
        evaluate_character_eval,
        judgement_count,
        load_character_eval,
        summarize,
    )

    judge_list = _checked_judges(judge, judges, out, max_new_tokens, batch_size, bootstrap)
    if limit is not None and limit < 1:
        fail(f"--limit must be >= 1, got {limit}")
    (examples, sparse), client, responder = _load(
        lambda: load_character_eval(data, limit, all_metrics),
        model,
        roster,
        cache,
        out,
        "eval-ce",
        max_new_tokens,
        batch_size,
    )
    result = _run_judged(
        client,
        _needed(judge_list, model, responder),
        len(examples),
        judgement_count(examples, judge_list),
        quiet,
        lambda on_reply, on_judgement: evaluate_character_eval(
            examples, responder, judge_list, client, on_reply=on_reply, on_judgement=on_judgement, sparse=sparse
        ),
    )
    _report(result, name or model, out, lambda r: summarize(r, bootstrap, seed), print_table, write_report)


def compare(
    run_a: Annotated[
        Path, typer.Argument(help="First eval-rm / eval-dq / eval-ce output folder (or its results.csv).")
    ],
    run_b: Annotated[Path, typer.Argument(help="Second one; deltas are B - A.")],
    bootstrap: Annotated[
        int,
        typer.Option(
            "--bootstrap",
            help="Resamples of the paired bootstrap of each delta (items both runs scored, from their "
            "items.jsonl): its 95 % interval and two-sided p-value; 0 turns them off.",
        ),
    ] = BOOTSTRAP,
    seed: BootSeedOpt = 0,
) -> None:
    """Print two evaluation tables side by side: each value ± its interval, the delta (B - A), and a paired
    bootstrap interval and p-value of the delta over the items both runs scored.

    Examples:

      charm-train compare runs/rm-bt/eval runs/rm-ld/eval

      charm-train compare runs/base/dq runs/grpo/dq --bootstrap 10000
    """
    from training.evaluation.compare import CompareError, compare, print_comparison, read_results

    check_bootstrap(bootstrap)
    try:
        a, b = read_results(run_a), read_results(run_b)
        rows = compare(a, b, bootstrap, seed)
    except CompareError as exc:
        fail(str(exc))
    print_comparison(a, b, rows)


# ------------------------------------------------------------- shared by eval-dq and eval-ce


def _judge_list(judge: str | None, judges: str | None) -> list[str]:
    if (judge is None) == (judges is None):
        fail("pass exactly one of --judge JUDGE or --judges A,B,C")
    judge_list = [j.strip() for j in (judges or judge or "").split(",") if j.strip()]
    if not judge_list or len(set(judge_list)) != len(judge_list):
        fail("--judges: give one or more distinct roster entries, comma-separated")
    return judge_list


def _checked_judges(
    judge: str | None, judges: str | None, out: Path | None, max_new_tokens: int, batch_size: int, bootstrap: int
) -> list[str]:
    """The options eval-dq and eval-ce check first, in order (judges, --out, sizes, --bootstrap); the judges."""
    judge_list = _judge_list(judge, judges)
    _check_run_options(out, max_new_tokens, batch_size)
    check_bootstrap(bootstrap)
    return judge_list


def _load(
    load: Callable[[], T],
    model: str,
    roster: str,
    cache: Path | None,
    out: Path | None,
    run_id: str,
    max_new_tokens: int,
    batch_size: int,
) -> tuple[T, Any, Any]:
    """``load()`` (the items), the LLM client and the responder for ``model``; a bad file, roster or model
    ends in its one-line error before anything is generated."""
    from charm_builder.llm.errors import LLMConfigError
    from charm_kernel.errors import CharmError
    from training.evaluation.dialogue_quality import resolve_responder

    try:
        items = load()
        client = _client(roster, cache, out, run_id)
        responder = resolve_responder(model, client, max_new_tokens, batch_size)
    except (CharmError, LLMConfigError) as exc:
        fail(str(exc))
    return items, client, responder


def _check_run_options(out: Path | None, max_new_tokens: int, batch_size: int) -> None:
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    if max_new_tokens < 1 or batch_size < 1:
        fail("--max-new-tokens and --batch-size must be >= 1")


def _client(roster: str, cache: Path | None, out: Path | None, run_id: str) -> Any:
    """The LLM client for replies and judges; calls cached in ``cache`` (default OUT/llm_cache.db)."""
    from charm_builder.llm import LLMClient

    db = cache if cache is not None else (out / "llm_cache.db" if out is not None else None)
    if db is not None:
        db.parent.mkdir(parents=True, exist_ok=True)
    return LLMClient(roster, db=db, run_id=run_id)


def _run_judged(
    client: Any,
    needed: list[str],
    n_replies: int,
    n_judgements: int,
    quiet: bool,
    work: Callable[[Callable[[int], None], Callable[[int], None]], Awaitable[Any]],
) -> Any:
    """Preflight the roster entries (one-line error, exit 2), then run ``work(on_reply, on_judgement)``
    under two progress bars (replies; judgements with the running judge cost)."""
    from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

    from charm_builder.llm.errors import LLMConfigError
    from charm_kernel.progress import progress_bar

    async def run() -> Any:
        try:
            try:
                await client.apreflight(needed)
            except LLMConfigError as exc:
                fail(str(exc))
            with progress_bar(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[cost]}"),
                TimeRemainingColumn(),
                disable=quiet,
            ) as bar:
                t_rep = bar.add_task("replies", total=n_replies, cost="")
                t_jud = bar.add_task("judgements", total=n_judgements, cost="")

                def judged(n: int) -> None:
                    bar.update(t_jud, advance=n, cost=f"${client.total_cost():.4f}")

                return await work(lambda n: bar.advance(t_rep, n), judged)
        finally:
            await client.aclose()

    return asyncio.run(run())


def _needed(judge_list: list[str], model: str, responder: Any) -> list[str]:
    """Roster entries to preflight: the judges, and the evaluated model when it is one."""
    from training.evaluation.dialogue_quality import RosterResponder

    return judge_list + ([model] if isinstance(responder, RosterResponder) else [])


def _report(
    result: Any,
    method: str,
    out: Path | None,
    summarize: Callable[[Any], dict[str, Any]],
    print_table: Callable[[dict[str, Any], str], None],
    write_report: Callable[[Path, dict[str, Any], Any, str], Any],
) -> None:
    summary = summarize(result)
    print_table(summary, method)
    if out is not None:
        write_report(out, summary, result, method)
        typer.echo(
            f"wrote {out}/results.md, results.csv, summary.json, judgements.jsonl, replies.jsonl (and items.jsonl with intervals)"
        )

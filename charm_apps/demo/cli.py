"""`charm-build demo`: run the whole pipeline on the offline models and name what it left."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from charm_apps.demo.steps import DemoConfig, StepResult, run_demo, size_of
from charm_builder.store import resolve_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console
from charm_kernel.errors import CharmError

STYLE = {"ok": "green", "skipped": "yellow", "failed": "red"}


def demo(
    workspace: WorkspaceOpt = None,
    dialogues: Annotated[int, typer.Option(min=2, help="Dialogues to simulate (each gets six candidates).")] = 4,
    turns: Annotated[str, typer.Option(help="Turns per dialogue: 3 or a range like 3..5.")] = "3",
    judge: Annotated[
        str | None,
        typer.Option(help="Roster entry that stands in for the annotators [default: the roster's first entry]."),
    ] = None,
    rm_model: Annotated[
        str, typer.Option(help="Backbone of the reward model: 'offline' (SmolLM2-135M) or a local HF folder.")
    ] = "offline",
    rm_steps: Annotated[int, typer.Option(min=1, help="Optimizer steps of the demo reward model.")] = 2,
    role_reward: Annotated[
        int,
        typer.Option(
            min=1,
            help="roleReward items to hold out for the evaluation; the other annotated sets become training pairs.",
        ),
    ] = 2,
    roster: Annotated[str, typer.Option(help="Roster name (offline, paper) or YAML path.")] = "offline",
    seed: Annotated[int, typer.Option(help="Seed of the plan, sampling and splits.")] = 0,
) -> None:
    """Run the whole pipeline end to end, offline, in a few minutes (what `make demo` runs).

    init -> simulate (dialogues + six candidates each) -> an LLM judge scores the candidates and its
    best/worst picks become annotations marked `synthetic` (standing in for annotators) -> export all
    subsets to <workspace>/exports/demo (synthetic annotations included) -> charm-train rm for a few
    steps to <workspace>/runs/demo-rm -> charm-train eval-rm to <workspace>/runs/demo-rm/eval/results.md,
    then a summary of every artefact and the command that opens the annotation UI on this data.
    Rerunning resumes: cached model calls are free. The data of the tiny offline models is for trying
    the tool, not for research.

    Examples:
      charm-build demo
      charm-build demo --workspace /tmp/ws --dialogues 12 --role-reward 4 --rm-steps 8
      charm-build demo --roster my-vllm.yaml --judge qwen2.5-72b --dialogues 40
    """
    if role_reward >= dialogues:
        raise CharmError(
            f"--role-reward {role_reward}: must be below --dialogues {dialogues}, or nothing is left to train on"
        )
    cfg = DemoConfig(
        workspace=resolve_workspace(workspace),
        roster=roster,
        dialogues=dialogues,
        turns=turns,
        judge=judge,
        rm_model=rm_model,
        rm_steps=rm_steps,
        role_reward_size=role_reward,
        seed=seed,
    )
    start = time.perf_counter()
    results = run_demo(cfg, on_step=lambda name: console.rule(f"[bold]demo: {name}"))
    print_summary(cfg, results, time.perf_counter() - start)
    if any(r.status == "failed" for r in results):
        raise typer.Exit(1)


def _human_bytes(n: int) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} B"


def _relative(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def print_summary(cfg: DemoConfig, results: list[StepResult], seconds: float) -> None:
    """Steps (status, time, note), then every artefact with its size, then how to annotate this data."""
    console.rule("[bold]demo: summary")
    steps = Table(title=f"charm-build demo ({seconds:.0f} s)", show_lines=False)
    for col in ("step", "status", "time", "result"):
        steps.add_column(col, justify="right" if col == "time" else "left", overflow="fold")
    for r in results:
        steps.add_row(r.name, f"[{STYLE[r.status]}]{r.status}[/]", f"{r.seconds:.0f} s", r.note)
    console.print(steps)
    seen: list[Path] = []
    for r in results:
        seen += [a for a in r.artefacts if a not in seen and a.exists()]
    if seen:
        files = Table(title="artefacts", show_header=True)
        files.add_column("path", overflow="fold")
        files.add_column("size", justify="right")
        for path in seen:
            files.add_row(_relative(path) + ("/" if path.is_dir() else ""), _human_bytes(size_of(path)))
        console.print(files)
    ws = _relative(cfg.workspace)
    console.print(
        f"Annotate this data by hand: [bold]charm-build annotate serve -w {ws}[/] (Argilla on "
        f"http://127.0.0.1:6900), then in a second terminal [bold]charm-build annotate push -w {ws}[/]",
        highlight=False,
        soft_wrap=True,
    )

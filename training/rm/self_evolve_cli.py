"""``charm-train self-evolve``: ChARM self-evolution rounds (:mod:`training.rm.self_evolve`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charm_kernel.console import fail
from charm_kernel.options import option_error
from training.rm.cli_common import user_errors


def self_evolve_cmd(
    data: Annotated[Path, typer.Option("--data", "-d", help="Labelled preferenceTraining export (split train).")],
    eval_data: Annotated[Path, typer.Option("--eval", help="roleReward export for the accuracy after each round.")],
    out: Annotated[Path, typer.Option("--out", "-o", help="New folder: round-R/{train.parquet,model}, rounds.md.")],
    workspace: Annotated[
        Path | None,
        typer.Option(
            "--workspace",
            "-w",
            help="Workspace holding the unannotated candidate sets [default: $CHARM_WORKSPACE or ./charm-workspace].",
        ),
    ] = None,
    init_rm: Annotated[Path | None, typer.Option(help="Starting reward model [default: train one on --data].")] = None,
    rounds: Annotated[int, typer.Option(help="Self-evolution rounds.")] = 2,
    threshold: Annotated[float, typer.Option(help="Keep a pseudo pair when r(best) - r(worst) >= this.")] = 1.0,
    loss: Annotated[str, typer.Option(help="bt, aam-pr or aam-ld.")] = "bt",
    model: Annotated[
        str, typer.Option(help="Backbone for round 0 when no --init-rm ('offline' = SmolLM2).")
    ] = "offline",
    beta: Annotated[float | None, typer.Option(help="Adaptive-margin scale.")] = None,
    epochs: Annotated[float, typer.Option(help="Epochs per round.")] = 1.0,
    max_steps: Annotated[int | None, typer.Option(help="Optimizer steps per round.")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per micro-batch.")] = 4,
    lr: Annotated[float, typer.Option(help="Learning rate.")] = 1e-5,
    max_length: Annotated[int, typer.Option(help="Max tokens per prompt+response.")] = 1024,
    seed: Annotated[int, typer.Option(help="Seed.")] = 42,
    max_unlabelled: Annotated[int | None, typer.Option(help="Score at most N unannotated sets per round.")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars.")] = False,
) -> None:
    """ChARM self-evolution: the RM pseudo-labels unannotated candidate sets (best vs worst, kept when
    the reward gap clears --threshold), retrains on labelled + pseudo pairs, N rounds; prints the
    roleReward accuracy after each round.

    Examples:

      charm-train self-evolve -d exports/charm/preferenceTraining --eval exports/charm/roleReward -o runs/evolve

      charm-train self-evolve -d pt --eval rr -o runs/evo --init-rm runs/rm-ld --loss aam-ld --rounds 3 --threshold 2
    """
    from pydantic import ValidationError

    from charm_builder.export.locate import subset_path
    from charm_builder.store import resolve_workspace
    from charm_kernel.errors import CharmError
    from training.rm.self_evolve import (
        RoundResult,
        SelfEvolveConfig,
        SelfEvolveError,
        print_rounds,
        round_line,
        self_evolve,
    )

    data, eval_data = subset_path(data, "preferenceTraining"), subset_path(eval_data, "roleReward", "--eval")
    cfg = SelfEvolveConfig(
        workspace=resolve_workspace(workspace),
        data=data,
        eval_data=eval_data,
        output_dir=out,
        rounds=rounds,
        threshold=threshold,
        init_rm=init_rm,
        model=model,
        loss=loss,
        beta=beta,
        epochs=epochs,
        max_steps=max_steps,
        batch_size=batch_size,
        lr=lr,
        max_length=max_length,
        seed=seed,
        max_unlabelled=max_unlabelled,
    )

    def report(res: RoundResult) -> None:
        typer.echo(round_line(res), err=True)

    try:
        results = self_evolve(cfg, progress=not quiet, on_round=report)
    except ValidationError as exc:  # a round's RMTrainConfig rejects an option (e.g. --batch-size 0)
        fail(option_error(exc))
    except (SelfEvolveError, CharmError, *user_errors()) as exc:
        fail(str(exc))
    print_rounds(results)
    typer.echo(f"wrote {out}/rounds.md, rounds.csv, summary.json")

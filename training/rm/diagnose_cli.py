"""``charm-train diagnose``: a reward model's AAM margin against annotator agreement (:mod:`training.rm.diagnostics`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from charm_kernel.console import fail
from training.rm.cli_common import user_errors


def diagnose_cmd(
    model: Annotated[Path, typer.Argument(help="Reward-model folder written by `charm-train rm`.")],
    data: Annotated[
        Path, typer.Option("--data", "-d", help="preferenceTraining export with an agreement column (split `train`).")
    ],
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder [default: RM_DIR/diagnostics].")
    ] = None,
    margin: Annotated[str, typer.Option(help="AAM margin: auto (pr for aam-pr models, else ld), ld or pr.")] = "auto",
    beta: Annotated[float | None, typer.Option(help="Margin scale [default: the model's beta].")] = None,
    confidence: Annotated[
        float, typer.Option(help="List pairs where the model gives the annotators' choice at most 1 - confidence.")
    ] = 0.8,
    agreement_column: Annotated[str, typer.Option(help="Agreement column of the data.")] = "margin_agreement",
    limit: Annotated[int | None, typer.Option(help="Use only the first N pairs.")] = None,
    batch_size: Annotated[int, typer.Option(help="Pairs per forward batch.")] = 8,
    max_length: Annotated[int, typer.Option(help="Max tokens per prompt+response.")] = 1024,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, ... (default: cuda if available).")] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Plot the AAM margin per pair against annotator agreement, report their Spearman correlation and
    list the pairs where the model is confidently against the annotators (CSV).

    Examples:

      charm-train diagnose runs/rm-ld --data exports/charm/preferenceTraining

      charm-train diagnose runs/rm-pr -d exports/charm/preferenceTraining --margin pr --confidence 0.9 -o diag
    """

    from charm_builder.export.locate import subset_path
    from charm_kernel.progress import count_bar
    from training.rm.diagnostics import DiagnosticsError, diagnose

    data = subset_path(data, "preferenceTraining")
    if batch_size < 1:
        fail(f"--batch-size must be >= 1, got {batch_size}")
    target = out or model / "diagnostics"
    bar = count_bar("diagnose", disable=quiet)
    task = bar.add_task("pairs", total=None)
    started: list[bool] = []

    def on_progress(done: int, total: int) -> None:
        if not started:  # the bar appears once the data and model are checked and scoring begins
            started.append(True)
            bar.start()
        bar.update(task, completed=done, total=total)

    try:
        summary = diagnose(
            model,
            data,
            target,
            margin=margin,
            beta=beta,
            confidence=confidence,
            agreement_column=agreement_column,
            limit=limit,
            batch_size=batch_size,
            max_length=max_length,
            device=device,
            on_progress=on_progress,
        )
    except (DiagnosticsError, *user_errors()) as exc:
        fail(str(exc))
    finally:
        if started:
            bar.stop()
    rho = summary["spearman_agreement_vs_aam_margin"]
    typer.echo(
        f"{summary['pairs']} pairs; Spearman(agreement, {summary['margin']} margin) = "
        f"{'n/a' if rho is None else f'{rho:.4f}'}; {summary['confidently_against_annotators']} pair(s) "
        f"confidently against the annotators"
    )
    typer.echo(f"wrote {target}/margin_vs_agreement.png, pairs.csv, disagreements.csv, summary.json")

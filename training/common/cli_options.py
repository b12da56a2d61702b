"""Command-line options shared by the commands of ``rm`` and ``evaluation``: the bootstrap intervals."""

from __future__ import annotations

from typing import Annotated

import typer

from charm_kernel.console import fail

# confidence intervals: every evaluation command (eval-rm, eval-dq, eval-ce, compare; table3 uses its --seed)
BootstrapOpt = Annotated[
    int,
    typer.Option(
        "--bootstrap",
        help="Bootstrap resamples of the items for each cell's 95 % interval (shown as value ± half-width; "
        "bounds in summary.json and results.csv); 0 turns intervals off. E.g. --bootstrap 5000.",
    ),
]
BootSeedOpt = Annotated[
    int, typer.Option("--seed", help="Seed of the bootstrap resamples (same seed, same intervals).")
]


def check_bootstrap(resamples: int) -> None:
    """One-line error for a negative --bootstrap."""
    if resamples < 0:
        fail(f"--bootstrap must be >= 0 (0 turns intervals off), got {resamples}")

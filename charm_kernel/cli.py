"""Pieces every command shares: the --workspace option and ``run_app`` (user errors as one line, exit 2)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from charm_kernel.console import err_console, print_error

__all__ = ["WorkspaceOpt", "run_app"]

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option(
        "--workspace",
        "-w",
        envvar="CHARM_WORKSPACE",
        show_default="./charm-workspace",
        help="Workspace folder (or set CHARM_WORKSPACE).",
    ),
]


def run_app(app: typer.Typer) -> None:
    """Run a typer app as a script: user errors (``CharmError``) become one red line on stderr and exit
    code 2, Ctrl-C exits 130. Shared by ``charm-build``, ``charm-train`` and ``python -m annotation.cli``."""
    from charm_kernel.console import quiet_libraries
    from charm_kernel.errors import CharmError
    from charm_kernel.help_text import reflow_app

    quiet_libraries()
    reflow_app(app)
    try:
        app()
    except CharmError as exc:
        print_error(str(exc))
        sys.exit(2)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)

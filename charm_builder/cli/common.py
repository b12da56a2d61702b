"""Pieces every command shares: the --workspace option, the console, opening the workspace."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from charm_builder.console import console, err_console, fail, print_error
from charm_builder.store import Workspace, resolve_workspace

__all__ = ["WorkspaceOpt", "console", "err_console", "fail", "open_workspace", "run_app"]

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


def open_workspace(path: Path | None) -> Workspace:
    """Open an existing workspace, or fail with a one-line hint to run `charm-build init`."""
    return Workspace.open(resolve_workspace(path))


def run_app(app: typer.Typer) -> None:
    """Run a typer app as a script: user errors (``CharmError``) become one red line on stderr and exit
    code 2, Ctrl-C exits 130. Shared by ``charm-build``, ``charm-train`` and ``python -m annotation.cli``."""
    from charm_builder.cli.help_text import reflow_app
    from charm_builder.console import quiet_libraries
    from charm_builder.errors import CharmError

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

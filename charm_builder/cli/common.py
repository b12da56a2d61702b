"""Pieces every command shares: the --workspace option, the console, opening the workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from charm_builder.store import Workspace, resolve_workspace

console = Console()
err_console = Console(stderr=True)

WorkspaceOpt = Annotated[
    Path | None,
    typer.Option("--workspace", "-w", envvar="CHARM_WORKSPACE", show_default="./charm-workspace",
                 help="Workspace folder (or set CHARM_WORKSPACE)."),
]  # fmt: skip


def open_workspace(path: Path | None) -> Workspace:
    """Open an existing workspace, or fail with a one-line hint to run `charm-build init`."""
    return Workspace.open(resolve_workspace(path))

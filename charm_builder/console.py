"""The consoles every command prints to, and ``fail``: the one way a command reports bad input.

Outside the ``charm_builder.cli`` package so that sub-apps mounted by it (``llm.cli``) and
``charm-train`` can import it without importing the whole ``charm-build`` app.
"""

from __future__ import annotations

from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

console = Console()
err_console = Console(stderr=True)


def print_error(message: str) -> None:
    """``error: message`` as one line on stderr (the message is not read as rich markup)."""
    err_console.print(f"[red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def print_warning(message: str) -> None:
    """``warning: message`` as one line on stderr (not read as rich markup)."""
    err_console.print(f"[yellow]warning:[/] {escape(message)}", highlight=False, soft_wrap=True)


def fail(message: str, code: int = 2) -> NoReturn:
    """Print the error line and exit (2: bad input; 1: a check failed)."""
    print_error(message)
    raise typer.Exit(code)

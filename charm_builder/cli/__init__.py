"""`charm-build`: the command line over the library functions (each command is a thin wrapper).

Owns: option parsing, the app tree (``cli.root``) and error-to-exit-code mapping (``common``); no
pipeline logic. Imports: any stage's public API (and ``annotation.cli``); stages' ``cli`` modules
import only ``cli.common``. Importing this package does not build the app tree, so a stage's
``cli`` module can be imported first (``cli.root`` imports every stage's ``cli``).
"""

from __future__ import annotations

from typing import Any


def main() -> None:
    """Entry point of ``charm-build`` (see ``cli.root.main``)."""
    from charm_builder.cli.root import main as run

    run()


def __getattr__(name: str) -> Any:
    if name == "app":  # the typer app, built on first use
        from charm_builder.cli.root import app

        return app
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""The consoles every command prints to, and ``fail``: the one way a command reports bad input."""

from __future__ import annotations

import os
import sys
import warnings
from typing import NoReturn

import typer
from rich.console import Console
from rich.markup import escape

LOG_WIDTH = 160  # off a terminal (a log file, a pipe) rich would wrap at 80 columns; $COLUMNS still wins


def _console(stderr: bool = False) -> Console:
    probe = Console(stderr=stderr)
    width = None if probe.is_terminal or os.environ.get("COLUMNS") else LOG_WIDTH
    return Console(stderr=stderr, width=width)


console = _console()
err_console = _console(stderr=True)


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


def quiet_libraries() -> None:
    """Fold third-party noise into our output: no tqdm bars from transformers / datasets / huggingface_hub
    (ours show the progress), their info logs and deprecation warnings off. Environment variables the
    user set win, so ``TRANSFORMERS_VERBOSITY=info`` or ``HF_HUB_DISABLE_PROGRESS_BARS=0`` bring them back.
    Libraries imported later read the variables; those already imported are told directly."""
    defaults = {
        "HF_HUB_DISABLE_PROGRESS_BARS": "1",
        "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
        "TRANSFORMERS_VERBOSITY": "error",
        "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
        "TOKENIZERS_PARALLELISM": "false",
        "HF_HUB_DISABLE_TELEMETRY": "1",
        "TQDM_DISABLE": "1",
    }  # tqdm reads it when first imported
    for key, value in defaults.items():
        os.environ.setdefault(key, value)
    if not sys.warnoptions:  # python -W ... wins
        for category in (DeprecationWarning, PendingDeprecationWarning, FutureWarning):
            warnings.filterwarnings("ignore", category=category)
        warnings.filterwarnings("ignore", message=r".*pkg_resources is deprecated.*")
        warnings.filterwarnings("ignore", message=r".*torch\.utils\._pytree.*")
    quiet = os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"
    if "transformers" in sys.modules:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity(getattr(hf_logging, os.environ["TRANSFORMERS_VERBOSITY"].upper(), hf_logging.ERROR))
        if quiet:
            hf_logging.disable_progress_bar()
    if quiet and "datasets" in sys.modules:
        import datasets

        datasets.disable_progress_bars()
    if quiet and "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars

        disable_progress_bars()

"""What the ``charm-train`` reward-model commands share: the errors they report as one line, and notes."""

from __future__ import annotations

import typer

from training.common.distributed import is_main_process


def user_errors() -> tuple[type[BaseException], ...]:
    """The exceptions a reward-model command turns into its one-line error (exit 2)."""
    from charm_builder.offline_models import OfflineModelError
    from training.rm.data import DataError
    from training.rm.model import RewardModelError
    from training.rm.trainer import TrainingInputError

    return (DataError, RewardModelError, TrainingInputError, OfflineModelError)


def note(text: str) -> None:
    """A note worth seeing even with --quiet (on stderr, once: rank 0)."""
    if is_main_process():
        typer.echo(text, err=True)

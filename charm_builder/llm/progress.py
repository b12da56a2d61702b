"""``llm_progress``: the progress bar for LLM work, with token and cost totals (on ``charm_kernel.progress``)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from charm_builder.llm.types import Completion
from charm_kernel.progress import progress_bar


class LLMProgress:
    """Advances a rich task and keeps token/cost totals in its description."""

    def __init__(self, progress: Progress, task: int, label: str) -> None:
        self._progress, self._task, self._label = progress, task, label
        self.tokens = 0
        self.cost = 0.0
        self.errors = 0

    def advance(self, result: object) -> None:
        """Count one finished request (a ``Completion`` or an error)."""
        if isinstance(result, Completion):
            self.tokens += result.input_tokens + result.output_tokens
            self.cost += result.cost
        else:
            self.errors += 1
        self._progress.update(
            self._task,
            advance=1,
            stats=f"{self.tokens:,} tok  ${self.cost:.4f}" + (f"  {self.errors} failed" if self.errors else ""),
        )


@contextmanager
def llm_progress(label: str, total: int) -> Iterator[LLMProgress]:
    """Context manager yielding an ``LLMProgress`` for ``total`` requests."""
    with progress_bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeRemainingColumn(),
        transient=False,
    ) as progress:
        task = progress.add_task(label, total=total, stats="")
        yield LLMProgress(progress, task, label)

"""Our progress bar: ``progress_bar`` for every long step (``count_bar``: the plain counting one).
``charm_builder.llm.progress`` builds the LLM bar (tokens, cost) on it.

On a terminal it is a rich live bar. Anywhere else (``make demo > log``, CI, a pipe) a live bar
would either print nothing until the end or fill the log with carriage returns, so the same calls
print one plain line per task every ``LOG_EVERY_S`` seconds and a last one when the task ends.
"""

from __future__ import annotations

import threading
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
)
from rich.text import Text

LOG_EVERY_S = 10.0


def _clock(seconds: float | None) -> str:
    if seconds is None:
        return "-:--"
    seconds = int(seconds)
    return (
        f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
        if seconds >= 3600
        else f"{seconds // 60}:{seconds % 60:02d}"
    )


def _plain(value: Any) -> str:
    text = Text.from_markup(value) if isinstance(value, str) else Text(str(value))
    return text.plain.strip()


def log_line(task: Task) -> str:
    """One plain progress line: 'label 12/40 (30%) elapsed 1:02 ETA 2:30 field=value ...'."""
    parts = [_plain(task.description)]
    if task.total:
        parts.append(f"{task.completed:g}/{task.total:g} ({100 * task.completed / task.total:.0f}%)")
    else:
        parts.append(f"{task.completed:g}")
    parts.append(f"elapsed {_clock(task.elapsed)}")
    if task.total and not task.finished and task.time_remaining is not None:
        parts.append(f"ETA {_clock(task.time_remaining)}")
    for key, value in task.fields.items():
        if value in ("", None):
            continue
        if isinstance(value, float):
            value = f"{value:.4f}"
        parts.append(_plain(value) if isinstance(value, str) else f"{key}={value}")
    return " ".join(p for p in parts if p)


class LogProgress(Progress):
    """A ``Progress`` for non-terminals: no live display, a plain line per task every ``every`` seconds."""

    def __init__(self, *columns: str | ProgressColumn, every: float = LOG_EVERY_S, **kwargs: Any) -> None:
        kwargs["disable"] = True
        super().__init__(*columns, **kwargs)
        self.every = every
        self._logged: dict[TaskID, tuple[float, float]] = {}  # task -> (time, completed) of its last line
        self._stopped = threading.Event()
        self._beat: threading.Thread | None = None

    def start(self) -> None:
        super().start()
        self._stopped.clear()
        if self.every > 0 and self._beat is None:
            self._beat = threading.Thread(target=self._heartbeat_loop, name="progress-log", daemon=True)
            self._beat.start()

    def _heartbeat_loop(self) -> None:
        while not self._stopped.wait(self.every / 2):
            self.heartbeat()

    def heartbeat(self) -> None:
        """Log every task that is due, even one whose count has not moved (a long first item)."""
        with self._lock:
            for task_id in list(self._tasks):
                self._log(task_id)

    def update(self, task_id: TaskID, **kwargs: Any) -> None:
        super().update(task_id, **kwargs)
        self._log(task_id)

    def advance(self, task_id: TaskID, advance: float = 1) -> None:
        super().advance(task_id, advance)
        self._log(task_id)

    def stop(self) -> None:
        self._stopped.set()
        if self._beat is not None and self._beat is not threading.current_thread():
            self._beat.join()
        self._beat = None
        with self._lock:
            for task_id in list(self._tasks):
                self._log(task_id, final=True)
        super().stop()

    def _log(self, task_id: TaskID, final: bool = False) -> None:
        task = self._tasks.get(task_id)
        if task is None or not task.visible:
            return
        now = self.get_time()
        last_time, last_done = self._logged.get(task_id, (task.start_time or now, -1.0))
        if final or task.finished:
            if last_done == task.completed:
                return  # this state is already in the log
        elif now - last_time < self.every:
            return
        self._logged[task_id] = (now, task.completed)
        self.console.print(escape(log_line(task)), highlight=False, soft_wrap=True)


def count_bar(title: str, **kwargs: Any) -> Progress:
    """The plain counting bar: bold ``title``, bar, done/total, time left (``progress_bar``'s keywords)."""
    return progress_bar(
        TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(), **kwargs
    )


def progress_bar(
    *columns: str | ProgressColumn, console: Console | None = None, every: float = LOG_EVERY_S, **kwargs: Any
) -> Progress:
    """A rich ``Progress`` with these columns on a terminal; a ``LogProgress`` (plain periodic lines) elsewhere.

    ``disable=True`` (e.g. ``--quiet``) shows nothing either way.
    """
    from rich import get_console

    target = console or get_console()
    if kwargs.get("disable") or target.is_terminal or target.is_jupyter:
        return Progress(*columns, console=target, **kwargs)
    kwargs.pop("transient", None)
    return LogProgress(*columns, console=target, every=every, **kwargs)

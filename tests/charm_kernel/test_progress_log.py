"""Our progress bar in a log (not a terminal): plain periodic lines, no carriage returns, no escape codes."""

from __future__ import annotations

import io

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from charm_kernel.progress import LogProgress, progress_bar


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=terminal, width=120, color_system="truecolor" if terminal else None), out


def test_non_terminal_gets_one_plain_line_per_period_and_a_last_one():
    console, out = _console(terminal=False)
    clock = Clock()
    bar = progress_bar(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        console=console,
        every=10.0,
        get_time=clock,
    )
    assert isinstance(bar, LogProgress)
    with bar:
        task = bar.add_task("[bold]simulate dialogues", total=40, stats="")
        for i in range(40):
            clock.now += 1.0  # one item a second: a line every 10 items
            bar.update(task, advance=1, stats=f"{(i + 1) * 100:,} tok  $0.0012")
    text = out.getvalue()
    assert "\r" not in text and "\x1b" not in text
    lines = text.strip().splitlines()
    assert len(lines) == 4, lines  # at 10, 20, 30 s, and the finished task once (40 s)
    assert lines[0].startswith("simulate dialogues 10/40 (25%) elapsed 0:10 ETA ")
    assert lines[0].endswith("1,000 tok  $0.0012")
    assert lines[-1].startswith("simulate dialogues 40/40 (100%) elapsed 0:40") and "ETA" not in lines[-1]


def test_a_short_task_logs_only_its_end_and_unfinished_tasks_log_where_they_stopped():
    console, out = _console(terminal=False)
    clock = Clock()
    with progress_bar(TextColumn("{task.description}"), console=console, get_time=clock) as bar:
        quick = bar.add_task("export", total=3)
        cut = bar.add_task("judge", total=10)
        for _ in range(3):
            clock.now += 0.1
            bar.advance(quick)
        bar.update(cut, completed=4)
    lines = out.getvalue().strip().splitlines()
    assert lines == ["export 3/3 (100%) elapsed 0:00", lines[1]] and lines[1].startswith("judge 4/10 (40%)")


def test_terminal_gets_the_live_bar_and_quiet_gets_nothing():
    console, _ = _console(terminal=True)
    live = progress_bar(TextColumn("x"), console=console)
    assert isinstance(live, Progress) and not isinstance(live, LogProgress)
    plain, out = _console(terminal=False)
    with progress_bar(TextColumn("x"), console=plain, disable=True) as bar:
        bar.update(bar.add_task("x", total=2), completed=2)
    assert out.getvalue() == ""


def test_heartbeat_logs_a_task_stuck_on_its_first_item():
    console, out = _console(terminal=False)
    clock = Clock()
    with progress_bar(TextColumn("{task.description}"), console=console, get_time=clock) as bar:
        task = bar.add_task("loading the model", total=4)
        bar.heartbeat()
        assert out.getvalue() == ""  # not due yet
        clock.now += 12
        bar.heartbeat()  # what the background thread does every few seconds
        assert out.getvalue().splitlines() == ["loading the model 0/4 (0%) elapsed 0:12"]
        bar.update(task, completed=4)
    assert out.getvalue().splitlines()[-1] == "loading the model 4/4 (100%) elapsed 0:12"

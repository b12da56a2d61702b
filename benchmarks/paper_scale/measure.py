"""Measuring one stage: a child process's wall time and own peak RSS (``os.wait4``), the RSS of a
process tree sampled from /proc (the annotation server), and database sizes on disk."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

GB = 1024**3


@dataclass
class ChildRun:
    """One child process: exit status, seconds, its own peak RSS (bytes), the log it wrote."""

    returncode: int
    seconds: float
    peak_rss: int
    log: Path
    killed: bool = False
    cpu_s: float = 0.0  # user + system CPU seconds of the child itself
    cpu_wait_s: float = 0.0  # seconds its main thread was ready to run but waited for a CPU (a busy machine)

    def tail(self, lines: int = 15) -> str:
        text = self.log.read_text(encoding="utf-8", errors="replace").splitlines()
        return "\n".join(text[-lines:])


def run_child(
    cmd: Sequence[str],
    log: Path,
    env: dict[str, str] | None = None,
    *,
    kill_when: Callable[[], bool] | None = None,
    poll_s: float = 0.2,
) -> ChildRun:
    """Run ``cmd`` to the end (stdout+stderr appended to ``log``); with ``kill_when``, SIGKILL it as soon as
    that returns True. Peak RSS is the child's own (``ru_maxrss`` from ``wait4``), not its children's."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("a", encoding="utf-8") as out:
        out.write(f"$ {' '.join(cmd)}\n")
        out.flush()
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        killed = False
        waited = 0.0
        while True:  # wait4, not Popen.poll/wait: they would reap the child and lose its rusage
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            waited = runqueue_wait(proc.pid) or waited
            if kill_when is not None and kill_when():
                os.kill(proc.pid, signal.SIGKILL)
                killed = True
                _, status, usage = os.wait4(proc.pid, 0)
                break
            time.sleep(poll_s)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
    cpu = usage.ru_utime + usage.ru_stime
    return ChildRun(proc.returncode, seconds, usage.ru_maxrss * 1024, log, killed, cpu, waited)


def runqueue_wait(pid: int) -> float:
    """Seconds the main thread of ``pid`` has spent runnable but not running (``/proc/PID/schedstat``,
    second field); 0.0 when unavailable."""
    try:
        return int(Path(f"/proc/{pid}/schedstat").read_text().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return 0.0


def tree_rss(root_pid: int) -> int:
    """Resident bytes of a process and all its descendants (from /proc; 0 once it is gone)."""
    children: dict[int, list[int]] = {}
    rss: dict[int, int] = {}
    page = os.sysconf("SC_PAGE_SIZE")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            pid, ppid = int(entry), int(fields[1])
            rss[pid] = int(fields[21]) * page
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(pid)
    total, todo = 0, [root_pid]
    while todo:
        pid = todo.pop()
        total += rss.get(pid, 0)
        todo.extend(children.get(pid, []))
    return total


class PeriodicSampler:
    """Calls ``sample()`` in a background thread, at once and then every ``interval`` seconds, from
    ``with`` entry to exit (and once more at exit)."""

    interval: float

    def sample(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> PeriodicSampler:
        self._stop = threading.Event()

        def loop() -> None:
            while not self._stop.is_set():
                self.sample()
                self._stop.wait(self.interval)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()


@dataclass
class RSSSampler(PeriodicSampler):
    """Samples ``tree_rss(pid)`` every ``interval`` seconds in a thread; ``peak`` is the largest seen."""

    pid: int
    interval: float = 1.0
    peak: int = 0

    def sample(self) -> None:
        self.peak = max(self.peak, tree_rss(self.pid))


def files_size(folder: Path, patterns: Sequence[str]) -> int:
    """Bytes of the files under ``folder`` matching any glob pattern (e.g. a SQLite file and its WAL)."""
    if not folder.exists():
        return 0
    seen = {p for pattern in patterns for p in folder.rglob(pattern) if p.is_file()}
    return sum(p.stat().st_size for p in seen)

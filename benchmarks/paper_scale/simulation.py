"""The simulate stage at scale: a realistic local LLM server, the paper roster pointed at it, and checks
that a run killed with SIGKILL and rerun ends with exact counts, nothing duplicated and a consistent ledger."""

from __future__ import annotations

import json
import sqlite3
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.paper_scale.measure import PeriodicSampler

API_KEY_ENV = "CHARM_BENCH_API_KEY"


@dataclass(frozen=True)
class ServerShape:
    """How the local test server behaves: median latency and lognormal sigma (clipped to lo..hi seconds),
    requests it processes at once (``slots``), and the share refused with 429/5xx + Retry-After."""

    latency: float = 0.8
    sigma: float = 0.6
    lo: float = 0.3
    hi: float = 8.0
    slots: int = 192
    failure_rate: float = 0.01
    retry_after: float = 1.0
    seed: int = 0

    def knobs(self) -> dict[str, Any]:
        """Keyword arguments of ``tests.fakes.openai_server.server_process``."""
        return {
            "latency": self.latency,
            "latency_sigma": self.sigma,
            "latency_min": self.lo,
            "latency_max": self.hi,
            "slots": self.slots,
            "failure_rate": self.failure_rate,
            "retry_after": self.retry_after,
            "reply": "realistic",
            "seed": self.seed,
        }


def server_stats(base_url: str) -> dict[str, Any]:
    """The test server's counters (answered, failed, mean drawn latency, peak in flight)."""
    with urllib.request.urlopen(f"{base_url}/stats", timeout=10) as response:
        return json.loads(response.read())


def done_tasks(db: Path) -> int:
    """Simulation tasks finished so far (read from the workspace while a run writes it)."""
    try:
        conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=5)
        try:
            return conn.execute("SELECT COUNT(*) FROM sim_tasks WHERE status IN ('done', 'failed')").fetchone()[0]
        finally:
            conn.close()
    except sqlite3.Error:  # no table yet
        return 0


@dataclass
class ThroughputSampler(PeriodicSampler):
    """Samples (seconds, finished tasks, calls the server answered, run number) every ``interval`` seconds
    while simulate runs, to measure its steady rate: startup and the last dialogues' tail weigh little
    at the paper's size, a lot at a tenth of it."""

    db: Path
    base_url: str
    interval: float = 2.0
    run: int = 0
    samples: list[tuple[float, int, int, int]] = field(default_factory=list)

    def sample(self) -> None:
        try:
            answered = server_stats(self.base_url)["answered"]
        except OSError:
            return
        self.samples.append((time.monotonic(), done_tasks(self.db), answered, self.run))

    def steady_rate(self, planned: int, low: float = 0.1, high: float = 0.9) -> float:
        """Calls answered per second while finished tasks were between ``low`` and ``high`` of ``planned``,
        over intervals inside one run (the restart after a kill is left out)."""
        calls = seconds = 0.0
        for (t0, d0, a0, r0), (t1, _, a1, r1) in zip(self.samples, self.samples[1:], strict=False):
            if r0 == r1 and low * planned <= d0 <= high * planned:
                calls += a1 - a0
                seconds += t1 - t0
        return calls / seconds if seconds else 0.0


@dataclass
class SimulationCheck:
    """What a finished simulation holds and whether it adds up."""

    tasks: int
    done: int
    failed: int
    dialogues: int
    distinct_dialogue_tasks: int
    candidate_sets: int
    distinct_set_dialogues: int
    candidates: int
    task_calls: int
    ledger_paid: int
    ledger_cached: int
    ledger_errors: int
    ledger_cost: float
    task_cost: float

    @property
    def duplicated(self) -> int:
        """Dialogues beyond one per task, candidate sets beyond one per dialogue."""
        return (self.dialogues - self.distinct_dialogue_tasks) + (self.candidate_sets - self.distinct_set_dialogues)

    def problems(self, planned: int) -> list[str]:
        """Every way the workspace disagrees with a complete, exact run of ``planned`` dialogues."""
        out = []
        if self.tasks != planned or self.done + self.failed != planned:
            out.append(f"{self.tasks} tasks ({self.done} done, {self.failed} failed) for {planned} planned")
        if self.dialogues != self.done:
            out.append(f"{self.dialogues} dialogues for {self.done} done tasks")
        if self.candidate_sets != self.done:
            out.append(f"{self.candidate_sets} candidate sets for {self.done} done tasks")
        if self.candidates != 6 * self.candidate_sets:
            out.append(f"{self.candidates} candidates in {self.candidate_sets} sets (expected 6 each)")
        if self.duplicated:
            out.append(f"{self.duplicated} duplicated dialogues/candidate sets")
        if abs(self.ledger_cost - self.task_cost) > 1e-6 * max(1.0, self.task_cost):
            out.append(f"ledger says ${self.ledger_cost:.4f} spent, the tasks ${self.task_cost:.4f}")
        if self.task_calls > self.ledger_paid + self.ledger_cached:
            out.append(
                f"tasks count {self.task_calls} calls but the ledger holds {self.ledger_paid} paid + "
                f"{self.ledger_cached} cached"
            )
        return out


def check_workspace(db: Path) -> SimulationCheck:
    """Counts from the workspace database (tasks, dialogues, sets, candidates, the LLM ledger)."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        one = lambda sql: conn.execute(sql).fetchone()[0]  # noqa: E731
        return SimulationCheck(
            tasks=one("SELECT COUNT(*) FROM sim_tasks"),
            done=one("SELECT COUNT(*) FROM sim_tasks WHERE status = 'done'"),
            failed=one("SELECT COUNT(*) FROM sim_tasks WHERE status = 'failed'"),
            dialogues=one("SELECT COUNT(*) FROM dialogues"),
            distinct_dialogue_tasks=one(
                "SELECT COUNT(DISTINCT json_extract(data, '$.provenance.params.task')) FROM dialogues"
            ),
            candidate_sets=one("SELECT COUNT(*) FROM candidate_sets"),
            distinct_set_dialogues=one("SELECT COUNT(DISTINCT dialogue_id) FROM candidate_sets"),
            candidates=one("SELECT COALESCE(SUM(json_array_length(data, '$.candidates')), 0) FROM candidate_sets"),
            task_calls=one("SELECT COALESCE(SUM(calls), 0) FROM sim_tasks"),
            ledger_paid=one("SELECT COUNT(*) FROM llm_calls WHERE ok = 1 AND cached = 0"),
            ledger_cached=one("SELECT COUNT(*) FROM llm_calls WHERE ok = 1 AND cached = 1"),
            ledger_errors=one("SELECT COUNT(*) FROM llm_calls WHERE ok = 0"),
            ledger_cost=one("SELECT COALESCE(SUM(cost), 0) FROM llm_calls"),
            task_cost=one("SELECT COALESCE(SUM(cost_usd), 0) FROM sim_tasks"),
        )
    finally:
        conn.close()

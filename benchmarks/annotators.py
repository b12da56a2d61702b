"""Simulated annotators that work an Argilla dataset through the same HTTP endpoints as the web page.

Each annotator logs in with a password (``POST /api/v1/token``, a JWT as the page gets), then loops the
way the page's focus view does: fetch a page of its pending queue
(``POST /api/v1/me/datasets/{id}/records/search`` with the filters the page sends for "Pending": no
response of mine *and* record status ``pending``), submit best/worst for each record of the page
(``POST /api/v1/records/{id}/responses``), fetch the next page, until the queue is empty. Which records
an annotator gets, and how many annotators a record needs, is the server's business (the dataset's
task distribution; see ``annotate push --min-submitted/--overlap``): the driver never picks records.

Public API (used by ``bench_annotation.py``, ``bench_annotation_scale.py`` and ``bench_paper_scale.py``)::

    stats = run_annotators(
        api_url,                       # e.g. server.url
        users=[(username, password), ...],
        dataset="charm-preference",    # dataset name ...
        workspace="charm",             # ... in this Argilla workspace (or pass dataset_id=...)
        seed=0,                        # the annotators' picks are a deterministic function of seed
        page=10,                       # records per queue fetch (the page's focus view asks for 10)
        pace_s=0.0,                    # seconds an annotator "reads" a record before submitting
        max_submits=None,              # stop once the team has this many acknowledged submits
    ) -> AnnotatorStats

:class:`AnnotatorStats` holds the per-request latencies (``next_record_s``: each queue fetch, which is what
an annotator waits for when the next record opens; ``submit_s``: each submit), ``acked`` (username ->
record external ids — the candidate set ids — whose submit the server acknowledged), ``errors`` (one line each), ``retries`` and ``wall_s``;
``p95_ms("submit")``/``p95_ms("next_record")`` and :meth:`AnnotatorStats.summary` report them.

Picks are realistic enough for the QA report: each record has a latent quality per displayed label
(from the record id), each annotator sees it with its own noise, so annotators agree often but not always.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

LABELS = ("A", "B", "C", "D", "E", "F")
PAGE = 10  # records the web page's focus view asks for at a time
#: What the web page sends for its "Pending" queue (Argilla 2.8 frontend): no response of mine, record pending.
PENDING_QUEUE: dict[str, Any] = {
    "filters": {
        "and": [
            {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]},
            {"type": "terms", "scope": {"entity": "record", "property": "status"}, "values": ["pending"]},
        ]
    }
}
RETRIES = 3  # a person whose submit failed presses the button again


def pick(record_id: str, username: str, seed: int = 0, noise: float = 0.6) -> tuple[str, str]:
    """Best and worst displayed label this annotator picks for this record (deterministic, best != worst).

    Labels have a latent quality drawn from the record id; the annotator adds Gaussian noise of ``noise``
    (the latent qualities have unit spread), so pairs of annotators agree on best roughly half the time."""
    base = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{record_id}".encode()).digest()[:8], "big"))
    quality = [base.gauss(0.0, 1.0) for _ in LABELS]
    own = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{record_id}:{username}".encode()).digest()[:8], "big"))
    seen = sorted(((q + own.gauss(0.0, noise), label) for q, label in zip(quality, LABELS, strict=True)), reverse=True)
    return seen[0][1], seen[-1][1]


#: (record external id, username) -> (best, worst) displayed labels; see ``pick`` and ``accuracy_picker``
Picker = Callable[[str, str], tuple[str, str]]


def _default_picker(seed: int) -> Picker:
    return lambda record_id, username: pick(record_id, username, seed)


def accuracy_picker(
    truth: Callable[[str], tuple[str, str]], accuracy: dict[str, float | None], seed: int = 0
) -> Picker:
    """Annotators of known accuracy: ``truth(record_id)`` gives the displayed (best, worst); annotator
    ``u`` names each one right with probability ``accuracy[u]`` and otherwise another label at random;
    ``None`` clicks at random. Deterministic per (seed, record, annotator); best != worst always."""

    def choose(record_id: str, username: str) -> tuple[str, str]:
        rng = random.Random(int.from_bytes(hashlib.sha256(f"{seed}:{record_id}:{username}".encode()).digest()[:8]))
        p = accuracy[username]

        def answer(right: str) -> str:
            if p is not None and rng.random() < p:
                return right
            return rng.choice([x for x in LABELS if x != right]) if p is not None else rng.choice(LABELS)

        true_best, true_worst = truth(record_id)
        best, worst = answer(true_best), answer(true_worst)
        while worst == best:
            worst = rng.choice([x for x in LABELS if x != best])
        return best, worst

    return choose


def percentile_ms(values: Sequence[float], q: int) -> float:
    """The q-th percentile of ``values`` (seconds) in milliseconds; NaN when empty."""
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] * 1000


@dataclass
class AnnotatorStats:
    """What a team of simulated annotators did (see the module docstring)."""

    next_record_s: list[float] = field(default_factory=list)
    submit_s: list[float] = field(default_factory=list)
    acked: dict[str, list[str]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    retries: int = 0
    wall_s: float = 0.0

    @property
    def submitted(self) -> int:
        """Acknowledged submits, all annotators."""
        return sum(len(ids) for ids in self.acked.values())

    def p95_ms(self, kind: str) -> float:
        """p95 latency of ``"submit"`` or ``"next_record"`` requests, in ms."""
        return percentile_ms(self.submit_s if kind == "submit" else self.next_record_s, 95)

    def per_record(self) -> dict[str, int]:
        """Record id -> how many annotators' submits were acknowledged."""
        counts: dict[str, int] = {}
        for ids in self.acked.values():
            for rid in ids:
                counts[rid] = counts.get(rid, 0) + 1
        return counts

    def merge(self, other: AnnotatorStats) -> None:
        """Add ``other`` (another run on the same dataset) to this one."""
        self.next_record_s += other.next_record_s
        self.submit_s += other.submit_s
        for user, ids in other.acked.items():
            self.acked.setdefault(user, []).extend(ids)
        self.errors += other.errors
        self.retries += other.retries
        self.wall_s += other.wall_s

    def summary(self) -> str:
        """One line: counts, rate, p50/p95/max of both request kinds, errors."""
        rate = self.submitted / self.wall_s if self.wall_s else 0.0

        def band(values: list[float]) -> str:
            top = max(values, default=0.0) * 1000
            return f"p50 {percentile_ms(values, 50):.0f} / p95 {percentile_ms(values, 95):.0f} / max {top:.0f} ms"

        return (
            f"{self.submitted} submits by {len(self.acked)} annotators in {self.wall_s:.1f}s ({rate:.1f}/s); "
            f"next record {band(self.next_record_s)} ({len(self.next_record_s)} fetches); "
            f"submit {band(self.submit_s)}; errors {len(self.errors)}, retries {self.retries}"
        )


class _Budget:
    """A team-wide number of submits left, shared by the annotators' threads."""

    def __init__(self, left: int) -> None:
        self.left, self._lock = left, threading.Lock()

    def take(self) -> bool:
        with self._lock:
            self.left -= 1
            return self.left >= 0


class Annotator:
    """One person at the web page: a JWT session, a local buffer of pending records, submits."""

    def __init__(
        self,
        api_url: str,
        username: str,
        password: str,
        *,
        seed: int = 0,
        page: int = PAGE,
        timeout: float = 120,
        picker: Picker | None = None,
    ) -> None:
        self.username, self._password = username, password
        self.seed, self.page = seed, page
        self.picker = picker
        self.http = httpx.Client(base_url=api_url.rstrip("/"), timeout=timeout)
        self.stats = AnnotatorStats(acked={username: []})
        self._buffer: list[tuple[str, str]] = []  # (server record id, external id)
        self.dataset_id: str | None = None

    def login(self) -> None:
        """Get a JWT the way the login form does."""
        reply = self.http.post("/api/v1/token", data={"username": self.username, "password": self._password})
        reply.raise_for_status()
        self.http.headers["Authorization"] = f"Bearer {reply.json()['access_token']}"

    def find_dataset(self, name: str, workspace: str) -> str:
        """The id of dataset ``name`` in ``workspace``, as this annotator sees it."""
        spaces = self.http.get("/api/v1/me/workspaces").raise_for_status().json()["items"]
        space_ids = [s["id"] for s in spaces if s["name"] == workspace]
        if not space_ids:
            raise LookupError(f"{self.username} is not a member of Argilla workspace {workspace!r}")
        for item in self.http.get("/api/v1/me/datasets").raise_for_status().json()["items"]:
            if item["name"] == name and item["workspace_id"] == space_ids[0]:
                return str(item["id"])
        raise LookupError(f"no dataset {name!r} in Argilla workspace {workspace!r}")

    def next_record(self) -> tuple[str, str] | None:
        """The next record to annotate as (server id, external id), fetching a page of the pending queue
        when the buffer is empty."""
        if not self._buffer:
            start = time.perf_counter()
            try:
                reply = self.http.post(
                    f"/api/v1/me/datasets/{self.dataset_id}/records/search",
                    params={"include": ["responses", "suggestions"], "offset": 0, "limit": self.page},
                    json=PENDING_QUEUE,
                )
            except httpx.HTTPError as exc:
                self.stats.errors.append(f"{self.username}: queue fetch: {type(exc).__name__}: {exc}")
                return None
            self.stats.next_record_s.append(time.perf_counter() - start)
            if not reply.is_success:
                self.stats.errors.append(f"{self.username}: queue fetch: HTTP {reply.status_code}: {reply.text[:200]}")
                return None
            records = [item["record"] for item in reply.json()["items"]]
            self._buffer = [(r["id"], r.get("external_id") or r["id"]) for r in records]
        return self._buffer.pop(0) if self._buffer else None

    def submit(self, record: tuple[str, str]) -> bool:
        """Submit this annotator's best/worst for ``record`` (server id, external id); True when the server
        acknowledged it."""
        record_id, external_id = record
        best, worst = (self.picker or _default_picker(self.seed))(external_id, self.username)
        body = {"values": {"best": {"value": best}, "worst": {"value": worst}}, "status": "submitted"}
        for attempt in range(RETRIES):
            start = time.perf_counter()
            try:
                reply = self.http.post(f"/api/v1/records/{record_id}/responses", json=body)
            except httpx.HTTPError as exc:
                problem = f"{type(exc).__name__}: {exc}"
            else:
                self.stats.submit_s.append(time.perf_counter() - start)
                if reply.is_success or (reply.status_code == 409 and attempt > 0):
                    # 409 after a retry: the first attempt was stored although its reply was lost
                    self.stats.acked[self.username].append(external_id)
                    return True
                problem = f"HTTP {reply.status_code}: {reply.text[:200]}"
                if reply.status_code < 500:
                    break
            if attempt + 1 < RETRIES:
                self.stats.retries += 1
                time.sleep(0.5 * (attempt + 1))
        self.stats.errors.append(f"{self.username}: submit {record_id}: {problem}")
        return False

    def work(self, pace_s: float = 0.0, deadline: float | None = None, team: _Budget | None = None) -> None:
        """Annotate until the queue is empty (or ``time.monotonic()`` passes ``deadline``, or the team's
        submit budget is spent)."""
        while (deadline is None or time.monotonic() < deadline) and (team is None or team.take()):
            record = self.next_record()
            if record is None:
                return
            if pace_s:
                time.sleep(pace_s)
            self.submit(record)

    def close(self) -> None:
        """Close the HTTP session."""
        self.http.close()


def run_annotators(
    api_url: str,
    *,
    users: Sequence[tuple[str, str]],
    dataset: str | None = None,
    workspace: str | None = None,
    dataset_id: str | None = None,
    seed: int = 0,
    page: int = PAGE,
    pace_s: float = 0.0,
    max_seconds: float | None = None,
    max_submits: int | None = None,
    picker: Picker | None = None,
) -> AnnotatorStats:
    """Drive one thread per annotator (``users``: username, password) until every pending queue is empty
    (or ``max_seconds`` pass, or the team has made ``max_submits`` submits); returns the merged :class:`AnnotatorStats`. See the module docstring."""
    if dataset_id is None and (dataset is None or workspace is None):
        raise ValueError("pass dataset_id, or dataset and workspace")
    team = [Annotator(api_url, name, password, seed=seed, page=page, picker=picker) for name, password in users]
    try:
        for annotator in team:
            annotator.login()
        resolved = dataset_id or team[0].find_dataset(str(dataset), str(workspace))
        for annotator in team:
            annotator.dataset_id = resolved
        deadline = time.monotonic() + max_seconds if max_seconds else None
        budget = _Budget(max_submits) if max_submits is not None else None
        threads = [threading.Thread(target=a.work, args=(pace_s, deadline, budget), name=a.username) for a in team]
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        total = AnnotatorStats(wall_s=time.perf_counter() - start)
        for annotator in team:
            total.merge(annotator.stats)
        return total
    finally:
        for annotator in team:
            annotator.close()

"""The embedded server under faults: children killed while annotators submit, private files, Redis
password, one server per workspace. Each test starts its own server (they kill processes)."""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from annotation.server.embedded import AlreadyRunningError, EmbeddedArgilla, free_port
from annotation.sync import pull_annotations, push_candidate_sets
from schemas import Annotation

from .helpers import UIAnnotator, create_annotators, make_store

pytestmark = pytest.mark.server


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[EmbeddedArgilla]:
    workdir = tmp_path / "argilla"
    (workdir / "argilla-home").mkdir(parents=True)
    stale = workdir / "argilla-home" / "left-over.txt"  # a file from an older, careless version
    stale.write_text("x")
    os.chmod(stale, 0o644)
    os.chmod(workdir / "argilla-home", 0o755)
    server = EmbeddedArgilla(workdir, port=free_port(), web_workers=2)  # serve's default on 2 cores
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _modes(root: Path) -> dict[str, int]:
    out = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            out[str(path.relative_to(root))] = stat.S_IMODE(path.lstat().st_mode)
    return out


def test_private_files_password_and_single_server(own_server: EmbeddedArgilla, tmp_path: Path) -> None:
    # every folder 0700 and file 0600 (Argilla's database holds API keys), older files fixed on start
    assert own_server.database_path.is_file()
    modes = _modes(own_server.workdir)
    assert modes["argilla-home/argilla.db"] == 0o600
    assert modes["argilla-home/left-over.txt"] == 0o600
    for sub in ("argilla-home", "redis", "logs", "secrets"):
        assert modes[sub] == 0o700, sub
    loose = {path: oct(mode) for path, mode in modes.items() if mode not in (0o600, 0o700)}
    assert loose == {}

    # Redis: loopback only, refuses commands without the password, password not on its command line
    password = (own_server.secrets_dir / "redis-password").read_text().strip()
    assert len(password) >= 32
    with socket.create_connection(("127.0.0.1", own_server.redis_port or 0), timeout=2) as sock:
        sock.sendall(b"PING\r\n")
        assert sock.recv(64).startswith(b"-NOAUTH")
    cmdline = Path(f"/proc/{own_server._procs['redis'].pid}/cmdline").read_bytes()
    assert password.encode() not in cmdline
    assert b"127.0.0.1" in cmdline

    # one server per workspace: a second start is refused with the running one's URL, and does not
    # disturb the first (its server.json, which the other commands read, stays)
    before = (own_server.workdir / "server.json").read_text()
    second = EmbeddedArgilla(own_server.workdir, port=free_port())
    with pytest.raises(AlreadyRunningError, match=f"already running .* at {own_server.url} "):
        second.start()
    assert (own_server.workdir / "server.json").read_text() == before
    assert httpx.get(f"{own_server.url}/api/v1/version", timeout=5).status_code == 200


class Submitter(threading.Thread):
    """One annotator: submits best/worst for its records back to back, retrying failed requests; keeps
    the record ids the server acknowledged with a 2xx."""

    def __init__(self, url: str, username: str, password: str, record_ids: list[str], deadline: float) -> None:
        super().__init__(daemon=True)
        self.url, self.username, self.password = url, username, password
        self.todo = list(record_ids)
        self.acked: list[str] = []
        self.failures = 0
        self.deadline = deadline

    def run(self) -> None:
        annotator: UIAnnotator | None = None
        while self.todo and time.monotonic() < self.deadline:
            try:
                annotator = annotator or UIAnnotator(self.url, self.username, self.password)
                response = annotator.submit(self.todo[0], "A", "F")
            except httpx.HTTPError:
                self.failures += 1
                annotator = None
                time.sleep(0.3)
                continue
            if response.is_success:
                self.acked.append(self.todo.pop(0))
            elif response.status_code == 409 or "already" in response.text:
                self.todo.pop(0)  # stored before a crash, the ack was lost: not acknowledged, not counted
            else:
                self.failures += 1
                time.sleep(0.3)
            time.sleep(0.05)


def _children(pid: int) -> list[int]:
    """uvicorn's live web processes under its parent ``pid`` (Linux /proc; multiprocessing's resource
    tracker, also a child, is left out)."""
    alive = []
    for kid in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
        try:
            state = Path(f"/proc/{kid}/stat").read_text().split(")")[-1].split()[0]
            cmdline = Path(f"/proc/{kid}/cmdline").read_bytes()
        except FileNotFoundError:
            continue
        if state != "Z" and b"spawn_main" in cmdline:
            alive.append(int(kid))
    return alive


def _wait_for(condition, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.3)
    raise AssertionError(f"timed out waiting for {what}")


def test_children_killed_while_annotators_submit(own_server: EmbeddedArgilla, tmp_path: Path) -> None:
    client = own_server.client()
    store, _ = make_store(tmp_path / "ws", n_sets=24)
    passwords = create_annotators(client, "faults", "annotators: [ann-a, ann-b, ann-c]\n", tmp_path)
    push_candidate_sets(client, store, dataset="prefs", workspace="faults", min_submitted=3)
    dataset = client.datasets(name="prefs", workspace="faults")
    server_ids = [str(r._server_id) for r in dataset.records(with_responses=False)]
    assert len(server_ids) == 24

    deadline = time.monotonic() + 600
    workers = [Submitter(own_server.url, name, passwords[name], server_ids, deadline) for name in passwords]
    for w in workers:
        w.start()

    def restarted(name: str, count: int) -> bool:
        return own_server.restarts.get(name, 0) >= count

    def acked() -> int:
        return sum(len(w.acked) for w in workers)

    # one of uvicorn's two web processes dies: uvicorn starts another, our supervisor has nothing to do
    _wait_for(lambda: acked() > 0 or not any(w.is_alive() for w in workers), 60, "a first submission")
    web_pid = own_server._procs["web"].pid
    first = _children(web_pid)
    assert len(first) == 2
    os.kill(first[0], signal.SIGKILL)
    _wait_for(lambda: len(set(_children(web_pid)) - set(first)) == 1, 60, "uvicorn to replace its web process")
    mark = acked()
    _wait_for(lambda: acked() > mark or not any(w.is_alive() for w in workers), 60, "a submission after it")
    assert own_server.restarts.get("web", 0) == 0

    for name in ("web", "worker", "redis"):
        _wait_for(lambda: acked() > 0 or not any(w.is_alive() for w in workers), 60, "a first submission")
        before = own_server.restarts.get(name, 0)
        os.kill(own_server._procs[name].pid, signal.SIGKILL)
        _wait_for(lambda name=name, before=before: restarted(name, before + 1), 240, f"{name} to be restarted")
        time.sleep(1.0)  # let annotators get a few submissions through between the kills
    for w in workers:
        w.join(timeout=max(1.0, deadline - time.monotonic()))
    assert not any(w.is_alive() for w in workers), "annotators did not finish"
    assert own_server.failure is None

    # restart counts reach `annotate status` through server.json
    info = json.loads((own_server.workdir / "server.json").read_text())
    assert info["web_workers"] == 2 and len(_children(own_server._procs["web"].pid)) == 2
    assert info["restarts"]["web"] >= 1 and info["restarts"]["worker"] >= 1 and info["restarts"]["redis"] >= 1
    log = (own_server.logs_dir / "supervisor.log").read_text()
    assert "web restarted" in log and "redis restarted" in log

    # every acknowledged submission is there after a pull, none twice
    pulled = pull_annotations(client, store, dataset="prefs", workspace="faults")
    stored = list(store.iter(Annotation))
    by_record = {str(r._server_id): r.id for r in dataset.records(with_responses=False)}
    have = [(a.annotator, a.candidate_set_id) for a in stored]
    assert len(have) == len(set(have)), "an annotation was stored twice"
    acked = {(w.username, by_record[rid]) for w in workers for rid in w.acked}
    assert acked <= set(have)
    assert sum(len(w.acked) for w in workers) >= 24  # most of the 72 went through despite three kills
    assert pulled.imported == len(stored)

"""`annotate serve --database postgresql`: the embedded server on a private PostgreSQL cluster.

The search engine tests (test_search_engine.py) run on this backend too; here: the cluster's privacy,
its password, its data across restarts and a kill -9 healed by the supervisor."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import argilla as rg
import httpx
import pytest

from annotation.server.embedded import EmbeddedArgilla, ServerStartError, free_port
from annotation.server.postgres import PG_DATABASE, PG_USER
from annotation.server.server_env import default_venv_dir, venv_python
from tests.helpers import REPO

from .helpers import UIAnnotator


def _group_cmdlines(pgid: int) -> list[bytes]:
    """Command lines of every process in process group ``pgid`` (the postmaster and its backends)."""
    out = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if os.getpgid(int(entry.name)) == pgid:
                out.append((entry / "cmdline").read_bytes())
        except (ProcessLookupError, OSError):
            continue
    return out


def _connect(server: EmbeddedArgilla, password: str | None) -> subprocess.CompletedProcess[str]:
    """Log in to the cluster with psycopg2 from the server venv; the password travels in PGPASSWORD."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    if password is not None:
        env["PGPASSWORD"] = password
    code = (
        "import psycopg2, sys; c = psycopg2.connect(host='127.0.0.1', port=int(sys.argv[1]), "
        f"user={PG_USER!r}, dbname={PG_DATABASE!r}); print(c.cursor().execute('SELECT 1') or 'ok')"
    )
    python = venv_python(server.venv_dir or default_venv_dir())
    return subprocess.run(
        [str(python), "-c", code, str(server.postgres_port)], env=env, capture_output=True, text=True, timeout=60
    )


def _text_dataset(server: EmbeddedArgilla, name: str, texts: list[str]) -> rg.Dataset:
    """A workspace and a dataset, both called ``name``, holding one record per text."""
    client = server.client()
    rg.Workspace(name=name, client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="text")], questions=[rg.LabelQuestion(name="l", labels=["a", "b"])]
    )
    dataset = rg.Dataset(name=name, workspace=name, settings=settings, client=client).create()
    dataset.records.log([{"text": text} for text in texts])
    return dataset


@pytest.mark.server
def test_postgres_server_private_password_protected(argilla_pg_server: EmbeddedArgilla) -> None:
    server = argilla_pg_server
    status = httpx.get(f"{server.url}/api/v1/status", headers={"X-Argilla-Api-Key": server.credentials.api_key})
    assert status.json()["search_engine"]["version"].startswith("PostgreSQL ")
    info = json.loads((server.workdir / "server.json").read_text())
    assert (info["database"], info["postgres_port"]) == ("postgresql", server.postgres_port)
    assert not server.database_path.exists()  # no SQLite database on the side

    # the SDK works on it
    dataset = _text_dataset(server, "pg-smoke", ["你好", "hello"])
    assert sorted(r.fields["text"] for r in dataset.records) == ["hello", "你好"]

    # the cluster is private: every folder 0700, every file 0600, the password in secrets/ (0600)
    for dirpath, dirnames, filenames in os.walk(server.postgres_dir):
        for name in dirnames + filenames:
            mode = stat.S_IMODE((Path(dirpath) / name).lstat().st_mode)
            assert mode == (0o700 if name in dirnames else 0o600), (Path(dirpath) / name, oct(mode))
    assert stat.S_IMODE(server.postgres_dir.stat().st_mode) == 0o700
    password_file = server.secrets_dir / "postgres-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert len(password) >= 32
    assert not (server.postgres_dir / "initdb-password").exists()

    # the password is on no command line: postgres and its backends, Redis, the web server, the worker
    pgid = server._procs["postgres"].pid
    cmdlines = _group_cmdlines(pgid) + [Path(f"/proc/{p.pid}/cmdline").read_bytes() for p in server._procs.values()]
    assert len(cmdlines) > len(server._procs)  # backends serving the web server and the worker were seen
    assert all(password.encode() not in line for line in cmdlines)
    assert b"listen_addresses=127.0.0.1" in Path(f"/proc/{pgid}/cmdline").read_bytes()
    for log in server.logs_dir.iterdir():  # nor in any log (SQLAlchemy masks it in URLs)
        assert password not in log.read_text(errors="replace"), log

    # SCRAM password authentication: refused without the password, accepted with it
    refused = _connect(server, None)
    assert refused.returncode != 0 and "password" in refused.stderr, refused.stderr
    wrong = _connect(server, "not-the-password")
    assert wrong.returncode != 0 and "password authentication failed" in wrong.stderr, wrong.stderr
    accepted = _connect(server, password)
    assert accepted.returncode == 0 and accepted.stdout.strip() == "ok", accepted.stderr


def _records(server: EmbeddedArgilla) -> list[str]:
    dataset = server.client().datasets(name="keep", workspace="keep")
    return sorted(r.fields["text"] for r in dataset.records)


@pytest.mark.server
def test_postgres_kill_healed_and_data_kept_across_restarts(tmp_path: Path) -> None:
    workdir = tmp_path / "argilla"
    server = EmbeddedArgilla(workdir, port=free_port(), database="postgresql")
    server.start()
    try:
        dataset = _text_dataset(server, "keep", ["one", "two"])

        # kill -9 the postmaster: the supervisor restarts it (on the same port) and the stack recovers
        old_pid = server._procs["postgres"].pid
        os.kill(old_pid, signal.SIGKILL)
        deadline = time.monotonic() + 240
        while server.restarts.get("postgres", 0) < 1 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert server.restarts.get("postgres") == 1 and server.failure is None
        assert server._procs["postgres"].pid != old_pid
        assert _group_cmdlines(old_pid) == []  # its orphaned backends were cleaned up
        assert "postgres restarted" in (server.logs_dir / "supervisor.log").read_text()
        dataset.records.log([{"text": "three"}])
        assert _records(server) == ["one", "three", "two"]
    finally:
        server.stop()
    init_log = (server.logs_dir / "postgres-init.log").read_text()

    # a new start reuses the cluster: same data, no second initdb, same password
    password = (server.secrets_dir / "postgres-password").read_text()
    again = EmbeddedArgilla(workdir, port=free_port(), database="postgresql")
    again.start()
    try:
        assert _records(again) == ["one", "three", "two"]
        assert (again.logs_dir / "postgres-init.log").read_text() == init_log
        assert (again.secrets_dir / "postgres-password").read_text() == password
    finally:
        again.stop()

    # starting this workspace on SQLite would show an empty server: refused, naming the folder
    with pytest.raises(ServerStartError, match=r"holds Argilla data in PostgreSQL .*--database postgresql"):
        EmbeddedArgilla(workdir, port=free_port(), database="sqlite").start()


def test_refuses_postgresql_on_a_sqlite_workspace(tmp_path: Path) -> None:
    workdir = tmp_path / "argilla"
    (workdir / "argilla-home").mkdir(parents=True)
    (workdir / "argilla-home" / "argilla.db").write_bytes(b"")
    with pytest.raises(ServerStartError, match=r"holds Argilla data in SQLite .*argilla\.db"):
        EmbeddedArgilla(workdir, port=free_port(), database="postgresql").start()
    assert not (workdir / "postgres").exists()
    with pytest.raises(ValueError, match="database must be one of sqlite, postgresql"):
        EmbeddedArgilla(workdir, database="mysql")


def test_serve_rejects_unknown_database(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "annotation.cli", "serve", "-w", str(tmp_path / "ws"), "--database", "mysql"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=REPO,
    )
    assert proc.returncode == 2
    assert "--database must be sqlite or postgresql, not 'mysql'" in proc.stderr + proc.stdout
    assert not (tmp_path / "ws" / "argilla").exists()


_LOCK_RECORDS = """
import psycopg2, sys, time
conn = psycopg2.connect(host="127.0.0.1", port=int(sys.argv[1]), user=sys.argv[2], dbname=sys.argv[3])
conn.cursor().execute("SELECT id FROM records FOR UPDATE")
print("locked", flush=True)
time.sleep(300)
"""


@pytest.mark.server
def test_annotator_queue_search_does_not_write_records(argilla_pg_server: EmbeddedArgilla) -> None:
    """argilla-server hides annotator-invisible metadata by assigning to the ORM record, which used to
    autoflush an UPDATE of every record on the page (deadlocks between annotators on PostgreSQL).
    While another session holds all record rows locked, the queue still answers, metadata filtered."""
    server = argilla_pg_server
    client = server.client()
    workspace = rg.Workspace(name="no-writes", client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="l", labels=["a", "b"])],
        metadata=[
            rg.TermsMetadataProperty(name="lang"),
            rg.TermsMetadataProperty(name="model", visible_for_annotators=False),
        ],
    )
    dataset = rg.Dataset(name="no-writes", workspace="no-writes", settings=settings, client=client).create()
    dataset.records.log([{"text": f"t{i}", "lang": "en", "model": "gpt-4o"} for i in range(3)])
    user = rg.User(username="no-writes-ann", password="no-writes-pass", role="annotator", client=client).create()
    workspace.add_user(user)

    password = (server.secrets_dir / "postgres-password").read_text().strip()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("PG")}, "PGPASSWORD": password}
    python = venv_python(server.venv_dir or default_venv_dir())
    locker = subprocess.Popen(
        [str(python), "-c", _LOCK_RECORDS, str(server.postgres_port), PG_USER, PG_DATABASE],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert locker.stdout is not None and locker.stdout.readline().strip() == "locked"
        annotator = UIAnnotator(server.url, "no-writes-ann", "no-writes-pass")
        annotator.http.timeout = httpx.Timeout(30.0)  # an UPDATE would wait for the lock until killed
        items = annotator.search(str(dataset.id), ["pending"])["items"]
    finally:
        locker.kill()
        locker.wait()
    assert len(items) == 3
    assert [item["record"]["metadata"] for item in items] == [{"lang": "en"}] * 3
    owner_view = next(iter(dataset.records)).metadata
    assert owner_view["model"] == "gpt-4o"  # the stored metadata is untouched

"""A private PostgreSQL cluster for the embedded Argilla server (``annotate serve --database postgresql``).

Debian's ``postgresql`` package provides the binaries (``initdb``, ``postgres``); nothing is installed
system-wide and no system service is used. The cluster lives in ``<workdir>/postgres/data`` (0700), is
created once with ``initdb`` (superuser ``charm``, SCRAM password authentication, the password read from
a 0600 file that is removed afterwards) and is started by the supervisor in ``embedded.py`` as a child
like Redis: ``postgres -D DIR -p PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=``
(loopback TCP only, no unix socket). Its data survives restarts.

PostgreSQL refuses to run as root. When we are root (CI, containers) every PostgreSQL program runs in a
user namespace (``unshare --user --map-user=UID``) where our uid appears as an unprivileged user: the
files stay owned by us, so the private 0700 workdir needs no wider permissions, and postgres runs
without root's privileges. When that is not possible the error says so and what to do instead.
"""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import quote

DATABASES = ("sqlite", "postgresql")
PG_USER = "charm"
PG_DATABASE = "argilla"
PG_MAX_CONNECTIONS = 200  # web + worker each keep a pool (argilla: 15 + 10 overflow) and rq forks per job


class PostgresError(RuntimeError):
    """PostgreSQL is missing or cannot run here; the message says what to do."""


def find_bindir() -> Path:
    """The folder holding ``initdb`` and ``postgres``: ``pg_config --bindir``, else the newest
    ``/usr/lib/postgresql/*/bin`` (Debian installs pg_config only with libpq-dev)."""
    candidates: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        proc = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
        if proc.returncode == 0 and proc.stdout.strip():
            candidates.append(Path(proc.stdout.strip()))

    def version(path: str) -> tuple[int, ...]:
        return tuple(int(n) for n in re.findall(r"\d+", Path(path).parent.name)) or (0,)

    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=version, reverse=True)]
    for bindir in candidates:
        if (bindir / "initdb").is_file() and (bindir / "postgres").is_file():
            return bindir
    raise PostgresError(
        "PostgreSQL is not installed (no initdb/postgres found via pg_config or /usr/lib/postgresql/*/bin). "
        "Install it with `apt-get install -y postgresql` (or `make system-deps`) and rerun."
    )


def _unprivileged_ids() -> tuple[int, int]:
    """The uid/gid we appear as inside the user namespace: the ``postgres`` account, else ``nobody``
    (initdb looks the effective user up in /etc/passwd)."""
    for name in ("postgres", "nobody"):
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            continue
        if entry.pw_uid != 0:
            return entry.pw_uid, entry.pw_gid
    return 65534, 65534


def command_prefix() -> list[str]:
    """What to put before a PostgreSQL program so it does not run as root (empty when we are not root)."""
    if os.geteuid() != 0:
        return []
    unshare = shutil.which("unshare")
    if unshare is None:
        raise PostgresError(
            "PostgreSQL refuses to run as root and `unshare` (util-linux) is missing; "
            "install util-linux or run `annotate serve --database postgresql` as a non-root user."
        )
    uid, gid = _unprivileged_ids()
    prefix = [unshare, "--user", f"--map-user={uid}", f"--map-group={gid}"]
    probe = subprocess.run([*prefix, "true"], capture_output=True, text=True, check=False)
    if probe.returncode != 0:
        raise PostgresError(
            "PostgreSQL refuses to run as root, and user namespaces are not available here "
            f"(`unshare --user` failed: {probe.stderr.strip() or probe.returncode}); run "
            "`annotate serve --database postgresql` as a non-root user, or use --database sqlite."
        )
    return prefix


class LocalPostgres:
    """One private cluster in ``root`` (``root/data``), reachable on ``127.0.0.1:port`` as :data:`PG_USER`."""

    def __init__(self, root: Path, password: str, host: str = "127.0.0.1") -> None:
        self.root = root
        self.password = password
        self.host = host
        self.bindir = find_bindir()
        self.prefix = command_prefix()

    @property
    def data_dir(self) -> Path:
        """The cluster's data directory (PGDATA)."""
        return self.root / "data"

    def is_initialised(self) -> bool:
        return (self.data_dir / "PG_VERSION").is_file()

    def initdb_command(self, pwfile: Path) -> list[str]:
        return [
            *self.prefix,
            str(self.bindir / "initdb"),
            "-D",
            str(self.data_dir),
            "-U",
            PG_USER,
            f"--pwfile={pwfile}",
            "--auth=scram-sha-256",
            "-E",
            "UTF8",
            "--locale=C.UTF-8",
        ]

    def server_command(self, port: int) -> list[str]:
        """The postmaster in the foreground: loopback TCP only, no unix socket, logs on stderr."""
        return [
            *self.prefix,
            str(self.bindir / "postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={self.host}",
            "-c",
            "unix_socket_directories=",
            "-c",
            f"max_connections={PG_MAX_CONNECTIONS}",
        ]

    def is_ready(self, pid: int) -> bool:
        """True when the postmaster ``pid`` accepts connections (its ``postmaster.pid`` says ``ready``)."""
        try:
            lines = (self.data_dir / "postmaster.pid").read_text().splitlines()
        except OSError:
            return False
        return len(lines) >= 8 and lines[0].strip() == str(pid) and lines[7].strip() == "ready"

    def url(self, port: int, driver: str = "asyncpg") -> str:
        """SQLAlchemy URL of Argilla's database (holds the password: only ever passed through env)."""
        return f"postgresql+{driver}://{PG_USER}:{quote(self.password, safe='')}@{self.host}:{port}/{PG_DATABASE}"

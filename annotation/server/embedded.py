"""Run a complete Argilla 2.8 stack locally without Docker: Redis, argilla-server (SQLite or a private
PostgreSQL cluster), an rq worker, under a supervisor that restarts a child that dies.

>>> with EmbeddedArgilla(Path("ws/argilla"), port=6900) as server:   # doctest: +SKIP
...     client = server.client()          # argilla.Argilla logged in as the owner
...     print(server.url, server.credentials_file)

Owns ``workdir`` (databases, logs, 0600 secrets, ``server.json``, ``server.lock``); its layout,
permissions, restart policy and owner password are in docs/design.md#embedded-argilla-server.
"""

from __future__ import annotations

import ctypes
import fcntl
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

import httpx

from annotation.server.postgres import DATABASES, LocalPostgres, PostgresError
from annotation.server.server_env import ServerEnvError, ensure_server_venv
from charm_kernel.paths import write_private

OWNER_PASSWORD_ENV = "CHARM_ARGILLA_OWNER_PASSWORD"
SEARCH_ENGINE_NAME = "charm-sqlite"
_LAUNCHER = Path(__file__).resolve().parent / "launcher.py"
# Variables of charm-builder's own environment that must not leak into the server venv's python.
_SCRUBBED_ENV = ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", OWNER_PASSWORD_ENV)
RESTART_BACKOFF = (0.0, 1.0, 2.0, 4.0, 8.0)  # seconds before the 1st, 2nd, ... restart of a child in a window
MAX_RESTARTS = 5
RESTART_WINDOW = 300.0
_CHILD_ORDER = ("redis", "postgres", "web", "worker")  # heal order: databases before their users


class ServerStartError(RuntimeError):
    """The embedded server could not start; the message names the cause and the log to read."""


class PortBusyError(ServerStartError):
    """The requested port is already in use."""


class AlreadyRunningError(ServerStartError):
    """Another embedded server already runs on this workspace (it holds ``server.lock``)."""


@dataclass(frozen=True)
class OwnerCredentials:
    """The owner account of an embedded server. ``repr`` never shows the secrets."""

    username: str
    api_key: str = field(repr=False)
    password: str = field(repr=False)
    password_from_env: bool = False


def port_is_free(host: str, port: int) -> bool:
    """True when nothing listens on ``host:port`` and we may bind it."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) != 0


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that is free right now on ``host``."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def make_private(root: Path) -> None:
    """Folders 0700 and files 0600 under ``root`` (which itself becomes 0700); links are left alone."""
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o700)
        for name in filenames:
            path = os.path.join(dirpath, name)
            if not os.path.islink(path):
                os.chmod(path, 0o600)


def load_or_create_owner(secrets_dir: Path, username: str = "owner", password: str | None = None) -> OwnerCredentials:
    """Read the owner's credentials from ``secrets_dir/owner.json``, creating them on first use.

    ``password`` (or ``$CHARM_ARGILLA_OWNER_PASSWORD``) overrides the stored password; an overriding
    password is not written to disk. The API key is generated once and kept.
    """
    path = secrets_dir / "owner.json"
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text())
        except ValueError as exc:
            raise ServerStartError(f"{path} is not valid JSON ({exc}); delete it to generate new credentials") from exc
    password = password or os.environ.get(OWNER_PASSWORD_ENV) or None
    from_env = password is not None
    if password is not None and len(password) < 8:
        raise ServerStartError(f"{OWNER_PASSWORD_ENV} must be at least 8 characters long")
    creds = OwnerCredentials(
        username=stored.get("username") or username,
        api_key=stored.get("api_key") or "charm.apikey." + secrets.token_urlsafe(24),
        password=password or stored.get("password") or secrets.token_urlsafe(18),
        password_from_env=from_env,
    )
    record = {
        "username": creds.username,
        "api_key": creds.api_key,
        **({} if from_env else {"password": creds.password}),
    }
    if record != {k: stored.get(k) for k in record} or (from_env and "password" in stored):
        write_private(path, json.dumps(record, indent=2) + "\n", private_dir=True)
    return creds


def _stored_secret(path: Path) -> str:
    """A random hex secret kept (0600) in ``path``, created on first use."""
    if path.is_file():
        value = path.read_text().strip()
        if value:
            return value
    value = secrets.token_hex(32)
    write_private(path, value + "\n", private_dir=True)
    return value


def _redis_ping(host: str, port: int, password: str) -> bool:
    """True when Redis answers PING after AUTH with ``password``."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(f"AUTH {password}\r\nPING\r\n".encode())
            answer = b""
            while answer.count(b"\r\n") < 2:
                chunk = sock.recv(64)
                if not chunk:
                    break
                answer += chunk
            return answer == b"+OK\r\n+PONG\r\n"
    except OSError:
        return False


def default_web_workers() -> int:
    """Web processes for ``annotate serve``: one per core, at most 4 (each holds its own copy of the
    app and all of them share one SQLite writer); figures in benchmarks/README.md#figures."""
    return max(1, min(4, os.cpu_count() or 1))


def _child_setup() -> None:  # pragma: no cover - runs in the child between fork and exec
    """Files the child creates are private (umask 077); on Linux the kernel SIGTERMs the child if its
    parent dies (even by SIGKILL): no orphans."""
    os.umask(0o077)
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # 1 = PR_SET_PDEATHSIG
        except (OSError, AttributeError):
            pass


def _tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _path_under(base: str, name: str, doc: str) -> property:
    """A read-only property: the path ``name`` inside the instance's ``base`` folder attribute."""
    return property(lambda self: getattr(self, base) / name, doc=doc)


class EmbeddedArgilla:
    """Start/stop Redis, argilla-server and its worker as child processes; usable as a context manager."""

    def __init__(
        self,
        workdir: Path | str,
        port: int = 6900,
        host: str = "127.0.0.1",
        *,
        owner_username: str = "owner",
        owner_password: str | None = None,
        venv_dir: Path | None = None,
        startup_timeout: float = 180.0,
        supervise: bool = True,
        database: str = "sqlite",
        web_workers: int = 1,
    ) -> None:
        if database not in DATABASES:
            raise ValueError(f"database must be one of {', '.join(DATABASES)}, not {database!r}")
        if web_workers < 1:
            raise ValueError(f"web_workers must be at least 1, not {web_workers}")
        self.database = database
        self.web_workers = web_workers
        self.workdir = Path(workdir).resolve()
        self.host = host
        self.port = port
        self.owner_username = owner_username
        self._owner_password = owner_password
        self.venv_dir = venv_dir
        self.startup_timeout = startup_timeout
        self.supervise = supervise
        self.redis_port: int | None = None
        self.postgres_port: int | None = None
        self._postgres: LocalPostgres | None = None
        self.restarts: dict[str, int] = {}
        self.failure: str | None = None
        self._procs: dict[str, subprocess.Popen[bytes]] = {}
        self._commands: dict[str, tuple[list[str], dict[str, str]]] = {}
        self._deaths: dict[str, list[float]] = {}
        self._logs: list[IO[bytes]] = []
        self._credentials: OwnerCredentials | None = None
        self._redis_password = ""
        self._lock_fd: int | None = None
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    # -- paths and properties -------------------------------------------------------------------

    home = _path_under("workdir", "argilla-home", "ARGILLA_HOME_PATH: holds the SQLite database.")
    logs_dir = _path_under("workdir", "logs", "Where each child process writes its log.")
    secrets_dir = _path_under("workdir", "secrets", "0700 folder with the owner credentials and the auth secret.")
    credentials_file = _path_under(
        "secrets_dir", "owner.json", "0600 JSON file with the owner's username, API key and (when generated) password."
    )
    server_file = _path_under(
        "workdir",
        "server.json",
        "0600 JSON with the running server's URL, pid, ports and restart counts (removed when it stops).",
    )
    database_path = _path_under("home", "argilla.db", "Argilla's SQLite database file.")
    postgres_dir = _path_under("workdir", "postgres", 'The PostgreSQL cluster\'s folder (``database="postgresql"``).')

    def running_info(self) -> dict[str, Any]:
        """The contents of :attr:`server_file`; empty when no server runs here or the file cannot be read."""
        try:
            return dict(json.loads(self.server_file.read_text()))
        except (OSError, ValueError):
            return {}

    @classmethod
    def saved_connection(cls, workdir: Path | str) -> tuple[str | None, str | None]:
        """(URL, owner API key) of the server started on ``workdir``, as its files record them; ``None`` for
        what is absent (no server running, or never started). Starts nothing."""
        server = cls(workdir)
        url = server.running_info().get("url")
        api_key = None
        if server.credentials_file.is_file():
            api_key = json.loads(server.credentials_file.read_text())["api_key"]
        return url, api_key

    @property
    def url(self) -> str:
        """Base URL of the web UI and API."""
        return f"http://{self.host}:{self.port}"

    @property
    def credentials(self) -> OwnerCredentials:
        """The owner's credentials (available after :meth:`start`)."""
        if self._credentials is None:
            raise ServerStartError("the embedded server has not been started")
        return self._credentials

    def client(self, api_key: str | None = None) -> Any:
        """An ``argilla.Argilla`` client for this server (owner unless ``api_key`` is given)."""
        import argilla as rg

        return rg.Argilla(api_url=self.url, api_key=api_key or self.credentials.api_key, timeout=120)

    def is_running(self) -> bool:
        """True when all children are alive."""
        return bool(self._procs) and all(p.poll() is None for p in self._procs.values())

    def dead_children(self) -> list[str]:
        """Names of children that exited."""
        return [name for name, p in self._procs.items() if p.poll() is not None]

    # -- lifecycle ------------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def start(self) -> None:
        """Start Redis, migrate the database, create the owner, start the web server and the worker.

        Raises :class:`AlreadyRunningError` when another server runs on this workspace,
        :class:`PortBusyError` when the port is taken, :class:`ServerStartError` otherwise.
        """
        self._acquire_lock()
        try:
            self._start_children()
        except BaseException:
            self.stop()
            raise
        self._write_server_file()
        if self.supervise:
            self._stopping.clear()
            self._supervisor = threading.Thread(target=self._supervise_loop, name="argilla-supervisor", daemon=True)
            self._supervisor.start()

    def _check_database_choice(self) -> None:
        """Refuse to start on one database when this workspace's data lives in the other one."""
        pg_data = self.postgres_dir / "data" / "PG_VERSION"
        if self.database == "postgresql" and self.database_path.is_file() and not pg_data.is_file():
            raise ServerStartError(
                f"{self.workdir} holds Argilla data in SQLite ({self.database_path}); PostgreSQL would start "
                "empty. Keep --database sqlite, or move that file away to start afresh on PostgreSQL."
            )
        if self.database == "sqlite" and pg_data.is_file() and not self.database_path.is_file():
            raise ServerStartError(
                f"{self.workdir} holds Argilla data in PostgreSQL ({self.postgres_dir}); start it with "
                "--database postgresql, or move that folder away to start afresh on SQLite."
            )

    def _start_children(self) -> None:
        self._check_database_choice()
        if not port_is_free(self.host, self.port):
            raise PortBusyError(
                f"Port {self.port} on {self.host} is already in use (another Argilla?). "
                "Stop that process or choose another port with --port."
            )
        redis_bin = shutil.which("redis-server")
        if redis_bin is None:
            raise ServerStartError(
                "redis-server is not installed. Install it with `apt-get install -y redis-server` "
                "(or call annotation.server.server_env.ensure_system_packages()) and rerun."
            )
        try:
            python = ensure_server_venv(self.venv_dir)
        except ServerEnvError as exc:
            raise ServerStartError(str(exc)) from exc

        for folder in (self.home, self.workdir / "redis", self.logs_dir, self.secrets_dir):
            make_private(folder)
        self._credentials = load_or_create_owner(self.secrets_dir, self.owner_username, self._owner_password)
        secret_key = _stored_secret(self.secrets_dir / "auth-secret")
        self._redis_password = _stored_secret(self.secrets_dir / "redis-password")

        self.redis_port = free_port(self.host)
        redis_conf = self.workdir / "redis" / "redis.conf"  # the password stays off the command line
        write_private(redis_conf, f"requirepass {self._redis_password}\n", private_dir=True)
        self._spawn(
            "redis",
            [
                redis_bin,
                str(redis_conf),
                "--port",
                str(self.redis_port),
                "--bind",
                self.host,
                "--protected-mode",
                "yes",
                "--dir",
                str(self.workdir / "redis"),
                "--save",
                "60 1",
                "--appendonly",
                "yes",
                "--appendfsync",
                "everysec",
                "--daemonize",
                "no",
                "--logfile",
                "",
            ],
            env=self._base_env(),
        )
        self._wait(self._redis_ready, "redis", 30.0)
        if self.database == "postgresql":
            self._start_postgres()

        env = self._server_env(secret_key)
        self._run_once("migrate", [str(python), str(_LAUNCHER), "migrate"], env)
        owner_env = {
            **env,
            "CHARM_OWNER_USERNAME": self.credentials.username,
            "CHARM_OWNER_PASSWORD": self.credentials.password,
            "CHARM_OWNER_API_KEY": self.credentials.api_key,
        }
        self._run_once("owner", [str(python), str(_LAUNCHER), "ensure-owner"], owner_env)
        web = [str(python), str(_LAUNCHER), "web", "--host", self.host, "--port", str(self.port)]
        self._spawn("web", [*web, "--workers", str(self.web_workers)], env)
        self._spawn("worker", [str(python), str(_LAUNCHER), "worker"], env=env)
        self._wait(self._api_ready, "web", self.startup_timeout)
        make_private(self.home)  # the database was created by the children (umask 077); fix older ones too

    def _start_postgres(self) -> None:
        """Create the cluster on first use, then run the postmaster as a supervised child."""
        make_private(self.postgres_dir)
        try:
            self._postgres = LocalPostgres(self.postgres_dir, _stored_secret(self.secrets_dir / "postgres-password"))
        except PostgresError as exc:
            raise ServerStartError(str(exc)) from exc
        pg = self._postgres
        if not pg.is_initialised():
            pwfile = self.postgres_dir / "initdb-password"  # the password stays off the command line
            write_private(pwfile, pg.password + "\n", private_dir=True)
            try:
                self._run_once("postgres-init", pg.initdb_command(pwfile), self._base_env())
            except ServerStartError:
                shutil.rmtree(pg.data_dir, ignore_errors=True)  # half-made: start from scratch next time
                raise
            finally:
                pwfile.unlink(missing_ok=True)
        self.postgres_port = free_port("127.0.0.1")
        self._spawn("postgres", pg.server_command(self.postgres_port), self._base_env())
        self._wait(self._postgres_ready, "postgres", 120.0)

    def stop(self, timeout: float = 15.0) -> None:
        """Stop the supervisor, then terminate the children (web, worker, then Redis, which saves its data,
        and PostgreSQL, with a fast shutdown)."""
        self._stopping.set()
        if self._supervisor is not None and self._supervisor is not threading.current_thread():
            self._supervisor.join(timeout=60)
        self._supervisor = None
        with self._lock:
            for group in (("web", "worker"), ("redis", "postgres")):  # databases last: the others use them
                names = [n for n in group if n in self._procs]
                for name in names:  # SIGINT: PostgreSQL's fast shutdown (SIGTERM waits for clients)
                    self._signal(self._procs[name], signal.SIGINT if name == "postgres" else signal.SIGTERM)
                for name in names:
                    proc = self._procs[name]
                    try:
                        proc.wait(timeout=timeout)
                    except subprocess.TimeoutExpired:
                        self._signal(proc, signal.SIGKILL)
                        proc.wait(timeout=5)
            self._procs.clear()
            for handle in self._logs:
                handle.close()
            self._logs.clear()
            if self._lock_fd is not None:
                self.server_file.unlink(missing_ok=True)
                os.close(self._lock_fd)  # releases the flock
                self._lock_fd = None

    # -- one server per workspace ---------------------------------------------------------------

    def _acquire_lock(self) -> None:
        """Hold an exclusive flock on ``server.lock`` for the server's lifetime."""
        make_private(self.workdir)
        fd = os.open(self.workdir / "server.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            running = self.running_info()
            where = f"at {running.get('url')} (pid {running.get('pid')})" if running else "(starting up)"
            raise AlreadyRunningError(
                f"another `annotate serve` is already running on {self.workdir} {where}; use it, or stop it first"
            ) from None
        self._lock_fd = fd

    # -- supervision ----------------------------------------------------------------------------

    def _supervise_loop(self) -> None:
        while not self._stopping.wait(0.5):
            try:
                self.heal()
            except ServerStartError as exc:
                self.failure = str(exc)
                self._log_supervisor(f"giving up: {exc}")
                threading.Thread(target=self.stop, name="argilla-stop", daemon=True).start()
                return

    def heal(self) -> list[str]:
        """Restart every child that died (databases first); returns their names.

        Raises :class:`ServerStartError` when a child died more than :data:`MAX_RESTARTS` times within
        :data:`RESTART_WINDOW` seconds, or does not come back.
        """
        restarted = []
        for name in _CHILD_ORDER:
            with self._lock:
                proc = self._procs.get(name)
                if proc is None or proc.poll() is None or self._stopping.is_set():
                    continue
                now = time.monotonic()
                deaths = [t for t in self._deaths.get(name, []) if now - t < RESTART_WINDOW] + [now]
                self._deaths[name] = deaths
                log_path = self.logs_dir / f"{name}.log"
                if len(deaths) > MAX_RESTARTS:
                    raise ServerStartError(
                        f"{name} died {len(deaths)} times within {RESTART_WINDOW:.0f}s (last exit code "
                        f"{proc.returncode}); see {log_path}:\n{_tail(log_path)}"
                    )
                delay = RESTART_BACKOFF[min(len(deaths), len(RESTART_BACKOFF)) - 1]
                self._log_supervisor(f"{name} exited with code {proc.returncode}; restarting in {delay:.0f}s")
            if self._stopping.wait(delay):
                return restarted
            with self._lock:
                if self._stopping.is_set():
                    return restarted
                cmd, env = self._commands[name]
                # leftovers: postgres backends, uvicorn's web workers (which still hold the port)
                self._kill_group(self._procs[name].pid)
                self._spawn(name, cmd, env)
                ready = {"redis": self._redis_ready, "postgres": self._postgres_ready, "web": self._api_ready}.get(name)
                if ready is not None:
                    self._wait(ready, name, self.startup_timeout, only=True)
                self.restarts[name] = self.restarts.get(name, 0) + 1
                self._log_supervisor(f"{name} restarted (restart #{self.restarts[name]})")
                self._write_server_file()
            restarted.append(name)
        return restarted

    def _log_supervisor(self, message: str) -> None:
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        fd = os.open(self.logs_dir / "supervisor.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "a") as handle:
            handle.write(f"{stamp} {message}\n")

    # -- helpers --------------------------------------------------------------------------------

    def _base_env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED_ENV and not k.startswith("ARGILLA_")}
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def _server_env(self, secret_key: str) -> dict[str, str]:
        env = self._base_env()
        env.update(
            {
                "ARGILLA_HOME_PATH": str(self.home),
                "ARGILLA_DATABASE_URL": self._database_url(),
                "ARGILLA_DATABASE_SQLITE_TIMEOUT": "30",
                "ARGILLA_REDIS_URL": f"redis://:{self._redis_password}@{self.host}:{self.redis_port}/0",
                "ARGILLA_SEARCH_ENGINE": SEARCH_ENGINE_NAME,
                "ARGILLA_AUTH_SECRET_KEY": secret_key,
                "ARGILLA_SHOW_HUGGINGFACE_SPACE_PERSISTENT_STORAGE_WARNING": "false",
                "HF_HUB_DISABLE_TELEMETRY": "1",
                "HF_HUB_OFFLINE": "1",
            }
        )
        return env

    def _database_url(self) -> str:
        if self.database == "postgresql":
            assert self._postgres is not None and self.postgres_port is not None
            return self._postgres.url(self.postgres_port)
        return f"sqlite+aiosqlite:///{self.database_path}?check_same_thread=False"

    def _open_log(self, name: str) -> IO[bytes]:
        fd = os.open(self.logs_dir / f"{name}.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        handle = os.fdopen(fd, "ab")
        self._logs.append(handle)
        return handle

    def _postgres_ready(self) -> bool:
        proc = self._procs.get("postgres")
        return self._postgres is not None and proc is not None and self._postgres.is_ready(proc.pid)

    def _redis_ready(self) -> bool:
        return _redis_ping(self.host, self.redis_port or 0, self._redis_password)

    def _child_args(self, name: str, env: dict[str, str]) -> dict[str, Any]:
        """How every child runs: output to its log, no stdin, ``env``, in the workdir, set up by _child_setup."""
        log = self._open_log(name)
        return {
            "stdout": log,
            "stderr": subprocess.STDOUT,
            "stdin": subprocess.DEVNULL,
            "env": env,
            "cwd": self.workdir,
            "preexec_fn": _child_setup,
        }

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        args = self._child_args(name, env)
        self._commands[name] = (cmd, env)
        # own process group: Ctrl-C reaches us, we stop the children
        self._procs[name] = subprocess.Popen(cmd, start_new_session=True, **args)

    def _run_once(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        proc = subprocess.run(cmd, check=False, timeout=600, **self._child_args(name, env))
        if proc.returncode != 0:
            log_path = self.logs_dir / f"{name}.log"
            raise ServerStartError(f"argilla-server `{name}` step failed; see {log_path}:\n{_tail(log_path)}")

    @staticmethod
    def _signal_group(pgid: int, sig: int) -> None:
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            pass

    @classmethod
    def _kill_group(cls, pgid: int, timeout: float = 10.0) -> None:
        """SIGKILL a child's process group and wait until it is gone (its sockets closed)."""
        cls._signal_group(pgid, signal.SIGKILL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except (ProcessLookupError, PermissionError):
                return
            time.sleep(0.05)

    @staticmethod
    def _signal(proc: subprocess.Popen[bytes], sig: int) -> None:
        if proc.poll() is not None:
            return
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            try:
                proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def _api_ready(self) -> bool:
        try:
            response = httpx.get(f"{self.url}/api/v1/version", timeout=2.0)
        except httpx.HTTPError:
            return False
        return response.status_code == 200

    def _wait(self, ready: Any, name: str, timeout: float, *, only: bool = False) -> None:
        """Poll ``ready()`` until true; fail early when a child (only ``name`` with ``only``) exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            dead = [n for n in self.dead_children() if not only or n == name]
            if dead:
                log_path = self.logs_dir / f"{dead[0]}.log"
                raise ServerStartError(f"{dead[0]} exited during start-up; see {log_path}:\n{_tail(log_path)}")
            if ready():
                return
            time.sleep(0.3)
        log_path = self.logs_dir / f"{name}.log"
        raise ServerStartError(f"{name} did not become ready within {timeout:.0f}s; see {log_path}:\n{_tail(log_path)}")

    def _write_server_file(self) -> None:
        info = {
            "url": self.url,
            "pid": os.getpid(),
            "redis_port": self.redis_port,
            "database": self.database,
            "web_workers": self.web_workers,
            **({"postgres_port": self.postgres_port} if self.database == "postgresql" else {}),
            "credentials_file": str(self.credentials_file),
            "restarts": dict(self.restarts),
        }
        write_private(self.server_file, json.dumps(info, indent=2) + "\n", private_dir=True)

"""Create (once) the private virtualenv that runs argilla-server 2.8.

argilla-server pins old pydantic/fastapi/typer/httpx, so it cannot share charm-builder's environment.
:func:`ensure_server_venv` builds a dedicated virtualenv in the user cache directory the first time it is
needed and returns its interpreter; later calls only check a marker file, so it is cheap and idempotent
and safe to call from CI or from several processes at once (a file lock serialises builders).

:func:`ensure_system_packages` installs the Debian packages the embedded server and the browser tests
need (``redis-server``, ``chromium``) when they are missing and we are root; otherwise it tells the user
exactly what to install.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from charm_kernel.paths import cache_dir

#: What the server virtualenv holds. ``click<8.2``: argilla-server's typer 0.9 CLI breaks on click 8.2.
#: ``asyncpg`` and ``psycopg2-binary`` let it use PostgreSQL (``annotate serve --database postgresql``):
#: the same drivers as argilla-server's ``postgresql`` extra, but psycopg2 as a prebuilt wheel (the extra's
#: ``psycopg2`` needs a compiler and libpq headers). Both have manylinux wheels, so no compiler is needed.
SERVER_REQUIREMENTS: tuple[str, ...] = (
    "argilla-server==2.8.0",
    "click<8.2",
    "asyncpg~=0.30.0",
    "psycopg2-binary~=2.9.0",
)

#: Debian packages: the embedded server needs Redis; the browser test needs Chromium.
SYSTEM_PACKAGES: dict[str, str] = {"redis-server": "redis-server", "chromium": "chromium"}

_MARKER = "charm-builder-venv.json"


class ServerEnvError(RuntimeError):
    """The argilla-server environment could not be prepared; the message says what to do."""


def default_venv_dir() -> Path:
    """Where the server virtualenv lives: ``$CHARM_ARGILLA_SERVER_VENV`` or the user cache directory."""
    explicit = os.environ.get("CHARM_ARGILLA_SERVER_VENV")
    if explicit:
        return Path(explicit).expanduser()
    return cache_dir() / "argilla-server-venv"


def venv_python(venv_dir: Path) -> Path:
    """The interpreter inside ``venv_dir``."""
    return venv_dir / "bin" / "python"


def _requirements_digest(requirements: Sequence[str]) -> str:
    text = "\n".join(requirements) + f"\npy{sys.version_info.major}.{sys.version_info.minor}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _is_ready(venv_dir: Path, digest: str) -> bool:
    marker = venv_dir / _MARKER
    if not marker.is_file() or not venv_python(venv_dir).exists():
        return False
    try:
        return json.loads(marker.read_text()).get("digest") == digest
    except (OSError, ValueError):
        return False


@contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_server_venv(
    venv_dir: Path | None = None,
    requirements: Sequence[str] = SERVER_REQUIREMENTS,
    *,
    quiet: bool = True,
) -> Path:
    """Return the python of a virtualenv holding argilla-server, creating it if needed.

    Idempotent: a marker file records the requirement set; a ready venv is returned without running pip.
    A half-built venv (interrupted install) has no marker and is rebuilt from scratch.
    """
    venv_dir = Path(venv_dir) if venv_dir else default_venv_dir()
    digest = _requirements_digest(requirements)
    if _is_ready(venv_dir, digest):
        return venv_python(venv_dir)
    with _file_lock(venv_dir.parent / (venv_dir.name + ".lock")):
        if _is_ready(venv_dir, digest):  # another process built it while we waited
            return venv_python(venv_dir)
        if venv_dir.exists():
            shutil.rmtree(venv_dir)
        try:
            venv.EnvBuilder(with_pip=True, clear=True).create(venv_dir)
            cmd = [str(venv_python(venv_dir)), "-m", "pip", "install", "--disable-pip-version-check"]
            if quiet:
                cmd.append("-q")
            proc = subprocess.run([*cmd, *requirements], capture_output=quiet, text=True, check=False)
        except OSError as exc:
            raise ServerEnvError(f"Could not create the argilla-server virtualenv in {venv_dir}: {exc}") from exc
        if proc.returncode != 0:
            tail = (proc.stderr or "")[-2000:] if quiet else ""
            raise ServerEnvError(
                f"pip could not install {' '.join(requirements)} into {venv_dir} (exit {proc.returncode}). "
                f"Check that PyPI is reachable, then rerun.\n{tail}"
            )
        check = subprocess.run(
            [str(venv_python(venv_dir)), "-c", "import argilla_server, rq, uvicorn, asyncpg, psycopg2"],
            capture_output=True,
            text=True,
            check=False,
        )
        if check.returncode != 0:
            raise ServerEnvError(f"argilla-server does not import in {venv_dir}:\n{check.stderr[-2000:]}")
        (venv_dir / _MARKER).write_text(json.dumps({"digest": digest, "requirements": list(requirements)}))
    return venv_python(venv_dir)


def missing_system_packages() -> list[str]:
    """Debian packages from :data:`SYSTEM_PACKAGES` whose program is not on ``PATH``."""
    return [pkg for program, pkg in SYSTEM_PACKAGES.items() if shutil.which(program) is None]


def ensure_system_packages(packages: Sequence[str] | None = None) -> list[str]:
    """Install missing Debian packages (``redis-server``, ``chromium``) with apt-get when running as root.

    Returns the packages that were installed. Raises :class:`ServerEnvError` naming the packages to
    install when they are missing and cannot be installed here (not root, or no apt-get).
    """
    wanted = list(packages) if packages is not None else missing_system_packages()
    wanted = [pkg for pkg in wanted if shutil.which(_program_for(pkg)) is None]
    if not wanted:
        return []
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        raise ServerEnvError(
            f"Missing system packages: {' '.join(wanted)}. Install them with "
            f"`sudo apt-get install -y {' '.join(wanted)}` and rerun."
        )
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in ([apt, "update", "-q"], [apt, "install", "-y", "-q", *wanted]):
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if proc.returncode != 0:
            raise ServerEnvError(f"`{' '.join(cmd)}` failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return wanted


def _program_for(package: str) -> str:
    for program, pkg in SYSTEM_PACKAGES.items():
        if pkg == package:
            return program
    return package

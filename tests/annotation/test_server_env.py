"""The server virtualenv builder is idempotent and the system-package helper is a no-op when all is there."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from annotation.server.server_env import (
    SERVER_REQUIREMENTS,
    default_venv_dir,
    ensure_server_venv,
    ensure_system_packages,
    missing_system_packages,
)


@pytest.mark.server
def test_ensure_server_venv_is_idempotent_and_isolated() -> None:
    python = ensure_server_venv()  # builds on first use (minutes), then only checks a marker
    assert python.is_relative_to(default_venv_dir())
    marker = default_venv_dir() / "charm-builder-venv.json"
    built = (marker.stat().st_mtime_ns, python.lstat().st_ino)
    assert ensure_server_venv() == python
    assert (marker.stat().st_mtime_ns, python.lstat().st_ino) == built  # not rebuilt, not re-marked
    probe = subprocess.run(
        [
            str(python),
            "-c",
            "from argilla_server._version import __version__ as v; import pydantic; print(v, pydantic.VERSION)",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    server_version, pydantic_version = probe.stdout.split()
    assert f"argilla-server=={server_version}" in SERVER_REQUIREMENTS
    assert pydantic_version.startswith("2.") and pydantic_version != __import__("pydantic").VERSION


def test_system_packages_helper_is_noop_when_present() -> None:
    if missing_system_packages():
        pytest.skip("redis-server/chromium missing here; CI installs them with apt-get")
    assert shutil.which("redis-server") and shutil.which("chromium")
    assert ensure_system_packages() == []

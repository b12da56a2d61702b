"""charm_kernel.paths: the user cache directory and private (0600) atomic writes."""

import stat
from pathlib import Path

from annotation.server.server_env import default_venv_dir
from charm_builder.offline_models import cache_root
from charm_kernel.paths import cache_dir, write_private


def test_cache_dir_is_shared_by_models_and_server_venv(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CHARM_CACHE_DIR", raising=False)
    monkeypatch.delenv("CHARM_ARGILLA_SERVER_VENV", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_dir() == tmp_path / "xdg" / "charm-builder"
    assert cache_root() == cache_dir()
    assert default_venv_dir() == cache_dir() / "argilla-server-venv"
    monkeypatch.setenv("CHARM_CACHE_DIR", str(tmp_path / "mine"))
    assert cache_root() == tmp_path / "mine"
    assert default_venv_dir() == tmp_path / "mine" / "argilla-server-venv"


def test_write_private_is_0600_and_replaces_whole(tmp_path: Path) -> None:
    target = tmp_path / "secrets" / "owner.json"
    write_private(target, "first\n", private_dir=True)
    write_private(target, "second\n", private_dir=True)
    assert target.read_text() == "second\n"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["owner.json"]  # no temporary file left

"""Where charm-builder keeps its files outside a workspace, and how it writes private ones."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """The user cache directory (converted offline models, the argilla-server virtualenv):
    $CHARM_CACHE_DIR, else $XDG_CACHE_HOME/charm-builder, else ~/.cache/charm-builder."""
    if env := os.environ.get("CHARM_CACHE_DIR"):
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "charm-builder"


def write_private(path: Path, content: str, *, private_dir: bool = False) -> None:
    """Write ``content`` to ``path`` atomically with mode 0600 from the first byte (never world-readable).

    The parent folder is created; ``private_dir`` also makes it 0700. A crash leaves the old file whole.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if private_dir:
        os.chmod(path.parent, 0o700)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    os.replace(tmp, path)

"""Fixtures for the annotation tests: one embedded Argilla server shared by the whole session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotation.server.embedded import EmbeddedArgilla, free_port


@pytest.fixture(scope="session")
def argilla_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedArgilla]:
    """A real argilla-server 2.8 + Redis + rq worker with the SQL search engine (started once)."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    workdir = tmp_path_factory.mktemp("argilla")
    server = EmbeddedArgilla(Path(workdir), port=free_port())
    server.start()
    try:
        yield server
    finally:
        server.stop()

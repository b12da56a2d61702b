"""Fixtures for the annotation tests: embedded Argilla servers shared by the whole session
(one on SQLite, and one on PostgreSQL for the tests that run on both)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from annotation.server.embedded import EmbeddedArgilla, free_port
from annotation.server.postgres import PostgresError, command_prefix, find_bindir


def _start_server(tmp_path_factory: pytest.TempPathFactory, database: str) -> Iterator[EmbeddedArgilla]:
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (apt-get install -y redis-server)")
    if database == "postgresql":
        try:
            find_bindir()
            command_prefix()
        except PostgresError as exc:
            pytest.skip(str(exc))
    workdir = tmp_path_factory.mktemp(f"argilla-{database}")
    server = EmbeddedArgilla(Path(workdir), port=free_port(), database=database)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def argilla_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedArgilla]:
    """A real argilla-server 2.8 + Redis + rq worker on SQLite with the SQL search engine (started once)."""
    yield from _start_server(tmp_path_factory, "sqlite")


@pytest.fixture(scope="session")
def argilla_pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedArgilla]:
    """The same stack on a private PostgreSQL cluster (``database="postgresql"``), started once."""
    yield from _start_server(tmp_path_factory, "postgresql")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest) -> EmbeddedArgilla:
    """Each module test runs once against the SQLite server and once against the PostgreSQL one."""
    name = "argilla_server" if request.param == "sqlite" else "argilla_pg_server"
    return request.getfixturevalue(name)

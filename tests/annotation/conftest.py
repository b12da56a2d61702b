"""Fixtures for the annotation tests: embedded Argilla servers shared by the whole session
(one on SQLite, and one on PostgreSQL for the tests that run on both)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from annotation.server.embedded import EmbeddedArgilla
from tests.annotation.helpers import start_server


@pytest.fixture(scope="session")
def argilla_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedArgilla]:
    """A real argilla-server 2.8 + Redis + rq worker on SQLite with the SQL search engine (started once)."""
    yield from start_server(tmp_path_factory, "sqlite")


@pytest.fixture(scope="session")
def argilla_pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedArgilla]:
    """The same stack on a private PostgreSQL cluster (``database="postgresql"``), started once."""
    yield from start_server(tmp_path_factory, "postgresql")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def any_server(request: pytest.FixtureRequest) -> EmbeddedArgilla:
    """Each module test runs once against the SQLite server and once against the PostgreSQL one."""
    name = "argilla_server" if request.param == "sqlite" else "argilla_pg_server"
    return request.getfixturevalue(name)

"""Fixtures: a fake OpenAI/Anthropic server per test and a roster pointing at it; no proxy from the environment."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from charm_builder.llm import Roster
from tests.charm_builder.llm.helpers import KEY, make_roster
from tests.fakes.openai_server import FakeLLMServer


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY) as srv:
        yield srv


@pytest.fixture
def roster(server: FakeLLMServer) -> Roster:
    return make_roster(server)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests talk to local servers: a proxy set on the machine must not route them."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)

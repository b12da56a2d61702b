"""Fixtures: a fake OpenAI/Anthropic server per test and rosters pointing at it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from charm_builder.llm import ModelSpec, RetryPolicy, Roster
from tests.fakes.openai_server import FakeLLMServer

KEY = "sk-test-SECRET-0123456789"
ENV = {"FAKE_OPENAI_KEY": KEY, "FAKE_ANTHROPIC_KEY": KEY, "FAKE_AZURE_KEY": KEY}
AZURE_API_VERSION = "2024-10-21"
FAST_RETRY = RetryPolicy(max_retries=4, base=0.01, cap=0.05)


@pytest.fixture
def server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(api_key=KEY) as srv:
        yield srv


def make_roster(srv: FakeLLMServer, **overrides: object) -> Roster:
    """An openai and an anthropic entry on the fake server, with prices."""
    common = {"concurrency": 8, "timeout": 5.0, **overrides}
    entries = [  # name, provider, model, base_url, api_key_env, price_input, price_output
        ("gpt", "openai", "gpt-fake", srv.openai_base_url, "FAKE_OPENAI_KEY", 2.0, 10.0),
        ("claude", "anthropic", "claude-fake", srv.anthropic_base_url, "FAKE_ANTHROPIC_KEY", 3.0, 15.0),
    ]
    return Roster(
        name="fake",
        models={
            name: ModelSpec(
                name=name,
                provider=provider,
                model=model,
                base_url=url,
                api_key_env=key,
                price_input=p_in,
                price_output=p_out,
                **common,
            )
            for name, provider, model, url, key, p_in, p_out in entries
        },
    )


def azure_spec(srv: FakeLLMServer, **overrides: object) -> ModelSpec:
    """An azure-openai entry on the fake server (deployment ``dep-4o`` of model ``gpt-4o``)."""
    fields: dict[str, object] = {"deployment": "dep-4o", "concurrency": 8, "timeout": 5.0, **overrides}
    return ModelSpec(
        name="azure",
        provider="azure-openai",
        model="gpt-4o",
        azure_endpoint=srv.azure_endpoint,
        api_version=AZURE_API_VERSION,
        api_key_env="FAKE_AZURE_KEY",
        price_input=2.0,
        price_output=10.0,
        **fields,
    )


@pytest.fixture
def roster(server: FakeLLMServer) -> Roster:
    return make_roster(server)


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests talk to local servers: a proxy set on the machine must not route them."""
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)

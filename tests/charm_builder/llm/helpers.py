"""The fake server's API key and environment, roster entries pointing at the fake server, and two chats."""

from __future__ import annotations

from charm_builder.llm import ModelSpec, RetryPolicy, Roster
from tests.fakes.openai_server import FakeLLMServer

KEY = "sk-test-SECRET-0123456789"
ENV = {"FAKE_OPENAI_KEY": KEY, "FAKE_ANTHROPIC_KEY": KEY, "FAKE_AZURE_KEY": KEY}
AZURE_API_VERSION = "2024-10-21"
FAST_RETRY = RetryPolicy(max_retries=4, base=0.01, cap=0.05)


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


CHAT_A = [{"role": "user", "content": "Who are you?"}]

CHAT_B = [
    {"role": "system", "content": "You are Sherlock Holmes, the detective of Baker Street."},
    {"role": "user", "content": "Tell me about your latest case, with every detail you remember."},
]

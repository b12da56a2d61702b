"""The ``azure-openai`` provider: roster fields, Azure's URL layout and ``api-key`` header on the
chat path, preflight through ``AsyncAzureOpenAI``, all against the fake server."""

from __future__ import annotations

import asyncio

import pytest
import yaml

from charm_builder.llm import LLMCallError, LLMClient, Roster, RosterError, ServerUnreachableError, load_roster
from tests.charm_builder.llm.helpers import AZURE_API_VERSION, ENV, FAST_RETRY, KEY, azure_spec

MSGS = [{"role": "system", "content": "You are Holmes."}, {"role": "user", "content": "Who are you?"}]


def azure_roster(server, **overrides) -> Roster:
    return Roster(name="az", models={"azure": azure_spec(server, **overrides)})


async def once(roster: Roster, method: str, *args, env=ENV):
    async with LLMClient(roster, env=env, retry=FAST_RETRY) as c:
        return await getattr(c, method)(*args)


def test_chat_uses_the_deployment_url_api_version_and_api_key_header(server) -> None:
    done = asyncio.run(once(azure_roster(server), "chat", "azure", MSGS, {"max_tokens": 20}))
    assert done.text == "echo: Who are you?" and (done.input_tokens, done.output_tokens) == (6, 4)
    req = server.requests[-1]
    assert req.path == "/openai/deployments/dep-4o/chat/completions"
    assert req.query == f"api-version={AZURE_API_VERSION}"
    assert req.headers["api-key"] == KEY and "authorization" not in req.headers
    assert req.body == {"model": "dep-4o", "messages": MSGS, "max_tokens": 20}


def test_preflight_lists_models_through_the_azure_sdk(server) -> None:
    asyncio.run(once(azure_roster(server), "apreflight"))
    assert [(r.method, r.path) for r in server.requests] == [("GET", "/openai/models")]
    assert server.requests[0].headers["api-key"] == KEY
    assert f"api-version={AZURE_API_VERSION}" in server.requests[0].query


def test_rejected_key_names_the_env_var_on_both_paths(server) -> None:
    env = {"FAKE_AZURE_KEY": "azure-wrong-key-555"}
    with pytest.raises(ServerUnreachableError, match="rejected the key in FAKE_AZURE_KEY") as pre:
        asyncio.run(once(azure_roster(server), "apreflight", env=env))
    with pytest.raises(LLMCallError, match="HTTP 401, the server rejected the key in FAKE_AZURE_KEY") as chat:
        asyncio.run(once(azure_roster(server), "chat", "azure", MSGS, env=env))
    assert "azure-wrong-key-555" not in str(pre.value) + str(chat.value)


def test_errors_name_the_model_and_its_deployment_url(server) -> None:
    roster = azure_roster(server, deployment="missing-dep")
    server.inject("status", status=404)
    with pytest.raises(
        LLMCallError,
        match=r"model 'azure' \(http://127.0.0.1:\d+/openai/deployments/missing-dep\)"
        r": HTTP 404",
    ):
        asyncio.run(once(roster, "chat", "azure", MSGS))


def write(tmp_path, entry: dict) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(yaml.safe_dump({"name": "r", "models": {"az": entry}}))
    return str(path)


def test_roster_entry_builds_the_deployment_url(tmp_path) -> None:
    spec = load_roster(
        write(
            tmp_path,
            {
                "provider": "azure-openai",
                "model": "gpt-4o",
                "api_version": "2024-10-21",
                "azure_endpoint": "https://res.openai.azure.com/",
                "api_key_env": "AZURE_OPENAI_API_KEY",
            },
        )
    ).get("az")
    assert spec.deployment == "gpt-4o"  # defaults to the model id
    assert spec.base_url == "https://res.openai.azure.com/openai/deployments/gpt-4o"
    assert spec.needs_key


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"provider": "azure-openai", "model": "m", "azure_endpoint": "https://x"}, "needs api_version"),
        (
            {
                "provider": "azure-openai",
                "model": "m",
                "api_version": "v",
                "base_url": "https://x/v1",
                "azure_endpoint": "https://x",
            },
            "takes azure_endpoint",
        ),
        ({"provider": "openai", "model": "m", "deployment": "d"}, "deployment only apply to provider azure-openai"),
    ],
)
def test_bad_azure_entries_name_the_file_and_model(tmp_path, entry, message) -> None:
    path = write(tmp_path, entry)
    with pytest.raises(RosterError, match=message) as err:
        load_roster(path)
    assert str(err.value).startswith(f"{path}: models.az")


def test_models_check_lists_then_pings_an_azure_deployment(tmp_path, server) -> None:
    from typer.testing import CliRunner

    from charm_builder.llm.cli import models_app

    path = write(
        tmp_path,
        {
            "provider": "azure-openai",
            "model": "gpt-4o",
            "deployment": "dep-4o",
            "azure_endpoint": server.azure_endpoint,
            "api_version": AZURE_API_VERSION,
            "api_key_env": "FAKE_AZURE_KEY",
        },
    )
    result = CliRunner().invoke(models_app, ["check", "-r", path], env={"FAKE_AZURE_KEY": KEY, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert [(r.method, r.path) for r in server.requests] == [
        ("GET", "/openai/models"),
        ("POST", "/openai/deployments/dep-4o/chat/completions"),
    ]
    assert server.requests[-1].body["max_tokens"] == 1 and KEY not in result.output

"""``models list|check`` through typer's runner (the lead mounts ``models_app`` as ``charm-build models``)."""

from __future__ import annotations

import yaml
from typer.testing import CliRunner

from charm_builder.llm.cli import models_app
from tests.charm_builder.llm.helpers import KEY


def test_list_shows_the_paper_roster() -> None:
    result = CliRunner().invoke(models_app, ["list", "--roster", "paper"], env={"COLUMNS": "250"})
    assert result.exit_code == 0
    for name in ("gpt-4o", "claude-3.5-sonnet", "doubao-character", "qwen2.5-72b", "DASHSCOPE_API_KEY"):
        assert name in result.output


def _roster_file(tmp_path, server) -> str:
    path = tmp_path / "r.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "name": "fake",
                "models": {
                    "gpt": {
                        "provider": "openai",
                        "model": "g",
                        "base_url": server.openai_base_url,
                        "api_key_env": "FAKE_K",
                    },
                    "claude": {
                        "provider": "anthropic",
                        "model": "c",
                        "base_url": server.anthropic_base_url,
                        "api_key_env": "FAKE_K",
                    },
                },
            }
        )
    )
    return str(path)


def test_check_pings_each_model_with_one_token(tmp_path, server) -> None:
    roster = _roster_file(tmp_path, server)
    result = CliRunner().invoke(models_app, ["check", "-r", roster], env={"FAKE_K": KEY, "COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert result.output.count(" ok ") == 2
    chats = [r for r in server.requests if r.path in ("/v1/chat/completions", "/v1/messages")]
    assert [r.body["max_tokens"] for r in chats] == [1, 1]


def test_check_fails_with_one_clear_line_per_model(tmp_path, server) -> None:
    roster = _roster_file(tmp_path, server)
    result = CliRunner().invoke(models_app, ["check", "-r", roster], env={"FAKE_K": "", "COLUMNS": "250"})
    assert result.exit_code == 1
    assert "set the environment variable FAKE_K" in result.output
    assert "Traceback" not in result.output
    assert server.requests == []


def test_bad_roster_is_a_clear_error(tmp_path) -> None:
    result = CliRunner().invoke(models_app, ["list", "-r", str(tmp_path / "nope.yaml")], env={"COLUMNS": "250"})
    assert result.exit_code == 2 and "neither a built-in" in result.output  # bad input

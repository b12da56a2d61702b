"""Rosters: built-ins, YAML files, validation errors, API keys from env or a 0600 file."""

from __future__ import annotations

import os

import pytest

from charm_builder.llm import MissingAPIKeyError, ModelSpec, RosterError, UnknownModelError, load_roster


def test_offline_roster_is_default_and_has_six_local_models() -> None:
    roster = load_roster()
    assert roster.name == "offline"
    assert len(roster.models) == 6
    assert {s.provider for s in roster.models.values()} == {"local"}
    assert {s.model for s in roster.models.values()} == {"smollm2-135m-instruct", "gemma3-270m"}
    # the SmolLM2 variants differ in system prompt and/or sampling
    variants = {(s.system_prompt, s.params.temperature) for s in roster.models.values()}
    assert len(variants) == 6


def test_paper_roster_lists_the_six_paper_models() -> None:
    roster = load_roster("paper")
    assert roster.names == [
        "gpt-4o",
        "claude-3.5-sonnet",
        "doubao-character",
        "qwen2.5-7b",
        "qwen2.5-32b",
        "qwen2.5-72b",
    ]
    assert roster.get("claude-3.5-sonnet").provider == "anthropic"
    assert roster.get("gpt-4o").api_key_env == "OPENAI_API_KEY"
    assert all(s.price_input > 0 and s.price_output > 0 for s in roster.models.values())


def _roster_file(tmp_path, text: str):
    """The roster loaded from ``text`` written to ``tmp_path/r.yaml`` (so its name is ``r``)."""
    path = tmp_path / "r.yaml"
    path.write_text(text)
    return load_roster(path)


def test_roster_from_file_and_cost(tmp_path) -> None:
    roster = _roster_file(
        tmp_path,
        "models:\n  m1:\n    provider: openai\n    model: llama\n    base_url: http://localhost:8000/v1/\n"
        "    price_input: 1.0\n    price_output: 4.0\n",
    )
    assert roster.name == "r"
    spec = roster.get("m1")
    assert spec.base_url == "http://localhost:8000/v1"
    assert spec.cost(1_000_000, 500_000) == pytest.approx(3.0)
    assert spec.cost(1_000_000, 500_000, batch=True) == pytest.approx(1.5)
    assert not spec.needs_key


def test_bad_roster_names_file_and_field(tmp_path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("models:\n  m1:\n    provider: gemini\n    model: x\n")
    with pytest.raises(RosterError) as err:
        load_roster(path)
    assert str(path) in str(err.value) and "models.m1.provider" in str(err.value)
    with pytest.raises(RosterError, match="neither a built-in"):
        load_roster(tmp_path / "missing.yaml")
    (tmp_path / "broken.yaml").write_text("models: [\n")
    with pytest.raises(RosterError, match="not valid YAML"):
        load_roster(tmp_path / "broken.yaml")


def test_unknown_model_lists_known_ones() -> None:
    with pytest.raises(UnknownModelError, match=r"'nope'.*known: gpt-4o"):
        load_roster("paper").get("nope")


def test_api_key_from_env_and_missing_key_names_the_variable() -> None:
    spec = ModelSpec(name="m", provider="openai", model="x", api_key_env="MY_KEY")
    assert spec.resolve_api_key({"MY_KEY": " abc \n"}) == "abc"
    with pytest.raises(MissingAPIKeyError) as err:
        spec.resolve_api_key({})
    assert str(err.value) == "model 'm' needs an API key: set the environment variable MY_KEY"


def test_api_key_file_must_be_private(tmp_path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("sk-file-key\n")
    spec = ModelSpec(name="m", provider="anthropic", model="x", api_key_env="UNSET_VAR", api_key_file=str(key_file))
    os.chmod(key_file, 0o644)
    with pytest.raises(MissingAPIKeyError, match="chmod 600"):
        spec.resolve_api_key({})
    os.chmod(key_file, 0o600)
    assert spec.resolve_api_key({}) == "sk-file-key"


def test_offline_roster_speaks_english_and_controls_repetition() -> None:
    roster = load_roster()
    assert roster.languages == ["en"] and roster.languages_of(roster.names) == ["en"]
    for spec in roster.models.values():
        assert spec.concurrency > 1  # several requests in flight feed the shared batcher
        assert spec.params.repetition_penalty and spec.params.repetition_penalty > 1.0
    assert load_roster("paper").languages_of(load_roster("paper").names) is None


def test_entry_languages_override_the_roster_and_intersect(tmp_path) -> None:
    roster = _roster_file(
        tmp_path,
        "languages: [zh, en]\nmodels:\n  a: {provider: local, model: x}\n"
        "  b: {provider: local, model: x, languages: [en]}\n",
    )
    assert roster.languages_of(["a"]) == ["zh", "en"] and roster.languages_of(["a", "b"]) == ["en"]


def test_penalties_reach_openai_compatible_apis_only_when_set() -> None:
    from charm_builder.llm.providers.anthropic import messages_body
    from charm_builder.llm.providers.openai import chat_body
    from charm_builder.llm.types import ChatParams

    params = ChatParams(frequency_penalty=0.5, presence_penalty=0.3, repetition_penalty=1.2)
    body = chat_body("m", [{"role": "user", "content": "hi"}], params)
    assert body["frequency_penalty"] == 0.5 and body["presence_penalty"] == 0.3 and "repetition_penalty" not in body
    assert "frequency_penalty" not in chat_body("m", [{"role": "user", "content": "hi"}], ChatParams())
    assert "frequency_penalty" not in messages_body("m", [{"role": "user", "content": "hi"}], params)

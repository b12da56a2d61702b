"""Milestone: the embedded server starts and the argilla SDK can use it."""

from __future__ import annotations

import stat

import argilla as rg
import httpx
import pytest

from annotation.server.embedded import EmbeddedArgilla, PortBusyError

pytestmark = pytest.mark.server


def test_status_reports_sql_search_engine(argilla_server: EmbeddedArgilla) -> None:
    response = httpx.get(
        f"{argilla_server.url}/api/v1/status",
        headers={"X-Argilla-Api-Key": argilla_server.credentials.api_key},
    )
    assert response.status_code == 200
    assert response.json()["search_engine"]["distribution"] == "charm-sqlite"


def test_sdk_creates_dataset_and_logs_records(argilla_server: EmbeddedArgilla) -> None:
    client = argilla_server.client()
    assert client.me.username == "owner"
    workspace = rg.Workspace(name="smoke", client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="label", labels=["a", "b"])],
    )
    dataset = rg.Dataset(name="smoke", workspace=workspace, settings=settings, client=client).create()
    dataset.records.log([{"text": "hello"}, {"text": "world"}])
    assert sorted(r.fields["text"] for r in dataset.records) == ["hello", "world"]
    assert dataset.progress()["total"] == 2


def test_secrets_are_private(argilla_server: EmbeddedArgilla) -> None:
    mode = stat.S_IMODE(argilla_server.credentials_file.stat().st_mode)
    assert mode == 0o600
    assert stat.S_IMODE(argilla_server.secrets_dir.stat().st_mode) == 0o700


def test_refuses_busy_port(argilla_server: EmbeddedArgilla, tmp_path) -> None:
    other = EmbeddedArgilla(tmp_path / "other", port=argilla_server.port)
    with pytest.raises(PortBusyError, match=f"Port {argilla_server.port}.*already in use"):
        other.start()


def test_responses_still_validated_with_cached_settings_adapters(argilla_server: EmbeddedArgilla) -> None:
    """launcher.cache_settings_adapters builds the settings TypeAdapter once: a bad value is still refused."""
    client = argilla_server.client()
    rg.Workspace(name="validate", client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="text")],
        questions=[rg.LabelQuestion(name="best", labels=["A", "B"]), rg.RatingQuestion(name="stars", values=[1, 2])],
    )
    dataset = rg.Dataset(name="validate", workspace="validate", settings=settings, client=client).create()
    dataset.records.log([{"text": "hello"}])
    record_id = str(next(iter(dataset.records))._server_id)
    headers = {"X-Argilla-Api-Key": argilla_server.credentials.api_key}
    url = f"{argilla_server.url}/api/v1/records/{record_id}/responses"
    for bad in ({"best": {"value": "Z"}, "stars": {"value": 1}}, {"best": {"value": "A"}, "stars": {"value": 7}}):
        response = httpx.post(url, headers=headers, json={"values": bad, "status": "submitted"})
        assert response.status_code == 422, response.text
    good = {"best": {"value": "B"}, "stars": {"value": 2}}
    assert httpx.post(url, headers=headers, json={"values": good, "status": "submitted"}).status_code == 201

"""The SQL search engine answers argilla-server's search, filter, sort, paging and metrics requests,
on SQLite and on PostgreSQL alike (every test runs against both servers)."""

from __future__ import annotations

from typing import Any

import argilla as rg
import httpx
import pytest

from annotation.server.embedded import EmbeddedArgilla

pytestmark = pytest.mark.server

TEXTS = ["the quick brown fox", "孙悟空 七十二变", "a lazy dog sleeps", "Quick thinking 100%", "brown bear"]


@pytest.fixture(scope="module")
def search_ds(any_server: EmbeddedArgilla) -> tuple[httpx.Client, str, dict[str, str]]:
    argilla_server = any_server
    client = argilla_server.client()
    rg.Workspace(name="search-ws", client=client).create()
    settings = rg.Settings(
        fields=[rg.TextField(name="text"), rg.ChatField(name="chat", required=False)],
        questions=[
            rg.LabelQuestion(name="label", labels=["x", "y"]),
            rg.RatingQuestion(name="stars", values=[1, 2, 3]),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="lang"),
            rg.IntegerMetadataProperty(name="turns"),
            rg.FloatMetadataProperty(name="score"),
        ],
    )
    ds = rg.Dataset(name="search", workspace="search-ws", settings=settings, client=client).create()
    ds.records.log(
        [
            {
                "id": f"r{i}",
                "text": text,
                "lang": "zh" if "孙" in text else "en",
                "turns": i * 2,
                "score": i / 10,
                **({"chat": [{"role": "user", "content": "Monkey King, 你好"}]} if i == 4 else {}),
            }
            for i, text in enumerate(TEXTS)
        ]
    )
    http = httpx.Client(
        base_url=argilla_server.url, headers={"X-Argilla-Api-Key": argilla_server.credentials.api_key}, timeout=60
    )
    ids = {r.id: str(r._server_id) for r in ds.records(with_responses=False)}
    return http, str(ds.id), ids


def _search(http: httpx.Client, ds_id: str, body: dict[str, Any], **params: Any) -> tuple[list[str], int]:
    response = http.post(f"/api/v1/datasets/{ds_id}/records/search", json=body, params=params)
    assert response.status_code == 200, response.text
    data = response.json()
    return [item["record"]["external_id"] for item in data["items"]], data["total"]


def test_text_search_all_terms_any_script(search_ds: tuple[httpx.Client, str, dict[str, str]]) -> None:
    http, ds_id, _ = search_ds
    assert _search(http, ds_id, {"query": {"text": {"q": "brown"}}})[1] == 2
    assert _search(http, ds_id, {"query": {"text": {"q": "QUICK brown"}}})[0] == ["r0"]  # AND, case-insensitive
    assert _search(http, ds_id, {"query": {"text": {"q": "七十二"}}})[0] == ["r1"]
    assert _search(http, ds_id, {"query": {"text": {"q": "100%"}}})[0] == ["r3"]  # LIKE wildcards escaped
    assert _search(http, ds_id, {"query": {"text": {"q": "你好", "field": "chat"}}})[0] == ["r4"]
    assert _search(http, ds_id, {"query": {"text": {"q": "你好", "field": "text"}}})[1] == 0


def test_metadata_filters_sort_and_paging(search_ds: tuple[httpx.Client, str, dict[str, str]]) -> None:
    http, ds_id, _ = search_ds
    terms = {"type": "terms", "scope": {"entity": "metadata", "metadata_property": "lang"}, "values": ["en"]}
    assert _search(http, ds_id, {"filters": {"and": [terms]}})[1] == 4
    rng = {"type": "range", "scope": {"entity": "metadata", "metadata_property": "turns"}, "ge": 2, "le": 6}
    ids, total = _search(http, ds_id, {"filters": {"and": [terms, rng]}})
    assert (sorted(ids), total) == (["r2", "r3"], 2)
    by_score_desc = {"sort": [{"scope": {"entity": "metadata", "metadata_property": "score"}, "order": "desc"}]}
    assert _search(http, ds_id, by_score_desc)[0] == ["r4", "r3", "r2", "r1", "r0"]
    page, total = _search(http, ds_id, by_score_desc, offset=2, limit=2)
    assert (page, total) == (["r2", "r1"], 5)
    assert _search(http, ds_id, by_score_desc, offset=10, limit=2) == ([], 5)
    by_insert = {"sort": [{"scope": {"entity": "record", "property": "inserted_at"}, "order": "asc"}]}
    assert _search(http, ds_id, by_insert)[0] == ["r0", "r1", "r2", "r3", "r4"]
    status = {"type": "terms", "scope": {"entity": "record", "property": "status"}, "values": ["pending"]}
    assert _search(http, ds_id, {"filters": {"and": [status]}})[1] == 5


def test_metadata_metrics(search_ds: tuple[httpx.Client, str, dict[str, str]]) -> None:
    http, ds_id, _ = search_ds
    props = http.get(f"/api/v1/me/datasets/{ds_id}/metadata-properties").json()["items"]
    by_name = {p["name"]: p["id"] for p in props}
    lang = http.get(f"/api/v1/metadata-properties/{by_name['lang']}/metrics").json()
    assert lang["total"] == 5 and {v["term"]: v["count"] for v in lang["values"]} == {"en": 4, "zh": 1}
    turns = http.get(f"/api/v1/metadata-properties/{by_name['turns']}/metrics").json()
    assert (turns["min"], turns["max"]) == (0, 8)
    score = http.get(f"/api/v1/metadata-properties/{by_name['score']}/metrics").json()
    assert score["min"] == pytest.approx(0.0) and score["max"] == pytest.approx(0.4)


def test_response_value_filter_and_progress(search_ds: tuple[httpx.Client, str, dict[str, str]]) -> None:
    http, ds_id, ids = search_ds
    for ext, label, stars, status in (
        ("r0", "x", 3, "submitted"),
        ("r1", "y", 1, "submitted"),
        ("r2", "x", 2, "draft"),
    ):
        values = {"label": {"value": label}, "stars": {"value": stars}}
        response = http.post(f"/api/v1/records/{ids[ext]}/responses", json={"values": values, "status": status})
        assert response.status_code == 201, response.text
    label_x = {"type": "terms", "scope": {"entity": "response", "question": "label"}, "values": ["x"]}
    assert sorted(_search(http, ds_id, {"filters": {"and": [label_x]}})[0]) == ["r0", "r2"]
    stars = {"type": "range", "scope": {"entity": "response", "question": "stars"}, "ge": 2}
    assert sorted(_search(http, ds_id, {"filters": {"and": [stars]}})[0]) == ["r0", "r2"]
    pending = {"type": "terms", "scope": {"entity": "response", "property": "status"}, "values": ["pending"]}
    assert sorted(_search(http, ds_id, {"filters": {"and": [pending]}})[0]) == ["r3", "r4"]
    sort_stars = {"sort": [{"scope": {"entity": "response", "question": "stars"}, "order": "asc"}]}
    assert _search(http, ds_id, sort_stars)[0][:3] == ["r1", "r2", "r0"]  # unanswered last

    metrics = http.get(f"/api/v1/me/datasets/{ds_id}/metrics").json()
    assert metrics["responses"] == {"total": 5, "submitted": 2, "discarded": 0, "draft": 1, "pending": 2}
    progress = http.get(f"/api/v1/datasets/{ds_id}/progress").json()
    assert progress["total"] == 5 and progress["completed"] == 2 and progress["pending"] == 3


def test_user_queue_order_is_stable_across_pages(search_ds: tuple[httpx.Client, str, dict[str, str]]) -> None:
    """Without a sort, a user's queue (/me/...) is a per-user shuffle: the same on every call, so paging
    through it visits every record exactly once."""
    http, ds_id, _ = search_ds

    def queue(offset: int, limit: int) -> list[str]:
        response = http.post(
            f"/api/v1/me/datasets/{ds_id}/records/search", json={}, params={"offset": offset, "limit": limit}
        )
        assert response.status_code == 200, response.text
        return [item["record"]["external_id"] for item in response.json()["items"]]

    whole = queue(0, 10)
    assert sorted(whole) == [f"r{i}" for i in range(len(TEXTS))]
    assert queue(0, 10) == whole
    assert queue(0, 2) + queue(2, 2) + queue(4, 2) == whole

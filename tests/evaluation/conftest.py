"""Fixtures: a dialogueQuality export with known judge scores, a fake judge/actor server and its roster."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.openai_server import FakeLLMServer

# (id, language, dimension, user_query, judge-a score, judge-b score); None = the judge never gives valid JSON
ITEMS: list[tuple[str, str, str, str, int | None, int]] = [
    ("en-k1", "en", "knowledge", "Who was your mentor?", 4, 5),
    ("en-k2", "en", "knowledge", "Name your home city.", 2, 2),
    ("en-f1", "en", "fluency", "Tell me about your day.", 5, 4),
    ("en-e1", "en", "empathy", "I feel lonely tonight.", 3, 3),
    ("zh-k1", "zh", "knowledge", "你的老师是谁？", 3, 4),
    ("zh-f1", "zh", "fluency", "今天过得怎么样？", 4, 4),
    ("zh-f2", "zh", "fluency", "MALFORMED-ONCE 你喜欢什么？", 2, 1),  # judge-a: bad JSON first, valid on re-ask
    ("zh-c1", "zh", "consistency", "MALFORMED-ALWAYS 我们刚才说到哪里？", None, 3),
]
SCORES = {"judge-a": {q: a for _, _, _, q, a, _ in ITEMS}, "judge-b": {q: b for _, _, _, q, _, b in ITEMS}}


def dq_rows() -> list[dict[str, Any]]:
    return [
        {
            "id": i,
            "dialogue_id": f"d-{i}",
            "character_id": "sherlock",
            "language": lang,
            "dimension": dim,
            "context": [
                {"role": "user", "speaker": "Ann", "text": "Hello there."},
                {"role": "character", "speaker": "Sherlock", "text": "Good evening."},
            ],
            "user_query": q,
            "criteria": ["Stays in character", f"Good {dim}"],
            "system_prompt": "You are Sherlock Holmes.",
        }
        for i, lang, dim, q, _, _ in ITEMS
    ]


def fake_reply(model: str, messages: list[dict[str, Any]]) -> str:
    """Actor: a fixed reply. Judges: known scores looked up by the item's user query."""
    if model == "actor-fake":
        return f"Elementary. ({messages[-1]['content'][:20]})"
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    query = re.search(r"## User query\n(.*?)\n\n## Reply", prompt, re.S).group(1)  # type: ignore[union-attr]
    score = SCORES[model][query]
    reask = "That reply was not valid" in str(messages[-1]["content"])
    if score is None or (model == "judge-a" and query.startswith("MALFORMED-ONCE") and not reask):
        return "I would give this reply a solid four out of five."
    return json.dumps({"analysis": f"{model} on {query}", "score": score})


@pytest.fixture()
def dq_export(tmp_path: Path) -> Path:
    from datasets import Dataset

    path = tmp_path / "dialogueQuality"
    Dataset.from_list(dq_rows()).save_to_disk(str(path))
    return path


@pytest.fixture()
def fake_server() -> Iterator[FakeLLMServer]:
    with FakeLLMServer(reply=fake_reply) as srv:
        yield srv


def write_roster(path: Path, base_url: str) -> Path:
    """A roster of the fake actor and the two judges, all served at ``base_url``."""
    models = {
        name: {
            "provider": "openai",
            "model": name,
            "base_url": base_url,
            "price_input": 1.0,
            "price_output": 2.0,
            "timeout": 10,
            "max_retries": 1,
        }
        for name in ("actor-fake", "judge-a", "judge-b")
    }
    path.write_text(yaml.safe_dump({"name": "fake", "models": models}))
    return path


@pytest.fixture()
def roster_file(fake_server: FakeLLMServer, tmp_path: Path) -> Path:
    return write_roster(tmp_path / "roster.yaml", fake_server.openai_base_url)

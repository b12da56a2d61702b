"""A roster of six OpenAI-compatible models served by the local fake server, and a reply function
that answers like a role-play model (right language, distinct per model and context)."""

from __future__ import annotations

import hashlib
import json
import re

import pytest
import yaml

from charm_builder.importers import import_files
from charm_builder.library import library_files

MODELS = ["m-user", "m-char", "m-c3", "m-c4", "m-c5", "m-c6"]


def roleplay_reply(model: str, messages: list[dict]) -> str:
    system = str(messages[0].get("content", "")) if messages else ""
    tag = hashlib.sha256(json.dumps(messages, ensure_ascii=False).encode()).hexdigest()[:6]
    n = len(messages)
    if re.search(r"[\u4e00-\u9fff]", system):
        return f"这是第{n}句话，{model}认真地回答，编号{tag}。我们继续聊聊今天发生的事情吧。"
    return f"This is line {n}, answered by {model} with care, tag {tag}. Let us keep talking about today."


def write_roster(path, base_url: str, price_in: float = 1.0, price_out: float = 2.0, max_retries: int = 6):
    models = {name: {"provider": "openai", "model": name, "base_url": base_url, "price_input": price_in,
                     "price_output": price_out, "concurrency": 16, "max_retries": max_retries, "timeout": 10}
              for name in MODELS}  # fmt: skip
    path.write_text(yaml.safe_dump({"name": "fake", "models": models}), encoding="utf-8")
    return path


@pytest.fixture
def library_workspace(workspace):
    import_files(workspace, library_files())
    return workspace

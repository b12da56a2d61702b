"""Helpers shared by the evaluation tests."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from charm_apps.train import app


def run_local_model_eval(command: str, model: Path, data: Path, roster: Path, out: Path, *extra: str) -> list[dict]:
    """`charm-train COMMAND` with a local ``model`` (4 new tokens, run name "tiny") judged by judge-a and judge-b
    of ``roster``; asserts that it succeeded and returns the rows of ``out/replies.jsonl``."""
    args = [command, "--model", str(model), "--data", str(data), "--judges", "judge-a,judge-b", "--roster", str(roster)]
    args += ["-o", str(out), *extra, "--max-new-tokens", "4", "--name", "tiny", "-q"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    return [json.loads(line) for line in (out / "replies.jsonl").read_text(encoding="utf-8").splitlines()]


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

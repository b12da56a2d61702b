"""A judge served by the local fake OpenAI server, with scripted 1-10 scores per candidate reply."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from charm_builder.judge.prompts import REASK
from tests.export.conftest import built  # noqa: F401
from tests.judge.helpers import judged_reply, serving
from tests.training.conftest import tiny_model_dir  # noqa: F401

JUDGE = "j-fake"


def scripted_score(reply: str) -> int:
    """The score the fake judge gives a helper-workspace reply 'dN reply L' (1..10, varied)."""
    name, _, label = reply.split()
    return 1 + (int(name[1:]) * 7 + "ABCDEF".index(label) * 3) % 10


class ScriptedJudge:
    """Answers 'Score: N'; 'd2 reply C' first answers prose (parsed after the re-ask); 'd7 reply D' has
    no score for its first ``stubborn`` requests (so it stays unparsed until a later run)."""

    def __init__(self, stubborn: int = 2):
        self.stubborn = stubborn
        self.asked: dict[str, int] = {}

    def __call__(self, model: str, messages: list[dict]) -> str:
        reply = judged_reply(messages)
        self.asked[reply] = self.asked.get(reply, 0) + 1
        reasked = messages[-1]["content"] == REASK
        if reply == "d2 reply C" and not reasked:
            return "A charming, vivid reply that fits the character well."
        if reply == "d7 reply D" and self.asked[reply] <= self.stubborn:
            return "I cannot decide."
        return f"Score: {scripted_score(reply)}"


def write_judge_roster(path: Path, base_url: str) -> Path:
    models = {
        JUDGE: {
            "provider": "openai",
            "model": "judge-model-v1",
            "base_url": base_url,
            "price_input": 1.0,
            "price_output": 2.0,
            "concurrency": 8,
            "max_retries": 2,
            "timeout": 10,
        }
    }
    path.write_text(yaml.safe_dump({"name": "judge-fake", "models": models}), encoding="utf-8")
    return path


@pytest.fixture
def judge_server():
    with serving(ScriptedJudge()) as srv:
        yield srv

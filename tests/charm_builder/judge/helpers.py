"""Shared by the judge tests: serving a scripted judge on the fake OpenAI server, and exporting via the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

from charm_builder.judge.prompts import REASK
from tests.fakes.openai_server import FakeLLMServer
from tests.helpers import run_cli

_REPLY = re.compile(r"\n\n(?:Reply by [^:]*|Response): (.*?)\n\nCriterion: ", re.DOTALL)  # both rubrics


def judged_reply(messages: list[dict]) -> str:
    """The reply a judge request asks about: in the last user message holding one (the first is the
    prompt's worked example)."""
    asked = [m["content"] for m in messages if m["role"] == "user" and _REPLY.search(str(m["content"]))]
    return _REPLY.search(asked[-1]).group(1).strip()


@contextmanager
def serving(judge: Callable[[str, list[dict]], str]) -> Iterator[FakeLLMServer]:
    """The fake server answering with ``judge``, reachable afterwards as ``srv.judge``."""
    with FakeLLMServer(reply=judge) as srv:
        srv.judge = judge  # type: ignore[attr-defined]
        yield srv


def export_cli(ws, out: Path, *args: str):
    """`charm-build export --out OUT --grpo-fraction 0 ARGS` in ``ws``; asserts it succeeded."""
    res = run_cli("export", "--out", str(out), "--grpo-fraction", "0", *args, workspace=ws.root)
    assert res.returncode == 0, res.stderr
    return res


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

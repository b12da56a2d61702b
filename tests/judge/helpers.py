"""Shared by the judge tests: serving a scripted judge on the fake OpenAI server, and exporting via the CLI."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import run_cli
from tests.fakes.openai_server import FakeLLMServer

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

"""A judge served by the local fake OpenAI server, with scripted 1-10 scores per candidate reply."""

from __future__ import annotations

import pytest

from tests.charm_builder.judge.helpers import ScriptedJudge, serving


@pytest.fixture
def judge_server():
    with serving(ScriptedJudge()) as srv:
        yield srv

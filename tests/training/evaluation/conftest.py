"""Fixtures: a dialogueQuality export with known judge scores, a fake judge/actor server and its roster."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.openai_server import FakeLLMServer
from tests.training.evaluation.helpers import dq_rows, fake_reply, write_roster


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


@pytest.fixture()
def roster_file(fake_server: FakeLLMServer, tmp_path: Path) -> Path:
    return write_roster(tmp_path / "roster.yaml", fake_server.openai_base_url)

"""Fixture of the reward-model tests: a tiny roleReward export on disk."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.rm.helpers import role_reward_rows


@pytest.fixture()
def role_reward_export(tmp_path: Path) -> Path:
    from datasets import Dataset

    path = tmp_path / "roleReward"
    Dataset.from_list(role_reward_rows()).save_to_disk(str(path))
    return path

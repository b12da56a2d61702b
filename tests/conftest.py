"""The fixtures tests in several folders use: the one conftest with shared fixtures. A folder's conftest
holds only fixtures of its own folder; no conftest is imported (shared code lives in ``helpers`` modules)."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def workspace(tmp_path: Path):
    from charm_builder.store import Workspace

    ws = Workspace.create(tmp_path / "ws")
    yield ws
    ws.close()


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with SmolLM2's real tokenizer and chat template: trains and generates in
    milliseconds, so tests of the training loops need not load the real model."""
    from training.rm.tiny_model import save_tiny_llama

    return save_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture
def built(workspace):
    """The known-annotations workspace of ``tests.charm_builder.export.helpers.SPEC``."""
    from tests.charm_builder.export.helpers import build_workspace

    return build_workspace(workspace)


@pytest.fixture()
def pref_export(tmp_path: Path) -> Path:
    """A preferenceTraining export: DatasetDict with `train` pairs and a prompt-only `grpo` split."""
    from datasets import Dataset, DatasetDict

    from tests.training.rm.helpers import preference_rows

    rows = preference_rows(8)
    grpo = Dataset.from_list([{"prompt": r["prompt"]} for r in rows[:2]])
    path = tmp_path / "preferenceTraining"
    DatasetDict({"train": Dataset.from_list(rows), "grpo": grpo}).save_to_disk(str(path))
    return path

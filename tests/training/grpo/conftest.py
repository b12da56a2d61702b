"""Fixtures for GRPO tests: a tiny preferenceTraining export with a `grpo` split, a tiny reward model."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.training.grpo.helpers import write_export


@pytest.fixture()
def pt_export(tmp_path: Path) -> Path:
    return write_export(tmp_path / "preferenceTraining")


@pytest.fixture(scope="session")
def tiny_rm(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A reward model on the tiny Llama with a fresh (seeded) value head, saved with the RM package."""
    from training.rm.model import load_backbone

    path = tmp_path_factory.mktemp("tiny-rm")
    load_backbone(tiny_llama, seed=0).save(path)
    return path

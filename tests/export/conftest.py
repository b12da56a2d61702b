"""Fixtures: the known-annotations workspace of ``helpers.SPEC``."""

from __future__ import annotations

import pytest

from tests.export.helpers import Built, build_workspace


@pytest.fixture
def built(workspace) -> Built:
    return build_workspace(workspace)

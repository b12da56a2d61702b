"""Fixture: a workspace holding the bundled library (characters, user personas, scenes)."""

from __future__ import annotations

import pytest

from charm_builder.importers import import_files
from charm_builder.library import library_files


@pytest.fixture
def library_workspace(workspace):
    import_files(workspace, library_files())
    return workspace

"""The bundled bilingual starter library: characters (all 13 sub-categories), user personas, scenes.

Written for this project. ``charm-build init`` imports it unless ``--empty`` is given.
Owns only JSONL data files and their paths; imports nothing from the project.
"""

from __future__ import annotations

from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"
LIBRARY_FILES = {"character": "characters.jsonl", "user": "users.jsonl", "scene": "scenes.jsonl"}


def library_files() -> list[Path]:
    """The library's JSONL files, in import order (characters, users, scenes)."""
    return [DATA_DIR / name for name in LIBRARY_FILES.values() if (DATA_DIR / name).exists()]

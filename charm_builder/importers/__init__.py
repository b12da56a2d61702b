"""Import characters, personas, scenes and dialogues from files into a workspace.

``load_file`` validates one whole file before anything is written; ``import_files`` validates every
file first, then writes each in its own transaction, so a bad file or a crash never half-imports.
Imports: ``schemas``, ``charm_builder.store``, ``charm_kernel.errors``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from charm_builder.importers import charactereval, charm_files, native
from charm_builder.importers.common import Loaded, read_json, read_json_lines, read_text
from charm_builder.store import Workspace
from charm_kernel.errors import CharmError, InputFormatError
from schemas import MODELS

FORMATS = (
    "auto",
    "charm-roles",
    "charm-users",
    "charactereval-profiles",
    "charactereval-dialogues",
    "jsonl",
    "yaml",
    *MODELS,
)


def _dict_format(data: dict) -> str:
    values = [v for v in data.values()]
    if not values or not all(isinstance(v, dict) for v in values):
        return "unknown"
    if any({"name_cn", "class"} & v.keys() for v in values):
        return "charm-roles"
    if all(set(v) == {"prompt"} for v in values):
        return "charm-users"
    return "charactereval-profiles"


def _is_charactereval(rec: Any) -> bool:
    return isinstance(rec, dict) and {"role", "context"} <= rec.keys() and "turns" not in rec


def detect_format(path: Path) -> str:
    """Recognise the format from the content (not the file name)."""
    if path.suffix.lower() in (".yaml", ".yml"):
        return "yaml"
    text = read_text(path).lstrip()
    if text.startswith("{"):
        try:
            data = read_json(path)
        except InputFormatError:  # several objects, one per line
            first = read_json_lines(path)[0][1]
            return "charactereval-dialogues" if _is_charactereval(first) else "jsonl"
        if _is_charactereval(data):
            return "charactereval-dialogues"
        if isinstance(data, dict):
            fmt = _dict_format(data)
            return fmt if fmt != "unknown" else "jsonl"
    if text.startswith("["):
        data = read_json(path)
        return "charactereval-dialogues" if data and _is_charactereval(data[0]) else "json-array"
    raise InputFormatError(
        str(path), "file", None, "unrecognised format; pass --format (one of: " + ", ".join(FORMATS) + ")"
    )


def load_file(path: str | Path, fmt: str = "auto") -> Loaded:
    path = Path(path)
    if not path.is_file():
        raise CharmError(f"{path}: no such file")
    if fmt not in FORMATS:
        raise CharmError(f"unknown --format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    if fmt == "auto":
        fmt = detect_format(path)
    loaders: dict[str, Callable[[], Loaded]] = {
        "charm-roles": lambda: charm_files.load_roles(path, _object(path)),
        "charm-users": lambda: charm_files.load_users(path, _object(path)),
        "charactereval-profiles": lambda: charactereval.load_profiles(path, _object(path)),
        "charactereval-dialogues": lambda: charactereval.load_dialogues(path, _array_or_lines(path)),
        "jsonl": lambda: native.load_jsonl(path, read_json_lines(path)),
        "json-array": lambda: native.load_jsonl(path, [(i, r) for i, r in enumerate(read_json(path), 1)]),
        "yaml": lambda: native.load_yaml(path),
    }
    if fmt in MODELS:  # an explicit record kind: JSONL or YAML of that kind
        if path.suffix.lower() in (".yaml", ".yml"):
            return native.load_yaml(path, kind=fmt)
        return native.load_jsonl(path, read_json_lines(path), kind=fmt)
    loaded = loaders[fmt]()
    if not loaded.records and not loaded.if_absent:
        raise InputFormatError(str(path), "file", None, "contains no records")
    return loaded


def _object(path: Path) -> dict:
    data = read_json(path)
    if not isinstance(data, dict):
        raise InputFormatError(str(path), "file", None, f"expected a JSON object, got {type(data).__name__}")
    return data


def _array_or_lines(path: Path) -> list[tuple[str, Any]]:
    text = read_text(path).lstrip()
    if text.startswith("["):
        return [(f"record {i}", r) for i, r in enumerate(read_json(path), 1)]
    return [(f"line {n}", r) for n, r in read_json_lines(path)]


def write_loaded(ws: Workspace, loaded: Loaded) -> int:
    """Write one loaded file atomically; returns the number of records written."""
    with ws.transaction():
        for rec in loaded.if_absent:
            if ws.get(type(rec), rec.id) is None:
                ws.upsert(rec)
        return ws.upsert_many(loaded.records)


def import_files(
    ws: Workspace, paths: Sequence[str | Path], fmt: str = "auto", on_file: Callable[[Loaded, int], None] | None = None
) -> list[Loaded]:
    """Validate every file, then write each in its own transaction. Raises before writing anything
    if any file is malformed."""
    loaded = [load_file(p, fmt) for p in paths]
    for item in loaded:
        written = write_loaded(ws, item)
        if on_file:
            on_file(item, written)
    return loaded


__all__ = ["FORMATS", "Loaded", "detect_format", "import_files", "load_file", "write_loaded"]

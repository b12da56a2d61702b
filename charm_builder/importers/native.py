"""Our own formats: JSON Lines or YAML of any ``schemas`` record (as ``charm-build schema`` prints).

The kind of each record is taken from ``--format`` or recognised from its fields. YAML may hold a
list of records or a mapping ``{characters: [...], users: [...], scenes: [...], ...}``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from charm_builder.importers.common import Loaded, build, read_text
from charm_kernel.errors import InputFormatError
from schemas import MODELS

# A field that only one kind has, checked in this order.
_SIGNATURES: list[tuple[str, str]] = [
    ("sub_category", "character"),
    ("candidates", "candidate_set"),
    ("best", "annotation"),
    ("annotator", "annotation"),
    ("turns", "dialogue"),
    ("user_query", "dialogue_quality_item"),
    ("n_annotators", "role_reward_item"),
    ("chosen", "preference_pair"),
    ("title", "scene"),
    ("prompt", "user"),
]
_PLURALS = {f"{k}s": k for k in MODELS} | {"characters": "character", "users": "user", "personas": "user"}


def kind_of(record: Any) -> str | None:
    if isinstance(record, dict):
        for key, kind in _SIGNATURES:
            if key in record:
                return kind
    return None


def _to_records(path: Path, items: list[tuple[str, Any]], kind: str | None, fmt: str) -> Loaded:
    out = Loaded(path, fmt)
    for where, rec in items:
        rec_kind = kind or kind_of(rec)
        if rec_kind is None:
            raise InputFormatError(str(path), where, None, "cannot tell which record kind this is; pass --format")
        if not isinstance(rec, dict):
            raise InputFormatError(str(path), where, None, f"expected an object, got {type(rec).__name__}")
        model = MODELS[rec_kind]
        out.records.append(build(path, where, model.model_validate, rec))
    return out


def load_jsonl(path: Path, lines: list[tuple[int, Any]], kind: str | None = None) -> Loaded:
    return _to_records(path, [(f"line {n}", rec) for n, rec in lines], kind, "jsonl")


def load_yaml(path: Path, kind: str | None = None) -> Loaded:
    try:
        data = yaml.safe_load(read_text(path))
    except RecursionError:
        raise InputFormatError(str(path), "file", None, "invalid YAML: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark else "file"
        problem = " ".join(str(getattr(exc, "problem", None) or exc).split())  # one line
        raise InputFormatError(str(path), where, None, f"invalid YAML: {problem}") from None
    items: list[tuple[str, Any]] = []
    if isinstance(data, list):
        items = [(f"item {i}", rec) for i, rec in enumerate(data, 1)]
        return _to_records(path, items, kind, "yaml")
    if isinstance(data, dict):
        out = Loaded(path, "yaml")
        for key, recs in data.items():
            section = _PLURALS.get(key)
            if section is None or not isinstance(recs, list):
                raise InputFormatError(
                    str(path), f"section {key!r}", None, f"unknown section (known: {', '.join(sorted(_PLURALS))})"
                )
            items = [(f"{key}[{i}]", rec) for i, rec in enumerate(recs, 1)]
            out.records.extend(_to_records(path, items, section, "yaml").records)
        return out
    raise InputFormatError(str(path), "file", None, "expected a list of records or a mapping of sections")

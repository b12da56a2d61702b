"""The published Charm role and user files.

Role file: a JSON object keyed by the Chinese name; each value has ``name_cn``, ``name_en``,
``desc``, ``class`` (Chinese category name such as 动漫, 电影, 小说, 音乐人, 自定义; open vocabulary:
an unforeseen label is mapped to the closest sub-category or ``custom``, kept verbatim in
``source_class`` and reported as a warning, never rejected), ``source``,
``profile``, ``prompt`` and ``relatives`` -- a JSON list, or a *string* holding a Python-literal
list of dicts (``name``, ``relationship``, ``profile``, ``prompt``).

User file: a JSON object keyed by persona name; each value is ``{"prompt": ...}``.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

from charm_builder.importers.categories import LabelMapper
from charm_builder.importers.common import Loaded, build, localized, require
from charm_kernel.errors import InputFormatError
from schemas import Character, UserPersona


def _label(path: Path, key: str, value: Any) -> str:
    """The ``class`` label as text ('' when absent); a list or object there is malformed."""
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        raise InputFormatError(str(path), f"record {key!r}", "class", f"expected text, got {type(value).__name__}")
    return str(value).strip()


def _relatives(path: Path, key: str, value: Any) -> list[dict]:
    if value in (None, "", "[]"):
        return []
    if isinstance(value, str):
        try:
            value = ast.literal_eval(value)
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):  # e.g. {[1]: 2}, deep nesting
            raise InputFormatError(
                str(path), f"record {key!r}", "relatives", "string is not a Python-literal list of dicts"
            ) from None
    if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
        raise InputFormatError(str(path), f"record {key!r}", "relatives", "expected a list of objects")
    fields = ("name", "relationship", "profile", "prompt")
    return [{f: str(rel.get(f) or "") for f in fields} for rel in value]


def load_roles(path: Path, data: dict) -> Loaded:
    out = Loaded(path, "charm-roles")
    categories = LabelMapper("class")
    for key, rec in data.items():
        where = f"record {key!r}"
        prompt = require(path, where, rec, "prompt")
        label = _label(path, key, rec.get("class"))
        profile = rec.get("profile") or rec.get("desc") or require(path, where, rec, "profile")
        names = {"zh": rec.get("name_cn") or key, "en": rec.get("name_en") or None}
        out.records.append(
            build(
                path,
                where,
                Character,
                name=names,
                sub_category=categories(label),
                source_class=label or None,
                source=localized(rec.get("source")),
                description=localized(rec.get("desc")),
                profile=localized(profile),
                system_prompt=localized(prompt),
                relatives=_relatives(path, key, rec.get("relatives")),
            )
        )
    out.warnings.extend(categories.warnings(path))
    return out


def load_users(path: Path, data: dict) -> Loaded:
    out = Loaded(path, "charm-users")
    for key, rec in data.items():
        where = f"record {key!r}"
        prompt = require(path, where, rec, "prompt")
        out.records.append(build(path, where, UserPersona, name=key, prompt=localized(prompt)))
    return out

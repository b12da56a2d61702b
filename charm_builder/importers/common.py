"""Helpers shared by the importers: reading files, language guessing, turning validation errors into one line."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import PydanticSerializationError

from charm_kernel.errors import InputFormatError
from schemas import Record

T = TypeVar("T")
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


@dataclass
class Loaded:
    """What one file yields. ``if_absent`` records are only inserted when their id is not stored yet
    (e.g. placeholder characters created for CharacterEval dialogues must not overwrite real profiles)."""

    path: Path
    format: str
    records: list[Record] = field(default_factory=list)
    if_absent: list[Record] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # one line each, printed by ``charm-build import``


def guess_language(text: str) -> str:
    """'zh' when the text contains CJK ideographs, else 'en'."""
    return "zh" if _CJK.search(text or "") else "en"


def localized(text: Any) -> dict[str, str] | None:
    """Wrap a plain string as {lang: text}; pass dicts through; None/empty -> None."""
    if text is None:
        return None
    if isinstance(text, dict):
        return text
    text = str(text).strip()
    return {guess_language(text): text} if text else None


def read_text(path: Path) -> str:
    """The file as UTF-8 text (a leading byte-order mark dropped); one-line error otherwise."""
    try:
        return path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InputFormatError(str(path), f"byte {exc.start}", None, "not UTF-8 text") from None
    except OSError as exc:
        raise InputFormatError(str(path), "file", None, f"cannot read: {exc.strerror or exc}") from None


def _loads(path: Path, where: str, text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        line = f"line {exc.lineno}" if where == "file" else where
        raise InputFormatError(str(path), line, None, f"invalid JSON: {exc.msg}") from None
    except RecursionError:
        raise InputFormatError(str(path), where, None, "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer literal longer than Python's 4,300-digit limit
        raise InputFormatError(str(path), where, None, f"invalid JSON: {exc}") from None


def read_json(path: Path) -> Any:
    return _loads(path, "file", read_text(path))


def read_json_lines(path: Path) -> list[tuple[int, Any]]:
    """JSON Lines as (line number, value); blank lines skipped."""
    out = []
    for lineno, line in enumerate(read_text(path).splitlines(), 1):
        if line.strip():
            out.append((lineno, _loads(path, f"line {lineno}", line)))
    return out


def validation_error(path: Path, where: str, exc: ValidationError) -> InputFormatError:
    """The first pydantic error, as one line naming file, record and field."""
    err = exc.errors()[0]
    loc = ".".join(str(p) for p in err["loc"]) or None
    msg = err["msg"].removeprefix("Value error, ")
    more = f" (and {exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
    return InputFormatError(str(path), where, loc, msg + more)


def build(path: Path, where: str, factory: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call ``factory(*args, **kwargs)`` (usually a model) and turn validation errors into InputFormatError.

    A model is also serialised once here, so text the store cannot hold (a lone UTF-16 surrogate
    such as a JSON ``"\\ud800"`` escape) is rejected while validating, before anything is written."""
    try:
        out = factory(*args, **kwargs)
    except ValidationError as exc:
        raise validation_error(path, where, exc) from None
    except RecursionError:
        raise InputFormatError(str(path), where, None, "nested too deeply") from None
    if isinstance(out, BaseModel):
        try:
            out.model_dump_json()
        except PydanticSerializationError:
            raise InputFormatError(str(path), where, None, "text is not valid Unicode (lone surrogate)") from None
    return out


def require(path: Path, where: str, obj: Any, key: str) -> Any:
    if not isinstance(obj, dict):
        raise InputFormatError(str(path), where, None, f"expected a JSON object, got {type(obj).__name__}")
    if key not in obj or obj[key] in (None, ""):
        raise InputFormatError(str(path), where, key, "missing")
    return obj[key]

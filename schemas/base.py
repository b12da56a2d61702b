"""Shared building blocks: languages, content-derived ids, the base model every record extends."""

from __future__ import annotations

import hashlib
import json
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Language = Literal["zh", "en"]
LANGUAGES: tuple[str, ...] = ("zh", "en")


def content_id(prefix: str, payload: Any) -> str:
    """A deterministic id: ``prefix`` + the first 16 hex digits of SHA-256 over canonical JSON.

    Canonical JSON (sorted keys, no whitespace, UTF-8) means the same content always gets the
    same id, on any machine, so re-running a step upserts instead of duplicating.
    """
    blob = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return f"{prefix}_{hashlib.sha256(blob.encode('utf-8')).hexdigest()[:16]}"


def non_empty(value: str, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{field} must be non-empty text")
    return value


class Localized(BaseModel):
    """Text in Chinese and/or English; at least one side must be present."""

    model_config = ConfigDict(extra="forbid")
    zh: str | None = None
    en: str | None = None

    @model_validator(mode="after")
    def _one_side(self) -> Localized:
        for lang in LANGUAGES:
            value = getattr(self, lang)
            if value is not None and not value.strip():
                setattr(self, lang, None)
        if self.zh is None and self.en is None:
            raise ValueError("needs text in at least one language (zh or en)")
        return self

    def get(self, language: str) -> str:
        """The text in ``language``, falling back to the other language."""
        value = getattr(self, language, None)
        return value if value else (self.zh or self.en or "")


class Record(BaseModel):
    """Base of every stored object. ``id`` is derived from ``identity()`` when not given."""

    model_config = ConfigDict(extra="forbid")
    id_prefix: ClassVar[str] = "obj"
    id: str = Field(default="", description="Deterministic content-derived id; computed when omitted.")

    def identity(self) -> Any:
        """What makes two records 'the same object'. Subclasses narrow it (e.g. names + source)."""
        return self.model_dump(exclude={"id"}, mode="json")

    @model_validator(mode="after")
    def _fill_id(self) -> Record:
        if not self.id:
            self.id = content_id(self.id_prefix, self.identity())
        return self

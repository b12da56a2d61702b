"""Human judgements: best and worst of the candidates."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator, model_validator

from schemas.base import Record, non_empty
from schemas.candidates import Label


def _now() -> datetime:
    return datetime.now(UTC)


class Annotation(Record):
    """One annotator's best/worst pick for one candidate set (a person, or an LLM judge when synthetic)."""

    id_prefix: ClassVar[str] = "ann"
    candidate_set_id: str
    annotator: str
    status: Literal["submitted", "draft", "discarded"] = "submitted"
    best: Label | None = None
    worst: Label | None = None
    dimension_notes: dict[str, str] = Field(default_factory=dict, description="Optional per-dimension remarks.")
    source: Literal["human", "synthetic"] = Field(
        default="human",
        description="'synthetic': derived from an LLM judge's scores (annotator 'judge:<model>'); "
        "exports leave these out unless --include-synthetic.",
    )
    provenance: dict[str, Any] = Field(
        default_factory=dict, description="How a synthetic annotation was made (judge, prompt version, scores)."
    )
    created_at: datetime = Field(default_factory=_now)
    updated_at: datetime = Field(default_factory=_now)

    _annotator = field_validator("annotator")(lambda v: non_empty(v, "annotator"))

    @model_validator(mode="after")
    def _check(self) -> Annotation:
        if self.status == "submitted" and (self.best is None or self.worst is None):
            raise ValueError("a submitted annotation needs both best and worst")
        if self.best is not None and self.best == self.worst:
            raise ValueError(f"best and worst are the same candidate ({self.best})")
        return self

    def identity(self) -> object:
        return {"candidate_set_id": self.candidate_set_id, "annotator": self.annotator}

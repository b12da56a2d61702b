"""Candidate replies: several models answer the same dialogue context."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.base import Record, content_id, non_empty
from schemas.dialogue import Message

Label = Literal["A", "B", "C", "D", "E", "F"]
LABELS: tuple[str, ...] = ("A", "B", "C", "D", "E", "F")


class Candidate(BaseModel):
    """One model's reply to the context, with what it cost."""

    model_config = ConfigDict(extra="forbid")
    label: Label
    model_id: str
    text: str
    params: dict[str, Any] = Field(default_factory=dict)
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    latency_s: float = Field(default=0.0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    flags: list[str] = Field(
        default_factory=list, description="'duplicate' (same text as another), 'empty', 'degenerate' (loops)."
    )

    _model = field_validator("model_id")(lambda v: non_empty(v, "model_id"))

    @model_validator(mode="after")
    def _text_or_flagged(self) -> Candidate:
        if not self.text.strip() and "empty" not in self.flags:
            raise ValueError("text must be non-empty text (or the candidate flagged 'empty')")
        return self


class CandidateSet(Record):
    """Up to six candidates (labels A-F) for one context ending in a user turn."""

    id_prefix: ClassVar[str] = "cset"
    dialogue_id: str
    context: list[Message] = Field(min_length=1, description="Dialogue turns up to and including the last user turn.")
    candidates: list[Candidate] = Field(min_length=2, max_length=6)

    @model_validator(mode="after")
    def _check(self) -> CandidateSet:
        labels = [c.label for c in self.candidates]
        dupes = sorted({x for x in labels if labels.count(x) > 1})
        if dupes:
            raise ValueError(f"duplicate candidate labels: {', '.join(dupes)}")
        if self.context[-1].role != "user":
            raise ValueError("context must end with a user turn")
        return self

    def identity(self) -> object:
        # One candidate set per (dialogue, context): regenerating replies replaces it, never duplicates.
        return {"dialogue_id": self.dialogue_id, "context": content_id("ctx", [m.model_dump() for m in self.context])}

    def by_label(self, label: str) -> Candidate:
        for cand in self.candidates:
            if cand.label == label:
                return cand
        raise KeyError(f"candidate set {self.id} has no label {label!r}")

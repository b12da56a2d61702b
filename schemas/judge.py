"""An LLM judge's 1-10 score of one candidate reply (the paper's GPT-Margin baseline)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import ClassVar

from pydantic import Field, field_validator

from schemas.base import Record, non_empty
from schemas.candidates import Label


class JudgeScore(Record):
    """One judge's score of one candidate on the candidate set's target dimension.

    ``score`` is None when the judge's answer could not be parsed (after one re-ask); the raw answer
    is kept, and ``charm-build judge`` asks again on the next run.
    """

    id_prefix: ClassVar[str] = "jdg"
    candidate_set_id: str
    label: Label
    judge: str = Field(description="Roster entry name of the judge (e.g. gpt-4o).")
    judge_model_id: str = Field(default="", description="Provider model id behind the roster entry.")
    prompt_version: str
    dimension: str = Field(default="", description="Dimension judged (the dialogue's target dimension).")
    score: float | None = Field(default=None, ge=1, le=10)
    raw: str = Field(default="", description="The judge's last answer, verbatim.")
    attempts: int = Field(default=1, ge=1, description="Chat requests spent on this score (re-asks included).")
    input_tokens: int = Field(default=0, ge=0)
    output_tokens: int = Field(default=0, ge=0)
    cost_usd: float = Field(default=0.0, ge=0)
    created_at: datetime = Field(default_factory=lambda: datetime.now(UTC))

    _judge = field_validator("judge")(lambda v: non_empty(v, "judge"))

    def identity(self) -> object:
        return {
            "candidate_set_id": self.candidate_set_id,
            "label": self.label,
            "judge": self.judge,
            "prompt_version": self.prompt_version,
        }

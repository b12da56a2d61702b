"""Dialogues: alternating user/character turns plus how they were produced."""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from schemas.base import Language, Record, non_empty

Role = Literal["user", "character"]

# What a dialogue is built to probe. The roleReward subset uses the first two (paper Table 2);
# the dialogueQuality subset uses the six of appendix A.
ROLE_REWARD_DIMENSIONS: tuple[str, ...] = ("knowledge_consistency", "attractiveness")
DIALOGUE_QUALITY_DIMENSIONS: tuple[str, ...] = (
    "consistency",
    "knowledge",
    "behavior",
    "empathy",
    "diversity",
    "fluency",
)
RoleRewardDimension = Literal["knowledge_consistency", "attractiveness"]
DialogueQualityDimension = Literal["consistency", "knowledge", "behavior", "empathy", "diversity", "fluency"]


class Message(BaseModel):
    """One turn. ``speaker`` is the display name (character or persona name)."""

    model_config = ConfigDict(extra="forbid")
    role: Role
    speaker: str = ""
    text: str

    _text = field_validator("text")(lambda v: non_empty(v, "text"))


class Provenance(BaseModel):
    """Which models, parameters and seeds produced an object; enough to reproduce it."""

    model_config = ConfigDict(extra="forbid")
    source: Literal["simulated", "imported", "manual"] = "simulated"
    source_file: str | None = None
    models: dict[str, str] = Field(default_factory=dict, description="role -> model id (user, character, refine).")
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int | None = None
    original_turns: list[Message] | None = Field(default=None, description="Turns before the refine pass.")
    notes: list[str] = Field(default_factory=list)


class Dialogue(Record):
    """A multi-turn conversation between a user persona and a character, in one scene."""

    id_prefix: ClassVar[str] = "dlg"
    character_id: str
    user_id: str | None = None
    scene_id: str | None = None
    language: Language
    target_dimension: RoleRewardDimension | None = None
    turns: list[Message] = Field(min_length=1)
    provenance: Provenance = Field(default_factory=Provenance)

    def identity(self) -> object:
        return {
            "character_id": self.character_id,
            "user_id": self.user_id,
            "scene_id": self.scene_id,
            "language": self.language,
            "turns": [t.model_dump() for t in self.turns],
        }

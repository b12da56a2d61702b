"""Exported items of the three Charm subsets."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.base import Language, Record, content_id, non_empty
from schemas.dialogue import DialogueQualityDimension, Message, RoleRewardDimension
from schemas.rows import columns


class ChatMessage(BaseModel):
    """An OpenAI/TRL-style chat message: ``{"role": system|user|assistant, "content": ...}``.

    The one role/content pair of every stage: an exported prompt's messages and an LLM request's turns
    (``charm_builder.llm`` also takes plain dicts and checks their role). A Charm dialogue turn
    (role user|character, speaker, text) is :class:`~schemas.dialogue.Message`; ``to_chat`` maps one to this.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)
    role: str
    content: str


class PreferencePair(Record):
    """A chosen/rejected pair for reward-model training (TRL conversational preference format)."""

    id_prefix: ClassVar[str] = "pair"
    candidate_set_id: str
    dialogue_id: str
    character_id: str
    language: Language
    dimension: RoleRewardDimension | None = None
    prompt: list[ChatMessage] = Field(min_length=1, description="System prompt + dialogue context.")
    chosen: str
    rejected: str
    chosen_model: str = ""
    rejected_model: str = ""
    margin_agreement: float | None = Field(default=None, description="Human agreement in [0, 1].")
    margin_judge: float | None = Field(default=None, description="Slot for an external judge margin.")
    n_annotators: int | None = Field(default=None, ge=1, description="Submitted annotations behind the pair.")
    chosen_best_votes: int | None = Field(default=None, ge=0, description="Annotators who picked `chosen` as best.")
    rejected_worst_votes: int | None = Field(
        default=None, ge=0, description="Annotators who picked `rejected` as worst."
    )
    margin_bws: float | None = Field(
        default=None, ge=-2.0, le=2.0, description="Best-worst scaling score of chosen minus rejected's, in [-2, 2]."
    )
    label_confidence: float | None = Field(
        default=None,
        ge=0.0,
        le=1.0,
        description="Posterior probability that chosen beats rejected under the annotator-reliability model "
        "(export --aggregate dawid-skene); null otherwise.",
    )

    _texts = field_validator("chosen", "rejected")(lambda v, info: non_empty(v, info.field_name))

    @model_validator(mode="after")
    def _differ(self) -> PreferencePair:
        if self.chosen == self.rejected:
            raise ValueError("chosen and rejected are identical")
        for votes in (self.chosen_best_votes, self.rejected_worst_votes):
            if votes is not None and (self.n_annotators is None or votes > self.n_annotators):
                raise ValueError(f"{votes} votes but n_annotators is {self.n_annotators}")
        return self

    def identity(self) -> Any:
        """The pair itself; margins and vote counts describe it and may be refreshed."""
        return self.model_dump(
            mode="json", include={"candidate_set_id", "dimension", "language", "prompt", "chosen", "rejected"}
        )


class RoleRewardItem(Record):
    """One entry of the roleReward benchmark (paper Table 2)."""

    id_prefix: ClassVar[str] = "rr"
    candidate_set_id: str
    dialogue_id: str
    character_id: str
    system_prompt: str
    context: list[Message] = Field(min_length=1)
    chosen: str
    rejected: str
    dimension: RoleRewardDimension
    language: Language
    n_annotators: int = Field(ge=1)
    agreement: float = Field(ge=0, le=1)

    _texts = field_validator("chosen", "rejected")(lambda v, info: non_empty(v, info.field_name))


class DialogueQualityQuery(BaseModel):
    """What a dialogueQuality item asks: a human-written user query continuing a dialogue, probing one of the
    six dimensions, with the criteria a judge scores against (shared by the stored annotation and the item)."""

    model_config = ConfigDict(extra="forbid")
    dialogue_id: str
    user_query: str
    dimension: DialogueQualityDimension
    criteria: list[str] = Field(min_length=1)
    language: Language
    source_id: str | None = Field(
        default=None, description="For a machine-translated item: the id of the item it came from."
    )

    _query = field_validator("user_query")(lambda v: non_empty(v, "user_query"))

    @field_validator("criteria")
    @classmethod
    def _criteria(cls, v: list[str]) -> list[str]:
        return [non_empty(c, "criteria item") for c in v]


class DialogueQualityItem(DialogueQualityQuery, Record):
    """One entry of the dialogueQuality subset: a context, a human-written query and criteria."""

    id_prefix: ClassVar[str] = "dq"
    character_id: str
    context: list[Message] = Field(min_length=1)
    system_prompt: str = Field(default="", description="The character's role-play prompt in `language` (export).")

    def identity(self) -> Any:
        """The item without export-time detail (prompt text, translation source)."""
        return self.model_dump(mode="json", exclude={"id", "system_prompt", "source_id"})


class DialogueQualityAnnotation(DialogueQualityQuery):
    """One dialogueQuality annotation as stored in the workspace table ``dq_annotations`` (validated on write).

    ``context`` / ``system_prompt``: set for a translation (the translated turns and prompt), else read from
    the dialogue and its character at export.
    """

    annotator: str
    context: list[Message] | None = None
    system_prompt: str | None = None

    _annotator = field_validator("annotator")(lambda v: non_empty(v, "annotator"))

    @property
    def id(self) -> str:
        """One row per (dialogue, dimension, language): re-annotating replaces it."""
        return content_id(
            "dqa", {"dialogue_id": self.dialogue_id, "dimension": self.dimension, "language": self.language}
        )


# Exported columns of each subset, in file order, named once here (the export writers, its check and the
# readers in training use these). ``columns`` checks every name against the model's fields.
TRAIN_COLUMNS: tuple[str, ...] = columns(
    PreferencePair,
    "id",
    "prompt",
    "chosen",
    "rejected",
    "margin_agreement",
    "margin_judge",
    "dialogue_id",
    "character_id",
    "candidate_set_id",
    "language",
    "dimension",
    "chosen_model",
    "rejected_model",
    "n_annotators",
    "chosen_best_votes",
    "rejected_worst_votes",
    "margin_bws",
    "label_confidence",
    every=True,
)
"""preferenceTraining ``train``: one :class:`PreferencePair` a row."""
GRPO_COLUMNS: tuple[str, ...] = columns(
    PreferencePair, "id", "prompt", "dialogue_id", "character_id", "candidate_set_id", "language", "dimension"
)
"""preferenceTraining ``grpo``: prompt-only rows (a :class:`PreferencePair` without replies, margins or votes)."""
PAIR_TEXT_COLUMNS: tuple[str, ...] = columns(PreferencePair, "prompt", "chosen", "rejected")
"""What makes a row a preference pair (any file a reward model trains on or a judge scores)."""
VOTE_COLUMNS: tuple[str, ...] = columns(
    PreferencePair, "n_annotators", "chosen_best_votes", "rejected_worst_votes", "margin_bws"
)
"""Human-vote columns set on every exported train row."""
ROLE_REWARD_COLUMNS: tuple[str, ...] = columns(
    RoleRewardItem,
    "id",
    "context",
    "system_prompt",
    "chosen",
    "rejected",
    "dimension",
    "language",
    "character_id",
    "dialogue_id",
    "candidate_set_id",
    "n_annotators",
    "agreement",
    every=True,
)
"""roleReward ``test``: one :class:`RoleRewardItem` a row."""
ROLE_REWARD_SCORED_COLUMNS: tuple[str, ...] = ROLE_REWARD_COLUMNS[:7]
"""What a reward model needs to score a roleReward item (id, context, system_prompt, chosen, rejected, dimension,
language)."""
DIALOGUE_QUALITY_COLUMNS: tuple[str, ...] = columns(
    DialogueQualityItem,
    "id",
    "context",
    "system_prompt",
    "user_query",
    "dimension",
    "criteria",
    "language",
    "character_id",
    "dialogue_id",
    "source_id",
    every=True,
)
"""dialogueQuality ``test``: one :class:`DialogueQualityItem` a row."""

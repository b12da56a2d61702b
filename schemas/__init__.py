"""The data contract shared by every charm-builder stage (pydantic v2 models); stages talk only through it.

Owns: every record type and its deterministic, content-derived ``id`` (``schemas.base.content_id``), so
re-running a step upserts the same rows instead of adding duplicates.
Imports: pydantic and the standard library only (never charm_builder, annotation or training).
"""

from schemas.annotation import Annotation
from schemas.base import LANGUAGES, Language, Localized, Record, content_id
from schemas.candidates import LABELS, Candidate, CandidateSet, Label
from schemas.characters import SUB_CATEGORIES, ZH_CATEGORY_NAMES, Character, Relative, Scene, UserPersona
from schemas.chat import CHAT_ROLES, to_chat
from schemas.dialogue import (
    DIALOGUE_QUALITY_DIMENSIONS,
    ROLE_REWARD_DIMENSIONS,
    Dialogue,
    Message,
    Provenance,
)
from schemas.items import (
    DIALOGUE_QUALITY_COLUMNS,
    GRPO_COLUMNS,
    PAIR_TEXT_COLUMNS,
    ROLE_REWARD_COLUMNS,
    ROLE_REWARD_SCORED_COLUMNS,
    TRAIN_COLUMNS,
    VOTE_COLUMNS,
    ChatMessage,
    DialogueQualityAnnotation,
    DialogueQualityItem,
    DialogueQualityQuery,
    PreferencePair,
    RoleRewardItem,
)
from schemas.judge import JudgeScore
from schemas.rows import RowError, columns, required_columns, validate_rows

# Name -> model, for `charm-build schema NAME` and the native JSONL/YAML importer.
MODELS: dict[str, type[Record]] = {
    "character": Character,
    "user": UserPersona,
    "scene": Scene,
    "dialogue": Dialogue,
    "candidate_set": CandidateSet,
    "annotation": Annotation,
    "judge_score": JudgeScore,
    "preference_pair": PreferencePair,
    "role_reward_item": RoleRewardItem,
    "dialogue_quality_item": DialogueQualityItem,
}
EXTRA_SCHEMAS = {"message": Message, "candidate": Candidate, "provenance": Provenance, "relative": Relative}

__all__ = [
    "CHAT_ROLES",
    "DIALOGUE_QUALITY_COLUMNS",
    "DIALOGUE_QUALITY_DIMENSIONS",
    "EXTRA_SCHEMAS",
    "GRPO_COLUMNS",
    "LABELS",
    "LANGUAGES",
    "MODELS",
    "PAIR_TEXT_COLUMNS",
    "ROLE_REWARD_COLUMNS",
    "ROLE_REWARD_DIMENSIONS",
    "ROLE_REWARD_SCORED_COLUMNS",
    "SUB_CATEGORIES",
    "TRAIN_COLUMNS",
    "VOTE_COLUMNS",
    "ZH_CATEGORY_NAMES",
    "Annotation",
    "Candidate",
    "CandidateSet",
    "Character",
    "ChatMessage",
    "Dialogue",
    "DialogueQualityAnnotation",
    "DialogueQualityItem",
    "DialogueQualityQuery",
    "JudgeScore",
    "Label",
    "Language",
    "Localized",
    "Message",
    "PreferencePair",
    "Provenance",
    "Record",
    "Relative",
    "RoleRewardItem",
    "RowError",
    "Scene",
    "UserPersona",
    "columns",
    "content_id",
    "required_columns",
    "to_chat",
    "validate_rows",
]

"""Inputs of the simulator: characters, user personas, scenes."""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.base import Language, Localized, Record, non_empty

PrimaryCategory = Literal["fiction", "real_person", "original"]

# The 13 sub-categories. The AAM paper's Figure 3 names 3 primary categories and 13 sub-categories
# but its text lists only some (comics, movies, novels, games, anime, TV plays, scientists,
# musicians, actors, custom); the rest (mythology, historical figures, athletes) are our choice.
SUB_CATEGORIES: dict[str, PrimaryCategory] = {
    "anime": "fiction",
    "comics": "fiction",
    "novels": "fiction",
    "films": "fiction",
    "tv": "fiction",
    "games": "fiction",
    "mythology": "fiction",
    "scientists": "real_person",
    "musicians": "real_person",
    "actors": "real_person",
    "historical": "real_person",
    "athletes": "real_person",
    "custom": "original",
}
SubCategory = Literal[
    "anime", "comics", "novels", "films", "tv", "games", "mythology",
    "scientists", "musicians", "actors", "historical", "athletes", "custom",
]  # fmt: skip

# Chinese category names used by the published Charm role files (`class`) -> our sub-category.
ZH_CATEGORY_NAMES: dict[str, str] = {
    "动漫": "anime", "动画": "anime", "漫画": "comics", "小说": "novels", "电影": "films",
    "电视剧": "tv", "影视剧": "tv", "影视": "tv", "电视": "tv", "游戏": "games", "神话": "mythology",
    "神话传说": "mythology", "科学家": "scientists", "音乐家": "musicians", "歌手": "musicians",
    "演员": "actors", "明星": "actors", "历史人物": "historical", "历史": "historical",
    "运动员": "athletes", "体育": "athletes", "自定义": "custom", "原创": "custom",
}  # fmt: skip


class Relative(BaseModel):
    """A person related to a character (family, partner, rival), as in the Charm role files."""

    model_config = ConfigDict(extra="forbid")
    name: str
    relationship: str = ""
    profile: str = ""
    prompt: str = ""

    _name = field_validator("name")(lambda v: non_empty(v, "name"))


class Character(Record):
    """A role to be played: names, category, source work, profile and role-play system prompt."""

    id_prefix: ClassVar[str] = "chr"
    name: Localized = Field(description="Character name per language.")
    primary_category: PrimaryCategory | None = Field(
        default=None, description="fiction | real_person | original; derived from sub_category."
    )
    sub_category: SubCategory
    source: Localized | None = Field(default=None, description="The work the character comes from.")
    description: Localized | None = Field(default=None, description="One-line summary.")
    profile: Localized = Field(description="Background, personality, knowledge.")
    system_prompt: Localized = Field(description="Role-play system prompt for the character model.")
    relatives: list[Relative] = Field(default_factory=list)

    @model_validator(mode="after")
    def _derive_primary(self) -> Character:
        expected = SUB_CATEGORIES[self.sub_category]
        if self.primary_category is None:
            self.primary_category = expected
        elif self.primary_category != expected:
            raise ValueError(f"sub_category {self.sub_category!r} belongs to {expected!r}, not {self.primary_category!r}")
        return self

    def identity(self) -> object:
        # Stable across profile edits: re-importing an improved profile updates the same record.
        return {"name": self.name.model_dump(), "source": self.source.model_dump() if self.source else None}


class UserPersona(Record):
    """A virtual user the user-simulator LLM plays (the paper used 230)."""

    id_prefix: ClassVar[str] = "usr"
    name: str
    prompt: Localized = Field(description="Persona prompt: who the user is, how they talk, what they want.")
    tags: list[str] = Field(default_factory=list, description="e.g. culture, age group, temperament.")

    _name = field_validator("name")(lambda v: non_empty(v, "name"))

    def identity(self) -> object:
        return {"name": self.name}


class Scene(Record):
    """Where and when the conversation happens; optional link to characters it suits."""

    id_prefix: ClassVar[str] = "scn"
    title: Localized
    description: Localized
    character_ids: list[str] = Field(default_factory=list, description="Empty = suits any character.")
    generated_by: str | None = Field(default=None, description="Model id when an LLM wrote the scene.")

    def identity(self) -> object:
        return {"title": self.title.model_dump(), "description": self.description.model_dump()}


__all__ = [
    "SUB_CATEGORIES",
    "ZH_CATEGORY_NAMES",
    "Character",
    "Language",
    "PrimaryCategory",
    "Relative",
    "Scene",
    "SubCategory",
    "UserPersona",
]  # fmt: skip

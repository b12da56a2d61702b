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
    "anime",
    "comics",
    "novels",
    "films",
    "tv",
    "games",
    "mythology",
    "scientists",
    "musicians",
    "actors",
    "historical",
    "athletes",
    "custom",
]

# Category labels found in published files -> our sub-category. The Charm role file
# (calubkk/AAM Charm-DialogueQuality/roleplayeval_roles.json) uses 动漫, 电影, 电视剧, 游戏, 小说,
# 音乐人 and 自定义 (checked 2026-11-30); the rest are common variants. Importers fall back to a
# keyword match and then to ``custom`` for labels not listed here, keeping the label in
# ``Character.source_class`` (see charm_builder/importers/categories.py).
ZH_CATEGORY_NAMES: dict[str, str] = {
    "动漫": "anime",
    "动画": "anime",
    "动画片": "anime",
    "番剧": "anime",
    "日漫": "anime",
    "国漫": "anime",
    "卡通": "anime",
    "漫画": "comics",
    "美漫": "comics",
    "连环画": "comics",
    "小说": "novels",
    "网络小说": "novels",
    "网文": "novels",
    "轻小说": "novels",
    "文学": "novels",
    "名著": "novels",
    "童话": "novels",
    "电影": "films",
    "影片": "films",
    "电视剧": "tv",
    "影视剧": "tv",
    "影视": "tv",
    "电视": "tv",
    "剧集": "tv",
    "网剧": "tv",
    "美剧": "tv",
    "韩剧": "tv",
    "日剧": "tv",
    "综艺": "tv",
    "游戏": "games",
    "电子游戏": "games",
    "手游": "games",
    "网游": "games",
    "神话": "mythology",
    "神话传说": "mythology",
    "传说": "mythology",
    "民间传说": "mythology",
    "科学家": "scientists",
    "发明家": "scientists",
    "音乐人": "musicians",
    "音乐家": "musicians",
    "歌手": "musicians",
    "歌星": "musicians",
    "乐队": "musicians",
    "作曲家": "musicians",
    "演员": "actors",
    "明星": "actors",
    "影星": "actors",
    "艺人": "actors",
    "偶像": "actors",
    "历史人物": "historical",
    "历史": "historical",
    "历史名人": "historical",
    "名人": "historical",
    "政治家": "historical",
    "作家": "historical",
    "哲学家": "historical",
    "运动员": "athletes",
    "体育": "athletes",
    "体育明星": "athletes",
    "电竞选手": "athletes",
    "自定义": "custom",
    "原创": "custom",
    "原创角色": "custom",
    "虚拟人物": "custom",
    "其他": "custom",
    # English labels seen in other role-play sets
    "movie": "films",
    "film": "films",
    "novel": "novels",
    "game": "games",
    "tv series": "tv",
    "singer": "musicians",
    "musician": "musicians",
    "actor": "actors",
    "scientist": "scientists",
    "athlete": "athletes",
    "historical figure": "historical",
    "original": "custom",
}


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
    source_class: str | None = Field(
        default=None, description="The category label exactly as the imported file gave it (e.g. 音乐人)."
    )

    @model_validator(mode="after")
    def _derive_primary(self) -> Character:
        expected = SUB_CATEGORIES[self.sub_category]
        if self.primary_category is None:
            self.primary_category = expected
        elif self.primary_category != expected:
            raise ValueError(
                f"sub_category {self.sub_category!r} belongs to {expected!r}, not {self.primary_category!r}"
            )
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
]

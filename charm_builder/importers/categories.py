"""Open-vocabulary category labels -> one of our 13 sub-categories, never a rejected file.

Published files label characters with free text (the Charm role file's ``class``: 动漫, 音乐人, ...).
A label is looked up in ``schemas.ZH_CATEGORY_NAMES`` (plus our own sub-category names); failing
that, a keyword inside it picks the closest sub-category (网络歌手 -> musicians); failing that, it
becomes ``custom``. The label itself is always kept verbatim in ``Character.source_class``.
Labels that were not in the table are counted so the importer can print one warning per label.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from dataclasses import dataclass

from schemas import SUB_CATEGORIES, ZH_CATEGORY_NAMES

# Checked in order: the first keyword contained in the label wins.
_KEYWORDS: tuple[tuple[str, str], ...] = (
    ("漫威", "films"),
    ("漫画", "comics"),
    ("动漫", "anime"),
    ("动画", "anime"),
    ("番", "anime"),
    ("漫", "anime"),
    ("游戏", "games"),
    ("电竞", "athletes"),
    ("电影", "films"),
    ("影片", "films"),
    ("剧", "tv"),
    ("综艺", "tv"),
    ("电视", "tv"),
    ("小说", "novels"),
    ("文学", "novels"),
    ("书", "novels"),
    ("仙侠", "novels"),
    ("武侠", "novels"),
    ("神话", "mythology"),
    ("传说", "mythology"),
    ("仙", "mythology"),
    ("娱乐", "actors"),
    ("音乐", "musicians"),
    ("歌", "musicians"),
    ("乐", "musicians"),
    ("科学", "scientists"),
    ("演员", "actors"),
    ("明星", "actors"),
    ("星", "actors"),
    ("历史", "historical"),
    ("古代", "historical"),
    ("运动", "athletes"),
    ("体育", "athletes"),
    ("球", "athletes"),
    ("anime", "anime"),
    ("comic", "comics"),
    ("manga", "comics"),
    ("game", "games"),
    ("movie", "films"),
    ("film", "films"),
    ("tv", "tv"),
    ("series", "tv"),
    ("novel", "novels"),
    ("book", "novels"),
    ("myth", "mythology"),
    ("music", "musicians"),
    ("sing", "musicians"),
    ("actor", "actors"),
    ("actress", "actors"),
    ("scien", "scientists"),
    ("histor", "historical"),
    ("sport", "athletes"),
)


def map_label(label: str) -> tuple[str, bool]:
    """(sub-category, known): ``known`` is False when the label was not in the table."""
    name = label.strip()
    key = name.lower()
    if key in SUB_CATEGORIES:
        return key, True
    if name in ZH_CATEGORY_NAMES or key in ZH_CATEGORY_NAMES:
        return ZH_CATEGORY_NAMES.get(name) or ZH_CATEGORY_NAMES[key], True
    for word, sub in _KEYWORDS:
        if word in key:
            return sub, False
    return "custom", False


@dataclass
class LabelMapper:
    """Maps the labels of one file and remembers the unknown ones for the warning lines."""

    field: str = "class"  # the label's name in the warnings
    unknown: Counter[str] = dataclasses.field(default_factory=Counter)
    mapped_to: dict[str, str] = dataclasses.field(default_factory=dict)

    def __call__(self, label: str) -> str:
        sub, known = map_label(label)
        if not known:
            self.unknown[label] += 1
            self.mapped_to[label] = sub
        return sub

    def warnings(self, path: object) -> list[str]:
        out = []
        for label, n in sorted(self.unknown.items(), key=lambda kv: (-kv[1], kv[0])):
            records = f"{n} record{'s' if n != 1 else ''}"
            if not label:
                out.append(f"{path}: {records} without {self.field} imported as {self.mapped_to[label]!r}")
                continue
            out.append(
                f"{path}: {records} with unknown {self.field} {label!r} imported as "
                f"{self.mapped_to[label]!r} (original kept in source_class)"
            )
        return out


__all__ = ["LabelMapper", "map_label"]

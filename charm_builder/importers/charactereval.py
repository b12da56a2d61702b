"""CharacterEval-style data (Tu et al., 2024).

* Profiles: a JSON object keyed by character name whose values are attribute dicts
  (e.g. ``{"性别": "男", "身份": "..."}``).
* Dialogues: records ``{"id", "role", "novel_name", "context"}`` stored as a JSON array even when
  the file is named ``.jsonl`` (real JSON Lines are accepted too). ``context`` is lines of
  ``Name：utterance`` (full-width or ASCII colon); lines by ``role`` become character turns,
  everyone else's become user turns.

CharacterEval does not say which category a character belongs to; we file them under ``novels``
(most come from novels and scripts) and say so in provenance.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from charm_builder.importers.common import Loaded, build, localized, require
from charm_kernel.errors import InputFormatError
from schemas import Character, Dialogue

_LINE = re.compile(r"^\s*([^:：]{1,40}?)\s*[:：]\s*(.*)$")
DEFAULT_SUB_CATEGORY = "novels"


def _profile_text(attrs: dict[str, Any]) -> str:
    """``key：value`` lines; nested values (the real file has objects and lists, e.g. 人物关系) as JSON."""

    def text(v: Any) -> str:
        return json.dumps(v, ensure_ascii=False) if isinstance(v, dict | list) else str(v)

    return "\n".join(f"{k}：{text(v)}" for k, v in attrs.items() if v not in (None, "", [], {}))


def _system_prompt(name: str, profile: str) -> str:
    return (
        f"你现在扮演{name}。请始终以{name}的身份、语气和知识回答，不要跳出角色，不要说自己是AI。\n角色资料：\n{profile}"
    )


def character_for(name: str, profile: str | None = None) -> Character:
    """The Character a CharacterEval name maps to (same id whether built from profiles or dialogues)."""
    profile = profile or f"{name}，CharacterEval 数据中的角色。"
    return Character(
        name={"zh": name},
        sub_category=DEFAULT_SUB_CATEGORY,
        profile=localized(profile),
        system_prompt=localized(_system_prompt(name, profile)),
    )


def load_profiles(path: Path, data: dict) -> Loaded:
    out = Loaded(path, "charactereval-profiles")
    for name, attrs in data.items():
        where = f"record {name!r}"
        if not isinstance(attrs, dict) or not attrs:
            raise InputFormatError(str(path), where, None, "expected a non-empty object of profile attributes")
        out.records.append(build(path, where, character_for, name, _profile_text(attrs)))
    return out


def parse_context(path: Path, where: str, role: str, context: str) -> list[dict]:
    turns: list[dict] = []
    for i, line in enumerate(str(context).splitlines(), 1):
        if not line.strip():
            continue
        match = _LINE.match(line)
        if not match:
            if turns:  # a wrapped continuation of the previous utterance
                turns[-1]["text"] += "\n" + line.strip()
                continue
            raise InputFormatError(str(path), where, "context", f"line {i} is not 'Name：utterance': {line[:40]!r}")
        speaker, text = match.group(1).strip(), match.group(2).strip()
        if not text:
            raise InputFormatError(str(path), where, "context", f"line {i} has an empty utterance")
        turns.append({"role": "character" if speaker == role else "user", "speaker": speaker, "text": text})
    if not turns:
        raise InputFormatError(str(path), where, "context", "no turns")
    return turns


def load_dialogues(path: Path, items: list[tuple[str, Any]]) -> Loaded:
    out = Loaded(path, "charactereval-dialogues")
    seen: dict[str, Character] = {}
    for where, rec in items:
        role = str(require(path, where, rec, "role")).strip()
        turns = parse_context(path, where, role, require(path, where, rec, "context"))
        char = seen.get(role) or build(path, where, character_for, role)
        seen[role] = char
        provenance = {
            "source": "imported",
            "source_file": path.name,
            "notes": [f"charactereval id={rec.get('id')}", f"novel={rec.get('novel_name', '')}"],
        }
        out.records.append(
            build(
                path,
                where,
                Dialogue,
                character_id=char.id,
                language="zh",
                turns=turns,
                provenance=provenance,
            )
        )
    out.if_absent.extend(seen.values())
    return out

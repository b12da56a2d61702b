"""A small workspace with known annotations covering every selection rule, a tagging stand-in for the
translator, and dialogueQuality annotations in Chinese."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

import schemas as s
from charm_builder.export import (
    add_dq_annotation,
)
from charm_builder.store import Workspace
from tests.helpers import paper_candidates

LABELS = "ABCDEF"


@dataclass
class Built:
    chars: dict[str, s.Character] = field(default_factory=dict)
    dialogues: dict[str, s.Dialogue] = field(default_factory=dict)  # name -> dialogue
    sets: dict[str, s.CandidateSet] = field(default_factory=dict)  # dialogue name -> candidate set

    def did(self, *names: str) -> set[str]:
        return {self.dialogues[n].id for n in names}

    def name_of(self, dialogue_id: str) -> str:
        return next(n for n, d in self.dialogues.items() if d.id == dialogue_id)


def character(name: str, sub: str, zh: str | None, en: str | None) -> s.Character:
    return s.Character(
        name={"en": name, "zh": f"{name}中"},
        sub_category=sub,
        profile={"en": f"{name} profile"},
        system_prompt={"zh": zh, "en": en},
    )


# name: (character, language, target dimension, votes as [(best, worst, status)])
SPEC: dict[str, tuple[str, str, str | None, list[tuple[str, str, str]]]] = {
    "d1": (
        "c1",
        "zh",
        "knowledge_consistency",
        [("A", "F", "submitted"), ("A", "F", "submitted"), ("B", "F", "submitted")],
    ),
    "d2": ("c1", "zh", "attractiveness", [("B", "E", "submitted")] * 3),
    "d3": (
        "c2",
        "en",
        "knowledge_consistency",
        [("A", "F", "submitted"), ("B", "F", "submitted"), ("C", "F", "submitted")],
    ),  # tie on best
    "d4": (
        "c2",
        "en",
        "attractiveness",
        [("B", "A", "submitted"), ("B", "C", "submitted"), ("A", "B", "submitted"), ("C", "B", "submitted")],
    ),  # best == worst
    "d5": (
        "c2",
        "en",
        "knowledge_consistency",
        [("A", "F", "submitted"), ("A", "F", "submitted"), ("A", "F", "draft"), ("B", "F", "discarded")],
    ),  # 2 submitted
    "d6": (
        "c2",
        "en",
        "attractiveness",
        [("A", "D", "submitted"), ("A", "E", "submitted"), ("A", "F", "submitted")],
    ),  # tie on worst
    "d7": (
        "c2",
        "en",
        "knowledge_consistency",
        [("C", "D", "submitted"), ("C", "D", "submitted"), ("C", "E", "submitted")],
    ),
    "d8": ("c3", "zh", "knowledge_consistency", [("D", "A", "submitted")] * 3),
    "d9": ("c1", "zh", None, [("A", "B", "submitted")]),
    "d10": ("c2", "en", None, [("E", "F", "submitted")]),
    "d11": ("c2", "en", None, []),
    "d12": ("c3", "zh", None, [("F", "A", "submitted"), ("F", "A", "submitted"), ("E", "A", "submitted")]),
    "d13": ("c1", "zh", None, []),  # used by dialogueQuality only (no candidate set)
}


def build_workspace(ws: Workspace) -> Built:
    b = Built()
    b.chars = {
        "c1": character("Link", "games", "你是林克。", "You are Link."),
        "c2": character("Holmes", "novels", None, "You are Sherlock Holmes."),
        "c3": character("Nova", "custom", "你是诺娃。", None),
    }
    ws.upsert_many(b.chars.values())
    for name, (cname, lang, dim, votes) in SPEC.items():
        char = b.chars[cname]
        turns = [
            s.Message(role="user", speaker="Ann", text=f"{name} hello"),
            s.Message(role="character", speaker=char.name.en, text=f"{name} hi there"),
            s.Message(role="user", speaker="Ann", text=f"{name} tell me more"),
        ]
        dlg = s.Dialogue(
            character_id=char.id,
            language=lang,
            target_dimension=dim,
            turns=turns,
            provenance={
                "models": {"user": "sim-user-model", "character": "sim-char-model"},
                "params": {"temperature": 0.8},
            },
        )
        b.dialogues[name] = dlg
        ws.upsert(dlg)
        if name == "d13":
            continue
        cset = s.CandidateSet(
            dialogue_id=dlg.id,
            context=turns,
            candidates=paper_candidates([f"{name} reply {lab}" for lab in LABELS]),
        )
        b.sets[name] = cset
        ws.upsert(cset)
        ws.upsert_many(
            s.Annotation(
                candidate_set_id=cset.id,
                annotator=f"ann{i}",
                status=status,  # type: ignore[arg-type]
                best=best,
                worst=worst,
            )
            for i, (best, worst, status) in enumerate(votes)
        )  # type: ignore[arg-type]
    return b


def add_fluency_annotation(ws: Workspace, built: Built) -> None:
    """One zh fluency annotation on d13 by ann1, so a dialogueQuality subset is written too."""
    add_dq_annotation(
        ws,
        dialogue_id=built.dialogues["d13"].id,
        dimension="fluency",
        language="zh",
        user_query="再说一遍？",
        criteria=["语句通顺"],
        annotator="ann1",
    )


class TaggingTranslator:
    """Deterministic unit seam for the Translator protocol: tags text, counts calls, fails on request."""

    def __init__(self, fail_on: str | None = None):
        self.calls: list[str] = []
        self.fail_on = fail_on

    async def translate(self, text: str, src: str, dst: str) -> str:
        await asyncio.sleep(0)
        self.calls.append(text)
        if self.fail_on and self.fail_on in text:
            raise RuntimeError("provider said no")
        return f"[{src}->{dst}] {text}"


def annotate_zh(ws, built, n: int) -> list[str]:
    dims = ["consistency", "knowledge", "behavior", "empathy", "diversity", "fluency"]
    ids = []
    for i in range(n):
        dlg = built.dialogues[f"d{9 + i // 6}"]
        ids.append(
            add_dq_annotation(
                ws,
                dialogue_id=dlg.id,
                dimension=dims[i % 6],
                language="zh",
                user_query=f"问题{i}",
                criteria=[f"标准{i}"],
                annotator="ann1",
            )
        )
    return ids

"""A small workspace with everything `show`/`preview` display: scene, persona, flags, votes, hostile text."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from charm_builder.store import Workspace
from schemas import (
    Annotation,
    Candidate,
    CandidateSet,
    Character,
    Dialogue,
    Localized,
    Message,
    Provenance,
    Scene,
    UserPersona,
)

MODELS = ["gpt-4o", "claude-3.5-sonnet", "doubao-character", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b"]
#: A reply that would run script if the page did not escape it.
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & "quotes"'


@dataclass
class BrowseData:
    root: Path
    en: Dialogue
    zh: Dialogue
    cset: CandidateSet


def _dialogue(ws: Workspace, character: Character, user: UserPersona, scene: Scene, lang: str, i: int) -> Dialogue:
    turns = [
        Message(role="user", speaker=user.name, text=f"Great Sage, what did you eat today? ({lang} {i})"),
        Message(role="character", speaker="Sun Wukong", text="Peaches from the Heavenly Garden, of course!"),
        Message(role="user", speaker=user.name, text=f"How many transformations do you know? ({lang} {i})"),
    ]
    notes = ["turn 2: cleaned speaker_prefix", "refine: qwen-refiner rewrote turns [2]"] if lang == "en" else []
    dialogue = Dialogue(
        character_id=character.id,
        user_id=user.id,
        scene_id=scene.id,
        language=lang,
        turns=turns,
        target_dimension="knowledge_consistency" if lang == "en" else "attractiveness",
        provenance=Provenance(notes=notes),
    )
    ws.upsert(dialogue)
    return dialogue


@pytest.fixture
def browse_data(tmp_path: Path) -> Iterator[BrowseData]:
    root = tmp_path / "ws"
    with Workspace.create(root) as ws:
        character = Character(
            name=Localized(zh="孙悟空", en="Sun Wukong"),
            sub_category="novels",
            profile=Localized(zh="齐天大圣，七十二变。", en="The Monkey King, master of 72 transformations."),
            system_prompt=Localized(zh="你是孙悟空。", en="You are Sun Wukong."),
        )
        other = Character(
            name=Localized(en="Marie Curie"),
            sub_category="scientists",
            profile=Localized(en="Physicist and chemist."),
            system_prompt=Localized(en="You are Marie Curie."),
        )
        user = UserPersona(
            name="Xiao Ming", prompt=Localized(en="A curious student who loves myths.", zh="好奇的学生。")
        )
        scene = Scene(
            title=Localized(en="Flower-Fruit Mountain", zh="花果山"),
            description=Localized(en="A sunny afternoon by the waterfall.", zh="瀑布边的午后。"),
        )
        ws.upsert_many([character, other, user, scene])
        en = _dialogue(ws, character, user, scene, "en", 0)
        zh = _dialogue(ws, character, user, scene, "zh", 1)
        texts = [
            "Seventy-two, little one!",
            HOSTILE,
            "I know many tricks.",
            "",
            "Seventy-two and a cloud somersault.",
            "Who knows?",
        ]
        cset = CandidateSet(
            dialogue_id=en.id,
            context=en.turns,
            candidates=[
                Candidate(label="ABCDEF"[k], model_id=m, text=texts[k], flags=["empty"] if not texts[k] else [])
                for k, m in enumerate(MODELS)
            ],
        )
        ws.upsert(cset)
        ws.upsert_many(
            [
                Annotation(candidate_set_id=cset.id, annotator="ann-1", best="A", worst="F"),
                Annotation(candidate_set_id=cset.id, annotator="ann-2", best="E", worst="F"),
                Annotation(candidate_set_id=cset.id, annotator="ann-3", best="A", worst="D"),
                Annotation(candidate_set_id=cset.id, annotator="ann-4", status="draft", best="B"),
            ]
        )
    yield BrowseData(root, en, zh, cset)

"""A small workspace with everything `show`/`preview` display: scene, persona, flags, votes, hostile text."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from charm_builder.store import Workspace
from schemas import (
    Annotation,
    CandidateSet,
    Character,
    Localized,
    Scene,
    UserPersona,
)
from tests.charm_builder.browse.helpers import HOSTILE, BrowseData, add_dialogue
from tests.helpers import paper_candidates


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
        en = add_dialogue(ws, character, user, scene, "en", 0)
        zh = add_dialogue(ws, character, user, scene, "zh", 1)
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
            candidates=paper_candidates(
                texts, {label: ["empty"] for label, text in zip("ABCDEF", texts, strict=True) if not text}
            ),
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

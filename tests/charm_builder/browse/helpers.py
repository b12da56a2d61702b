"""The data behind the browse fixture: hostile text, and one dialogue per (scene, persona, language)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from charm_builder.store import Workspace
from schemas import (
    CandidateSet,
    Character,
    Dialogue,
    Message,
    Provenance,
    Scene,
    UserPersona,
)

#: A reply that would run script if the page did not escape it.
HOSTILE = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script> & "quotes"'


@dataclass
class BrowseData:
    root: Path
    en: Dialogue
    zh: Dialogue
    cset: CandidateSet


def add_dialogue(ws: Workspace, character: Character, user: UserPersona, scene: Scene, lang: str, i: int) -> Dialogue:
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

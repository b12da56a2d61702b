"""Optional LLM passes around the loop: generate a scene for a (character, persona) pair, and
refine a finished dialogue (a stronger model rewrites turns that break character).

Both ask for JSON through ``charm_builder.llm.chat_json`` (validated, re-asked once). A failed
refine keeps the original dialogue and says so in provenance; nothing is silently dropped.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

from charm_builder.llm import JSONOutputError, chat_json
from charm_builder.simulate.cleaning import language_ok
from charm_builder.simulate.loop import CallTally, prices
from schemas import Character, Dialogue, Message, Scene, UserPersona


class _SceneOut(BaseModel):
    title: str = Field(min_length=1)
    description: str = Field(min_length=1)


class _Fix(BaseModel):
    index: int = Field(ge=0)
    text: str = Field(min_length=1)


class _RefineOut(BaseModel):
    fixes: list[_Fix] = Field(default_factory=list)


def _account(client: Any, model: str, completions: list, tally: CallTally) -> None:
    price_in, price_out = prices(client, model)
    for completion in completions:
        tally.add(model, completion, price_in, price_out)


async def _ask(
    client: Any, model: str, messages: list[dict], schema: type[BaseModel], seed: int, tally: CallTally
) -> BaseModel | None:
    try:
        out, spent = await chat_json(client, model, messages, schema, seed=seed)
    except JSONOutputError as exc:
        _account(client, model, getattr(exc, "completions", []), tally)
        return None
    _account(client, model, spent, tally)
    return out


async def generate_scene(
    client: Any, model: str, character: Character, user: UserPersona, language: str, seed: int, tally: CallTally
) -> Scene | None:
    """A new scene written for this character and persona, or None if the model gave no valid JSON."""
    ask = {
        "en": f"Invent a short scene (a place, a time, a situation) where {character.name.get('en')} "
        f"({character.profile.get('en')[:300]}) meets this user: {user.prompt.get('en')[:300]}. "
        "Give a title and a 2-3 sentence description in English.",
        "zh": f"为{character.name.get('zh')}（{character.profile.get('zh')[:300]}）和这位用户"
        f"（{user.prompt.get('zh')[:300]}）设计一个相遇的小场景（地点、时间、情境），给出标题和2到3句中文描述。",
    }[language]
    out = await _ask(client, model, [{"role": "user", "content": ask}], _SceneOut, seed, tally)
    if out is None:
        return None
    return Scene(
        title={language: out.title},
        description={language: out.description},
        character_ids=[character.id],
        generated_by=model,
    )


async def refine_dialogue(
    client: Any, model: str, dialogue: Dialogue, character: Character, seed: int, tally: CallTally
) -> Dialogue:
    """Ask ``model`` to list the turns that break character and their rewrites; apply them."""
    lang = dialogue.language
    numbered = "\n".join(f"[{i}] {t.role} ({t.speaker}): {t.text}" for i, t in enumerate(dialogue.turns))
    ask = (
        f"You review role-play dialogues for character consistency. The character is "
        f"{character.name.get(lang)}: {character.profile.get(lang)[:800]}\n\nDialogue:\n{numbered}\n\n"
        "List only the turns that break character, contradict the profile, or are not fluent, with a "
        f"rewritten text in the dialogue's language ({lang}). Keep who speaks unchanged. "
        "If nothing needs fixing, return an empty list."
    )
    out = await _ask(client, model, [{"role": "user", "content": ask}], _RefineOut, seed, tally)
    prov = dialogue.provenance.model_copy(deep=True)
    prov.models["refine"] = model
    if out is None:
        prov.notes.append(f"refine: {model} gave no valid JSON; original kept")
        return dialogue.model_copy(update={"provenance": prov})
    turns = list(dialogue.turns)
    applied = []
    for fix in out.fixes:
        if fix.index >= len(turns) or fix.text.strip() == turns[fix.index].text:
            continue
        if not language_ok(fix.text, lang):
            prov.notes.append(f"refine: rewrite of turn {fix.index} is not in {lang}; ignored")
            continue
        turns[fix.index] = Message(role=turns[fix.index].role, speaker=turns[fix.index].speaker, text=fix.text)
        applied.append(fix.index)
    if not applied:
        prov.notes.append(f"refine: {model} found nothing to fix")
        return dialogue.model_copy(update={"provenance": prov})
    prov.original_turns = list(dialogue.turns)
    prov.notes.append(f"refine: {model} rewrote turns {applied}")
    data = dialogue.model_dump(exclude={"id", "turns", "provenance"})
    return Dialogue(**data, turns=turns, provenance=prov)  # new content, new id

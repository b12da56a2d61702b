"""Prompts for the Scene-Character-User framework (AAM paper section 5.2, appendix A.1).

Two chat models talk: the *user simulator* plays a persona, the *character model* plays the character
from its role-play system prompt. As in the paper the user talks freely; with steering (``simulate
--steer-user``, beyond the paper) it pursues an intent that probes the dialogue's target dimension. Each side
sees the conversation from its own point of view: its own turns as ``assistant``, the other
side's as ``user``.
"""

from __future__ import annotations

from schemas import Character, Message, Scene, UserPersona

END_MARKER = "[END]"

# Intents the user simulator pursues when steered (--steer-user); they make a dialogue probe one
# roleReward dimension. The paper describes no such steering: its user and character talk freely.
INTENTS: dict[str, dict[str, str]] = {
    "knowledge_consistency": {
        "en": "Test how well they know their own world: ask about their past, the people around them, "
        "places and events from their story, and notice any mistake.",
        "zh": "考察对方对自己世界的了解：询问其经历、身边的人、故事中的地点和事件，留意任何错误。",
    },
    "attractiveness": {
        "en": "Share something personal and emotional, invite them to react, tease or comfort you, "
        "and see whether they are engaging, warm and true to their personality.",
        "zh": "向对方倾诉一些私人和情绪化的事情，邀请对方回应、调侃或安慰你，看看对方是否有趣、温暖并符合其性格。",
    },
}

# The goal of an unsteered user simulator: a free-form conversation, as in the paper.
FREE_INTENT = {
    "en": "Talk with them as yourself: follow your own interests and react naturally to what they say.",
    "zh": "以你自己的身份和对方聊天：顺着你自己的兴趣，自然地回应对方说的话。",
}

_USER_SYSTEM = {
    "en": (
        "{persona}\n\nYou are chatting with {name} ({description}).\nScene: {scene}\nYour goal: {intent}\n\n"
        "Rules: write only your own next message, in English, 1-3 sentences, with no name prefix. "
        "Never speak for {name}. When the conversation has reached a natural end, write " + END_MARKER + "."
    ),
    "zh": (
        "{persona}\n\n你正在和{name}（{description}）聊天。\n场景：{scene}\n你的目标：{intent}\n\n"
        "规则：只写你自己的下一句话，用中文，1到3句，不要加名字前缀。不要替{name}说话。"
        "对话自然结束时，写 " + END_MARKER + "。"
    ),
}
_USER_KICKOFF = {"en": "Start the conversation with your first message.", "zh": "请用你的第一句话开始对话。"}
_CHARACTER_RULES = {
    "en": "\n\nScene: {scene}\nStay in character as {name}. Reply in English with only {name}'s words "
    "(actions in *asterisks* are fine), 1-4 sentences, no name prefix. Never speak for the user.",
    "zh": "\n\n场景：{scene}\n始终以{name}的身份说话。用中文回复，只写{name}说的话（动作可用*星号*），1到4句，不要加名字前缀。不要替用户说话。",
}


def scene_text(scene: Scene | None, language: str) -> str:
    if scene is None:
        return "a casual conversation" if language == "en" else "一次随意的聊天"
    return f"{scene.title.get(language)}. {scene.description.get(language)}"


def character_system_prompt(character: Character, scene: Scene | None, language: str) -> str:
    """The character model's system prompt: the character's own prompt plus scene and output rules."""
    name = character.name.get(language)
    rules = _CHARACTER_RULES[language].format(scene=scene_text(scene, language), name=name)
    return character.system_prompt.get(language) + rules


def user_system_prompt(
    user: UserPersona, character: Character, scene: Scene | None, language: str, dimension: str | None
) -> str:
    """The user simulator's system prompt: persona, who they talk to, the scene and the goal. ``dimension``:
    steer toward it (its ``INTENTS`` entry, attractiveness for an unknown one); None: talk freely."""
    description = character.description.get(language) if character.description else character.sub_category
    intents = FREE_INTENT if dimension is None else INTENTS.get(dimension, INTENTS["attractiveness"])
    intent = intents[language]
    return _USER_SYSTEM[language].format(
        persona=user.prompt.get(language),
        name=character.name.get(language),
        description=description,
        scene=scene_text(scene, language),
        intent=intent,
    )


def as_chat(system: str, turns: list[Message], speaker_role: str, language: str) -> list[dict[str, str]]:
    """The conversation as chat messages from ``speaker_role``'s point of view (its turns = assistant)."""
    messages = [{"role": "system", "content": system}]
    if speaker_role == "user" and (not turns or turns[0].role != "character"):
        messages.append({"role": "user", "content": _USER_KICKOFF[language]})
    for turn in turns:
        role = "assistant" if turn.role == speaker_role else "user"
        messages.append({"role": role, "content": turn.text})
    return messages

"""The judge prompt (versioned) and the parser of its answer.

Details: docs/design.md#judge-prompt.
"""

from __future__ import annotations

import re

PROMPT_VERSION = "v2"
SCORE_MIN, SCORE_MAX = 1, 10
ROLE_PLAY, GENERAL = "role-play", "general"
RUBRICS: tuple[str, ...] = (ROLE_PLAY, GENERAL)


def prompt_version(rubric: str = ROLE_PLAY) -> str:
    """The version stored with each score: ``v2`` for role-play (as before rubrics), ``v2-general`` otherwise."""
    if rubric not in RUBRICS:
        raise ValueError(f"--rubric {rubric!r}: choose one of {', '.join(RUBRICS)}")
    return PROMPT_VERSION if rubric == ROLE_PLAY else f"{PROMPT_VERSION}-{rubric}"


SYSTEM = (
    "You are an expert evaluator of role-play conversations. You rate one reply written by a character in a "
    "role-play dialogue with a user, on one criterion, from 1 (very poor) to 10 (excellent). Be strict and "
    "consistent. Answer only with: Score: N"
)

DIMENSION_CRITERIA: dict[str, str] = {
    "knowledge_consistency": "Knowledge consistency: the reply agrees with the character's profile, background "
    "knowledge and personality, and with everything said earlier in the dialogue; no invented or contradictory facts.",
    "attractiveness": "Attractiveness: the reply is engaging, vivid and in character; it makes the user want to keep "
    "talking (emotion, personality, concrete detail, moving the conversation forward).",
    "consistency": "Consistency: the reply stays in character and agrees with the profile and earlier turns.",
    "knowledge": "Knowledge: the reply shows accurate, relevant knowledge the character would have.",
    "behavior": "Behavior: the reply's actions, tone and manner fit the character.",
    "empathy": "Empathy: the reply notices and responds to the user's feelings and needs.",
    "diversity": "Diversity: the reply is fresh and varied rather than generic or repetitive.",
    "fluency": "Fluency: the reply is natural, grammatical and easy to read.",
}
OVERALL = "Overall quality as a role-play reply: in character, consistent with the profile and dialogue, engaging."

USER_TEMPLATE = """Character: {character}

Conversation:
{dialogue}

Reply by {speaker}: {reply}

Criterion: {criteria}
How good is the reply on this criterion, from 1 (very poor) to 10 (excellent)? Answer only with: Score: N"""

REASK = 'That answer had no score. Answer with exactly one line: "Score: N" where N is an integer from 1 to 10.'


# One worked example: the same template, a clearly weak reply, the answer in the expected format.
EXAMPLE_USER = USER_TEMPLATE.format(
    character="Captain Mira: a cheerful, talkative smuggler captain who loves the sea.",
    dialogue="Ann: Captain, where do we sail tonight?",
    speaker="Mira",
    reply="I don't know. Whatever.",
    criteria=DIMENSION_CRITERIA["attractiveness"],
)
EXAMPLE_ANSWER = "Score: 3"


def judge_messages(
    *, character: str, dialogue: list[tuple[str, str]], speaker: str, reply: str, dimension: str
) -> list[dict[str, str]]:
    """Chat messages asking for the score of ``reply``; ``dialogue`` is [(speaker, text), ...]."""
    lines = "\n".join(f"{who}: {text}" if who else text for who, text in dialogue)
    user = USER_TEMPLATE.format(
        character=character.strip() or "(no profile)",
        dialogue=lines,
        speaker=speaker or "the character",
        reply=reply.strip(),
        criteria=DIMENSION_CRITERIA.get(dimension, OVERALL),
    )
    return [
        {"role": "system", "content": SYSTEM},
        {"role": "user", "content": EXAMPLE_USER},
        {"role": "assistant", "content": EXAMPLE_ANSWER},
        {"role": "user", "content": user},
    ]


GENERAL_SYSTEM = (
    "You are an expert evaluator of AI assistant responses. You rate one response to a conversation from 1 "
    "(very poor) to 10 (excellent) for helpfulness and correctness. Be strict and consistent. Answer only with: "
    "Score: N"
)
GENERAL_CRITERIA = (
    "Helpfulness and correctness: the response answers the user's last request fully and accurately (facts, "
    "reasoning, math, code), follows the instructions, and is clear; wrong or unsafe content scores low however "
    "well written."
)
GENERAL_TEMPLATE = """Conversation:
{dialogue}

Response: {reply}

Criterion: {criteria}
How good is the response on this criterion, from 1 (very poor) to 10 (excellent)? Answer only with: Score: N"""
GENERAL_EXAMPLE_USER = GENERAL_TEMPLATE.format(
    dialogue="User: What is 12 x 12?", reply="12 x 12 is 124.", criteria=GENERAL_CRITERIA
)
GENERAL_EXAMPLE_ANSWER = "Score: 2"


def general_messages(*, dialogue: list[tuple[str, str]], reply: str) -> list[dict[str, str]]:
    """Chat messages asking for the general-domain (helpfulness/correctness) score of ``reply``."""
    lines = "\n".join(f"{who}: {text}" if who else text for who, text in dialogue)
    user = GENERAL_TEMPLATE.format(
        dialogue=lines or "(no conversation)", reply=reply.strip(), criteria=GENERAL_CRITERIA
    )
    return [
        {"role": "system", "content": GENERAL_SYSTEM},
        {"role": "user", "content": GENERAL_EXAMPLE_USER},
        {"role": "assistant", "content": GENERAL_EXAMPLE_ANSWER},
        {"role": "user", "content": user},
    ]


def rubric_messages(
    rubric: str, *, character: str, dialogue: list[tuple[str, str]], speaker: str, reply: str, dimension: str
) -> list[dict[str, str]]:
    """The judge request of ``rubric`` (``role-play``: :func:`judge_messages`; ``general``: no profile or
    dimension, :func:`general_messages` with the profile as the conversation's first line)."""
    if rubric == GENERAL:
        context = [("System", character)] if character.strip() else []
        return general_messages(dialogue=context + dialogue, reply=reply)
    prompt_version(rubric)  # ValueError for an unknown rubric
    return judge_messages(character=character, dialogue=dialogue, speaker=speaker, reply=reply, dimension=dimension)


_LABELLED = re.compile(r"(?:score|rating|评分|分数)\**\s*(?:is|of)?\s*[:：=]?\s*\**\s*(\d+(?:\.\d+)?)", re.IGNORECASE)
_OUT_OF = re.compile(r"(\d+(?:\.\d+)?)\s*(?:/|out of)\s*10\b", re.IGNORECASE)
_NUMBER = re.compile(r"(?<![\d.])(\d+(?:\.\d+)?)(?!\d|\.\d)")


def parse_score(text: str) -> float | None:
    """The 1-10 score in a judge's answer, or None when there is none (or it is out of range).

    Accepted: ``Score: 7``, ``**Rating**: 7.5``, ``7/10``, ``7 out of 10``, or an answer holding exactly
    one number. Anything else (no number, several unlabelled numbers, 0 or 11) is unparseable.
    """
    for pattern in (_LABELLED, _OUT_OF):
        match = pattern.search(text)
        if match:
            return _in_range(float(match.group(1)))
    numbers = _NUMBER.findall(text)
    return _in_range(float(numbers[0])) if len(numbers) == 1 else None


def _in_range(value: float) -> float | None:
    return value if SCORE_MIN <= value <= SCORE_MAX else None

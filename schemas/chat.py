"""Dialogue turns as chat messages: the one mapping every stage uses (user -> user, character -> assistant)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from schemas.dialogue import Message

CHAT_ROLES: dict[str, str] = {"user": "user", "character": "assistant"}


def to_chat(
    turns: Iterable[Message | Mapping[str, Any]],
    system: str | None = None,
    query: str | None = None,
    *,
    speakers: bool = False,
) -> list[dict[str, str]]:
    """``{role, content}`` messages: ``system`` first (when given), the turns, then ``query`` as a user turn.

    A turn is a :class:`~schemas.dialogue.Message` or a mapping: a Charm turn ``{role, speaker, text}``
    or an already chat-shaped ``{role, content}`` message (other roles pass through unchanged).
    ``speakers``: prefix a turn's text with ``"{speaker}: "`` when it names one (annotation views).
    """
    msgs = [] if system is None else [{"role": "system", "content": system}]
    for t in turns:
        if isinstance(t, Mapping):
            role = str(t["role"])
            content = t["content"] if t.get("content") is not None else t.get("text", "")
            speaker = t.get("speaker")
        else:
            role, content, speaker = t.role, t.text, getattr(t, "speaker", "")
        if speakers and speaker:
            content = f"{speaker}: {content}"
        msgs.append({"role": CHAT_ROLES.get(role, role), "content": str(content)})
    if query is not None:
        msgs.append({"role": "user", "content": query})
    return msgs

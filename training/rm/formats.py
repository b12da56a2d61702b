"""Recognise the preference-pair shapes ``charm-train rm`` reads and normalise each row to one form.

The shapes are TRL's preference formats (https://huggingface.co/docs/trl/dataset_formats), decided row
by row from the types of ``chosen`` / ``rejected`` and whether the row has a ``prompt``:

``standard``
    ``prompt``, ``chosen``, ``rejected`` strings.
``standard-implicit``
    ``chosen`` / ``rejected`` strings holding prompt + response, no ``prompt`` column: the prompt is
    their longest common character prefix, backed off by one character when it ends just after a
    space (so the responses keep their leading space; TRL's ``extract_prompt`` rule).
``conversational``
    ``prompt`` a list of ``{role, content}`` messages (a string prompt becomes one user message),
    ``chosen`` / ``rejected`` lists of assistant messages (or strings). Our own preferenceTraining
    export and TRL's explicit-prompt datasets look like this.
``conversational-implicit``
    ``chosen`` / ``rejected`` whole conversations (Skywork-Reward-Preference-80K, and
    UltraFeedback-binarized, whose string ``prompt`` column repeats the first user turn and is then
    ignored): the prompt is their longest common message prefix, and what follows it in each must be
    one or more assistant messages (the responses).

Every row becomes :class:`NormalisedPair`: ``prompt`` (messages or a string) and ``chosen`` /
``rejected`` (assistant message lists, or strings for the standard formats). Any other column of the
row (``margin*``, ``source``, ``score_chosen``, ...) is kept as it is and otherwise ignored. A row that
fits no shape raises :class:`~training.rm.data.DataError` as one line ``SOURCE: row N: field X: problem``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from training.rm.data import DataError

FORMATS: tuple[str, ...] = ("standard", "standard-implicit", "conversational", "conversational-implicit")

Messages = list[dict[str, str]]
Prompt = str | Messages
Response = str | Messages


@dataclass(frozen=True)
class NormalisedPair:
    """One preference pair in the form :func:`training.rm.data.encode` takes, and the format it came in."""

    prompt: Prompt
    chosen: Response
    rejected: Response
    format: str


class IdenticalPair(DataError):
    """``chosen`` and ``rejected`` are the same reply: no preference to learn (skipped and counted)."""


def _fail(where: str, field: str, problem: str) -> DataError:
    return DataError(f"{where}: field {field!r}: {problem}")


def _identical(where: str) -> IdenticalPair:
    return IdenticalPair(f"{where}: field 'rejected': identical to 'chosen'")


def _messages(value: Any, where: str, field: str) -> Messages:
    """A message list (a single message dict counts as a list of one), checked message by message."""
    items = [value] if isinstance(value, Mapping) else value
    if not items:
        raise _fail(where, field, "empty message list; expected at least one {role, content} message")
    out: Messages = []
    for k, m in enumerate(items):
        if not isinstance(m, Mapping):
            raise _fail(where, field, f"message {k} is {type(m).__name__}, expected a {{role, content}} object")
        role, content = m.get("role"), m.get("content")
        if not isinstance(role, str) or not role:
            raise _fail(where, field, f"message {k} has no 'role'")
        if content is None:
            raise _fail(where, field, f"message {k} (role {role!r}) has no 'content'")
        if not isinstance(content, str):
            raise _fail(
                where, field, f"message {k} (role {role!r}): 'content' must be text, got {type(content).__name__}"
            )
        out.append({"role": role, "content": content})
    return out


def _kind(value: Any, where: str, field: str) -> str:
    if isinstance(value, str):
        return "text"
    if isinstance(value, (list, tuple, Mapping)):
        return "messages"
    got = "missing (null)" if value is None else f"a {type(value).__name__}"
    raise _fail(where, field, f"{got}; expected a string or a list of {{role, content}} messages")


def _split_text(chosen: str, rejected: str, where: str) -> tuple[str, str, str]:
    n = min(len(chosen), len(rejected))
    idx = next((i for i in range(n) if chosen[i] != rejected[i]), n)
    if idx == n:
        if len(chosen) == len(rejected):
            raise _identical(where)
        raise _fail(
            where, "rejected", "one response is a prefix of the other; no response left after the shared prompt"
        )
    if idx > 0 and chosen[idx - 1] == " ":
        idx -= 1
    return chosen[:idx], chosen[idx:], rejected[idx:]


def _split_messages(chosen: Messages, rejected: Messages, where: str) -> tuple[Messages, Messages, Messages]:
    n = min(len(chosen), len(rejected))
    k = next((i for i in range(n) if chosen[i] != rejected[i]), n)
    if k == 0:
        raise _fail(
            where,
            "chosen",
            "chosen and rejected share no prompt (their first messages differ); give both the same "
            "conversation before the replies, or add a 'prompt' column",
        )
    if k == len(chosen) and k == len(rejected):
        raise _identical(where)
    for field, msgs in (("chosen", chosen), ("rejected", rejected)):
        rest = msgs[k:]
        if not rest:
            raise _fail(where, field, f"ends inside the shared prompt (after message {k - 1}); no reply follows it")
        bad = next((j for j, m in enumerate(rest) if m["role"] != "assistant"), None)
        if bad is not None:
            raise _fail(
                where,
                field,
                f"message {k + bad} has role {rest[bad]['role']!r} after chosen and rejected diverge at message "
                f"{k}; they must share every message before the final assistant reply",
            )
    return chosen[:k], chosen[k:], rejected[k:]


def normalise_pair(row: Mapping[str, Any], where: str) -> NormalisedPair:
    """The pair in ``row`` (see module docstring); ``where`` names it in errors (``FILE: row N``)."""
    chosen, rejected = row.get("chosen"), row.get("rejected")
    kc, kr = _kind(chosen, where, "chosen"), _kind(rejected, where, "rejected")
    if kc != kr:
        raise _fail(
            where,
            "rejected",
            f"is {'a string' if kr == 'text' else 'a message list'} but 'chosen' is not; "
            "give both as strings or both as message lists",
        )
    has_prompt = row.get("prompt") is not None
    prompt = row.get("prompt")
    if has_prompt and _kind(prompt, where, "prompt") == "messages":
        prompt = _messages(prompt, where, "prompt")
    if kc == "text":
        if not has_prompt:
            p, c, r = _split_text(chosen, rejected, where)
            return NormalisedPair(p, c, r, "standard-implicit")
        if chosen == rejected:
            raise _identical(where)
        if isinstance(prompt, str):
            return NormalisedPair(prompt, chosen, rejected, "standard")
        c_msg = [{"role": "assistant", "content": chosen}]
        return NormalisedPair(prompt, c_msg, [{"role": "assistant", "content": rejected}], "conversational")
    c_msgs, r_msgs = _messages(chosen, where, "chosen"), _messages(rejected, where, "rejected")
    replies_only = all(m["role"] == "assistant" for m in (*c_msgs, *r_msgs))
    if replies_only and has_prompt:
        if c_msgs == r_msgs:
            raise _identical(where)
        if isinstance(prompt, str):
            prompt = [{"role": "user", "content": prompt}]
        return NormalisedPair(prompt, c_msgs, r_msgs, "conversational")
    if replies_only:
        raise _fail(
            where,
            "prompt",
            "missing: 'chosen' and 'rejected' hold only assistant messages, so the prompt must come from a "
            "'prompt' column",
        )
    p_msgs, c_rest, r_rest = _split_messages(c_msgs, r_msgs, where)
    return NormalisedPair(p_msgs, c_rest, r_rest, "conversational-implicit")


__all__ = ["FORMATS", "NormalisedPair", "normalise_pair"]

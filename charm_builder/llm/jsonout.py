"""JSON output: ask for JSON matching a pydantic model, validate, re-ask once with the error."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import BaseModel, ValidationError

from charm_builder.llm.errors import JSONOutputError
from charm_builder.llm.types import ChatParams, Completion, MessagesIn, normalise_messages

if TYPE_CHECKING:
    from charm_builder.llm.client import LLMClient

M = TypeVar("M", bound=BaseModel)
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)


def extract_json(text: str) -> str:
    """The JSON object in a reply: inside a ``` fence if there is one, else first '{' to last '}'."""
    fenced = _FENCE.search(text)
    if fenced:
        text = fenced.group(1)
    start, end = text.find("{"), text.rfind("}")
    return text[start : end + 1] if 0 <= start < end else text.strip()


def parse_reply(text: str, schema: type[M]) -> M:
    """Validate a reply against ``schema``; raises ``ValidationError`` or ``ValueError``."""
    return schema.model_validate_json(extract_json(text))


def schema_instruction(schema: type[BaseModel]) -> str:
    """The instruction appended to the last user turn."""
    return "Reply with only a JSON object (no prose, no code fence) that matches this JSON schema:\n" + json.dumps(
        schema.model_json_schema(), ensure_ascii=False
    )


def _error_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'reply'}: {e['msg']}" for e in exc.errors()[:5])
    return str(exc)


async def chat_json(
    client: LLMClient,
    model: str,
    messages: MessagesIn,
    schema: type[M],
    params: ChatParams | Mapping[str, Any] | None = None,
    *,
    seed: int | None = None,
    instruct: bool = True,
) -> tuple[M, list[Completion]]:
    """Chat and parse the reply as ``schema``; on failure re-ask once quoting the error.

    Returns the validated object and the completions spent (one or two; cost = their sum).
    Raises ``JSONOutputError`` if the second reply is invalid too. Both calls go through the
    cache, so a rerun is free and gives the same result.
    """
    msgs = normalise_messages(messages)
    if instruct:
        last = msgs[-1]
        msgs[-1] = {"role": last["role"], "content": f"{last['content']}\n\n{schema_instruction(schema)}"}
    first = await client.chat(model, msgs, params, seed=seed)
    try:
        return parse_reply(first.text, schema), [first]
    except (ValidationError, ValueError) as exc:
        error = _error_text(exc)
    retry_msgs = [
        *msgs,
        {"role": "assistant", "content": first.text},
        {
            "role": "user",
            "content": f"That reply was not valid: {error}. Reply again with only the corrected JSON object.",
        },
    ]
    second = await client.chat(model, retry_msgs, params, seed=seed)
    try:
        return parse_reply(second.text, schema), [first, second]
    except (ValidationError, ValueError) as exc:
        err = JSONOutputError(
            f"model {model!r} gave no valid {schema.__name__} JSON after a re-ask: {_error_text(exc)}"
        )
        err.completions = [first, second]  # so callers can still account for what was spent
        raise err from None

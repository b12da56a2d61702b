"""Value types of the LLM layer: sampling parameters, completions, usage (messages are ``schemas.ChatMessage``)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from schemas import ChatMessage

CHAT_REQUEST_ROLES: tuple[str, ...] = ("system", "user", "assistant")


class ChatParams(BaseModel):
    """Sampling parameters. ``None`` means "use the roster entry's default, else the provider's"."""

    model_config = ConfigDict(extra="forbid")

    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    max_tokens: int | None = Field(default=None, ge=1)
    stop: list[str] | None = None
    seed: int | None = None
    json_mode: bool = False
    """Ask the server for a JSON object (OpenAI ``response_format``); other providers ignore it."""
    repetition_penalty: float | None = Field(default=None, gt=0.0)
    """Local models: divide the logits of tokens already in the prompt or reply (HF convention; 1.0 = off)."""
    no_repeat_ngram_size: int | None = Field(default=None, ge=0)
    """Local models: never repeat a token n-gram of this size within the reply (0 = off)."""
    frequency_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    """OpenAI-compatible APIs (passed through) and local models: subtract ``x * count`` of each token so far."""
    presence_penalty: float | None = Field(default=None, ge=-2.0, le=2.0)
    """OpenAI-compatible APIs (passed through) and local models: subtract ``x`` from each token used so far."""

    def merged_over(self, defaults: ChatParams) -> ChatParams:
        """Return these params with unset fields taken from ``defaults``."""
        data = defaults.model_dump(exclude_none=True)
        data.update(self.model_dump(exclude_none=True, exclude_defaults=True))
        return ChatParams(**data)


class Completion(BaseModel):
    """The answer to one chat request, with its accounting.

    ``cost`` is in US dollars at the roster price (0 for a cache hit: the call cost nothing);
    ``latency`` is seconds from the first attempt to the answer, retries included.
    """

    text: str
    input_tokens: int = 0
    output_tokens: int = 0
    latency: float = 0.0
    cost: float = 0.0
    finish_reason: str = "stop"
    model: str = ""
    cached: bool = False
    attempts: int = 1


class Usage(BaseModel):
    """Totals for one model over a run (or a ledger query)."""

    calls: int = 0
    cached: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost: float = 0.0

    def add(self, completion: Completion) -> None:
        """Count one completion."""
        self.calls += 1
        self.cached += int(completion.cached)
        self.input_tokens += completion.input_tokens
        self.output_tokens += completion.output_tokens
        self.cost += completion.cost


MessagesIn = list[ChatMessage] | list[dict[str, Any]]


def normalise_messages(messages: MessagesIn) -> list[dict[str, str]]:
    """Turn :class:`~schemas.ChatMessage` objects or dicts into plain ``{"role", "content"}`` dicts, validated."""
    out: list[dict[str, str]] = []
    for i, m in enumerate(messages):
        role, content = (m.role, m.content) if isinstance(m, ChatMessage) else (m.get("role"), m.get("content"))
        if role not in CHAT_REQUEST_ROLES or not isinstance(content, str):
            raise ValueError(f"message {i}: need role in system/user/assistant and a string content, got {m!r}")
        out.append({"role": role, "content": content})
    if not out:
        raise ValueError("messages is empty")
    return out

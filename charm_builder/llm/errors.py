"""Exceptions of the LLM layer. Every message is one line and never contains an API key."""

from __future__ import annotations


class LLMError(Exception):
    """Base class of every error raised by ``charm_builder.llm``."""


class LLMConfigError(LLMError):
    """A problem the user must fix before any work starts (raised by ``preflight``)."""


class RosterError(LLMConfigError):
    """The roster file is missing or invalid."""


class UnknownModelError(LLMConfigError):
    """A model name is not in the roster."""


class MissingAPIKeyError(LLMConfigError):
    """The API key env var of a model is unset (or its key file is unreadable / too open)."""


class ServerUnreachableError(LLMConfigError):
    """The model's server cannot be reached, or rejects the key."""


class LLMCallError(LLMError):
    """A chat request failed for good (after retries, or with a non-retryable status)."""

    def __init__(self, message: str, *, status: int | None = None, attempts: int = 1) -> None:
        super().__init__(message)
        self.status = status
        self.attempts = attempts


class TransientError(LLMError):
    """A failure worth retrying: 429, 5xx, timeout, connection error, malformed body.

    ``retry_after`` is the server's requested wait in seconds, when it sent one.
    """

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.retry_after = retry_after


class JSONOutputError(LLMError):
    """The model's reply did not validate against the schema, even after one re-ask."""


def redact(text: str, *secrets: str | None) -> str:
    """Replace every secret occurring in ``text`` with ``***`` and keep it on one line."""
    for s in secrets:
        if s:
            text = text.replace(s, "***")
    return " ".join(text.split())

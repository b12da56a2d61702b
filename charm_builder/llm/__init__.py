"""The LLM provider layer: one async chat interface (``LLMClient``) over OpenAI-compatible, Azure OpenAI,
Anthropic and local models named in a roster, with caching, limits, retries, a cost ledger, JSON output,
batches and the shared rich progress bar (``llm.progress``).
Imports: ``charm_kernel.console``, ``offline_models`` and ``schemas`` (``ChatMessage``) only (no stage): stages call it.
"""

from __future__ import annotations

from charm_builder.llm.batch import BatchRequest, BatchRunner
from charm_builder.llm.client import LLMClient
from charm_builder.llm.errors import (
    JSONOutputError,
    LLMCallError,
    LLMConfigError,
    LLMError,
    MissingAPIKeyError,
    RosterError,
    ServerUnreachableError,
    UnknownModelError,
)
from charm_builder.llm.jsonout import chat_json
from charm_builder.llm.retry import RetryPolicy
from charm_builder.llm.roster import ModelSpec, Roster, load_roster
from charm_builder.llm.types import ChatParams, Completion, Usage

__all__ = [
    "BatchRequest",
    "BatchRunner",
    "ChatParams",
    "Completion",
    "JSONOutputError",
    "LLMCallError",
    "LLMClient",
    "LLMConfigError",
    "LLMError",
    "MissingAPIKeyError",
    "ModelSpec",
    "RetryPolicy",
    "Roster",
    "RosterError",
    "ServerUnreachableError",
    "UnknownModelError",
    "Usage",
    "chat_json",
    "load_roster",
]

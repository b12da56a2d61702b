"""Provider adapters: one class per wire protocol, all behind ``providers.base.Provider``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from charm_builder.llm.providers.base import BatchItem, Provider, RawCompletion
from charm_builder.llm.roster import ModelSpec


def make_provider(spec: ModelSpec, api_key: str | None, session: Callable[[], Any] | None = None) -> Provider:
    """Build the provider adapter for a roster entry; remote ones send chat calls through the
    aiohttp session ``session()`` returns (default: a session of their own)."""
    if spec.provider == "openai":
        from charm_builder.llm.providers.openai import OpenAIProvider

        return OpenAIProvider(spec, api_key, session)
    if spec.provider == "azure-openai":
        from charm_builder.llm.providers.openai import AzureOpenAIProvider

        return AzureOpenAIProvider(spec, api_key, session)
    if spec.provider == "anthropic":
        from charm_builder.llm.providers.anthropic import AnthropicProvider

        return AnthropicProvider(spec, api_key, session)
    from charm_builder.llm.providers.local import LocalProvider

    return LocalProvider(spec)


__all__ = ["BatchItem", "Provider", "RawCompletion", "make_provider"]

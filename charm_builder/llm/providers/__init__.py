"""Provider adapters: one class per wire protocol, all behind ``providers.base.Provider``."""

from __future__ import annotations

from charm_builder.llm.providers.base import BatchItem, Provider, RawCompletion
from charm_builder.llm.roster import ModelSpec


def make_provider(spec: ModelSpec, api_key: str | None) -> Provider:
    """Build the provider adapter for a roster entry."""
    if spec.provider == "openai":
        from charm_builder.llm.providers.openai import OpenAIProvider

        return OpenAIProvider(spec, api_key)
    if spec.provider == "anthropic":
        from charm_builder.llm.providers.anthropic import AnthropicProvider

        return AnthropicProvider(spec, api_key)
    from charm_builder.llm.providers.local import LocalProvider

    return LocalProvider(spec)


__all__ = ["BatchItem", "Provider", "RawCompletion", "make_provider"]

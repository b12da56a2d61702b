"""Anthropic Messages API (``POST /v1/messages``) and Message Batches (through the SDK)."""

from __future__ import annotations

import json
from typing import Any

from charm_builder.llm.errors import TransientError
from charm_builder.llm.providers.base import BatchItem, BatchState, HTTPProvider, RawCompletion
from charm_builder.llm.types import ChatParams

API_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS = 1024
_STOP_REASONS = {"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}


def messages_body(model: str, messages: list[dict[str, str]], params: ChatParams) -> dict[str, Any]:
    """The /v1/messages request body: system turns move to the top-level ``system`` field."""
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    body: dict[str, Any] = {
        "model": model,
        "max_tokens": params.max_tokens or DEFAULT_MAX_TOKENS,
        "messages": [m for m in messages if m["role"] != "system"],
    }
    if system:
        body["system"] = system
    if params.temperature is not None:
        body["temperature"] = min(params.temperature, 1.0)
    if params.top_p is not None:
        body["top_p"] = params.top_p
    if params.stop:
        body["stop_sequences"] = params.stop
    return body


def parse_message(data: dict[str, Any]) -> RawCompletion:
    """A Message object -> RawCompletion; KeyError/TypeError when malformed."""
    if data.get("type") == "error":
        raise KeyError("error object")
    text = "".join(block.get("text", "") for block in data["content"] if block.get("type") == "text")
    usage = data.get("usage") or {}
    return RawCompletion(
        text=text,
        input_tokens=int(usage.get("input_tokens") or 0),
        output_tokens=int(usage.get("output_tokens") or 0),
        finish_reason=_STOP_REASONS.get(data.get("stop_reason") or "end_turn", data.get("stop_reason") or "stop"),
    )


class AnthropicProvider(HTTPProvider):
    """``base_url`` is the API root (``https://api.anthropic.com``), without ``/v1``. Chat calls
    POST to ``{base_url}/v1/messages``; batches and model listing use ``anthropic.AsyncAnthropic``."""

    supports_batch = True
    batch_max_requests = 100_000  # Message Batches limits
    batch_max_bytes = 256 * 1024 * 1024

    def headers(self) -> dict[str, str]:
        h = {"anthropic-version": API_VERSION}
        if self._api_key:
            h["x-api-key"] = self._api_key
        return h

    def make_sdk(self) -> Any:
        import anthropic

        # always an explicit key: the SDK would otherwise look for credentials in the environment
        return anthropic.AsyncAnthropic(
            api_key=self._api_key or "no-key", base_url=self.spec.base_url, **self.sdk_options()
        )

    def sdk_errors(self) -> tuple[type[BaseException], ...]:
        import anthropic

        return (anthropic.AnthropicError,)

    async def complete(self, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
        body = messages_body(self.spec.model, messages, params)
        data = await self.post_json(f"{self.spec.base_url}/v1/messages", body)
        try:
            return parse_message(data)
        except (KeyError, TypeError, ValueError):
            raise TransientError(f"{self._where()}: malformed message (no content blocks)") from None

    # -- Message Batches (through the SDK) -------------------------------------------------
    async def batch_submit(self, items: list[BatchItem]) -> tuple[str, dict[str, Any]]:
        requests = [
            {"custom_id": it.wire_id, "params": messages_body(self.spec.model, it.messages, it.params)} for it in items
        ]
        batch = await self.control(lambda sdk: sdk.messages.batches.create(requests=requests))
        return batch.id, {"processing_status": batch.processing_status}

    async def batch_status(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        batch = await self.control(lambda sdk: sdk.messages.batches.retrieve(batch_id))
        return _state(batch, meta)

    async def batch_cancel(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        batch = await self.control(lambda sdk: sdk.messages.batches.cancel(batch_id))
        return _state(batch, meta)

    async def batch_results(self, batch_id: str, meta: dict[str, Any]) -> dict[str, RawCompletion | str]:
        async def download(sdk: Any) -> list[dict[str, Any]]:
            return [row.to_dict() async for row in await sdk.messages.batches.results(batch_id)]

        out: dict[str, RawCompletion | str] = {}
        for row in await self.control(download):
            result = row.get("result") or {}
            if result.get("type") == "succeeded":
                try:
                    out[row["custom_id"]] = parse_message(result["message"])
                except (KeyError, TypeError, ValueError):
                    out[row["custom_id"]] = "malformed message in batch results"
            else:
                detail = json.dumps(result.get("error"))[:300] if result.get("error") else ""
                out[row["custom_id"]] = f"{result.get('type', 'unknown')} {detail}".strip()
        return out


def _state(batch: Any, meta: dict[str, Any]) -> BatchState:
    """An SDK ``MessageBatch`` as a ``BatchState``."""
    status = batch.processing_status
    counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
    return BatchState(
        state=status,
        done=status == "ended",
        meta={**meta, "processing_status": status},
        counts={k: int(v) for k, v in counts.items() if v is not None},
    )

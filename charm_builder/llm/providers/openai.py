"""OpenAI Chat Completions (and any OpenAI-compatible server: vLLM, SGLang, Ollama, DashScope,
Volcengine Ark), Azure OpenAI, plus the OpenAI Batch API (files + batches) through the SDK."""

from __future__ import annotations

import json
from typing import Any

from charm_builder.llm.errors import TransientError
from charm_builder.llm.providers.base import BatchItem, BatchState, HTTPProvider, RawCompletion
from charm_builder.llm.types import ChatParams

TERMINAL = {"completed", "failed", "expired", "cancelled"}


def chat_body(model: str, messages: list[dict[str, str]], params: ChatParams) -> dict[str, Any]:
    """The /v1/chat/completions request body."""
    body: dict[str, Any] = {"model": model, "messages": messages}
    for field in ("temperature", "top_p", "max_tokens", "seed", "stop", "frequency_penalty", "presence_penalty"):
        value = getattr(params, field)
        if value is not None:
            body[field] = value
    if params.json_mode:
        body["response_format"] = {"type": "json_object"}
    return body


def parse_chat(data: dict[str, Any]) -> RawCompletion:
    """A chat.completion object -> RawCompletion; KeyError/TypeError/IndexError when malformed."""
    choice = data["choices"][0]
    text = choice["message"].get("content") or ""
    usage = data.get("usage") or {}
    return RawCompletion(
        text=text,
        input_tokens=int(usage.get("prompt_tokens") or 0),
        output_tokens=int(usage.get("completion_tokens") or 0),
        finish_reason=choice.get("finish_reason") or "stop",
    )


class OpenAIProvider(HTTPProvider):
    """``base_url`` ends in ``/v1`` (or the compatible server's equivalent). Chat calls are
    POSTs to ``{base_url}/chat/completions``; batches and model listing use ``openai.AsyncOpenAI``."""

    supports_batch = True  # Batch API limits: 50,000 requests and a 200 MB input file (Provider defaults)
    batch_url = "/v1/chat/completions"  # the endpoint named in batch input lines and the batch

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    def chat_url(self) -> str:
        return f"{self.spec.base_url}/chat/completions"

    def wire_model(self) -> str:
        """The ``model`` field of request bodies."""
        return self.spec.model

    def make_sdk(self) -> Any:
        import openai

        # always an explicit key: the SDK would otherwise send OPENAI_API_KEY to any base_url
        return openai.AsyncOpenAI(api_key=self._api_key or "no-key", base_url=self.spec.base_url, **self.sdk_options())

    def sdk_errors(self) -> tuple[type[BaseException], ...]:
        import openai

        return (openai.OpenAIError,)

    async def complete(self, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
        data = await self.post_json(self.chat_url(), chat_body(self.wire_model(), messages, params))
        try:
            return parse_chat(data)
        except (KeyError, TypeError, IndexError, ValueError):
            raise TransientError(f"{self._where()}: malformed chat completion (no choices[0].message)") from None

    # -- Batch API (through the SDK) -------------------------------------------------------
    async def batch_submit(self, items: list[BatchItem]) -> tuple[str, dict[str, Any]]:
        lines = [
            json.dumps(
                {
                    "custom_id": it.wire_id,
                    "method": "POST",
                    "url": self.batch_url,
                    "body": chat_body(self.wire_model(), it.messages, it.params),
                },
                ensure_ascii=False,
            )
            for it in items
        ]
        payload = ("\n".join(lines) + "\n").encode("utf-8")

        async def submit(sdk: Any) -> tuple[str, dict[str, Any]]:
            upload = await sdk.files.create(file=("batch.jsonl", payload, "application/jsonl"), purpose="batch")
            batch = await sdk.batches.create(input_file_id=upload.id, endpoint=self.batch_url, completion_window="24h")
            return batch.id, {"input_file_id": upload.id, "status": batch.status}

        return await self.control(submit)

    async def batch_status(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        batch = await self.control(lambda sdk: sdk.batches.retrieve(batch_id))
        return _state(batch, meta)

    async def batch_cancel(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        batch = await self.control(lambda sdk: sdk.batches.cancel(batch_id))
        return _state(batch, meta)

    async def batch_results(self, batch_id: str, meta: dict[str, Any]) -> dict[str, RawCompletion | str]:
        out: dict[str, RawCompletion | str] = {}
        for key in ("output_file_id", "error_file_id"):
            file_id = meta.get(key)
            if not file_id:
                continue
            content = await self.control(lambda sdk, file_id=file_id: sdk.files.content(file_id))
            for line in content.text.splitlines():
                if line.strip():
                    wire_id, result = _parse_result_line(line)
                    out[wire_id] = result
        return out


def _state(batch: Any, meta: dict[str, Any]) -> BatchState:
    """An SDK ``Batch`` object as a ``BatchState`` (output/error file ids kept in the meta)."""
    meta = {
        **meta,
        "status": batch.status,
        "output_file_id": batch.output_file_id,
        "error_file_id": batch.error_file_id,
    }
    counts = batch.request_counts.model_dump() if batch.request_counts is not None else {}
    return BatchState(
        state=batch.status,
        done=batch.status in TERMINAL,
        counts={k: int(v) for k, v in counts.items() if v is not None},
        meta=meta,
    )


class AzureOpenAIProvider(OpenAIProvider):
    """Azure OpenAI: the OpenAI wire format under Azure's URL layout. Chat calls POST to
    ``{azure_endpoint}/openai/deployments/{deployment}/chat/completions?api-version=...`` with an
    ``api-key`` header; batches and model listing use ``openai.AsyncAzureOpenAI``. Request bodies
    name the deployment as the model, as Azure's batch input requires."""

    batch_url = "/chat/completions"  # Azure batch lines and batches name the endpoint without /v1

    def headers(self) -> dict[str, str]:
        return {"api-key": self._api_key} if self._api_key else {}

    def chat_url(self) -> str:
        return f"{self.spec.base_url}/chat/completions?api-version={self.spec.api_version}"

    def wire_model(self) -> str:
        return self.spec.deployment or self.spec.model

    def make_sdk(self) -> Any:
        import openai

        return openai.AsyncAzureOpenAI(
            azure_endpoint=self.spec.azure_endpoint,
            api_version=self.spec.api_version,
            api_key=self._api_key or "no-key",
            **self.sdk_options(),
        )


def _parse_result_line(line: str) -> tuple[str, RawCompletion | str]:
    row = json.loads(line)
    wire_id = row["custom_id"]
    response = row.get("response") or {}
    if row.get("error"):
        return wire_id, f"batch error: {json.dumps(row['error'])[:300]}"
    if response.get("status_code") != 200:
        return wire_id, f"HTTP {response.get('status_code')}: {json.dumps(response.get('body'))[:300]}"
    try:
        return wire_id, parse_chat(response["body"])
    except (KeyError, TypeError, IndexError, ValueError):
        return wire_id, "malformed chat completion in batch output"

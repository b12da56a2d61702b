"""OpenAI Chat Completions (and any OpenAI-compatible server: vLLM, SGLang, Ollama, DashScope,
Volcengine Ark) plus the OpenAI Batch API (files + batches)."""

from __future__ import annotations

import json
import uuid
from typing import Any

from charm_builder.llm.errors import TransientError
from charm_builder.llm.http import multipart_form
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
    """``base_url`` ends in ``/v1`` (or the compatible server's equivalent)."""

    supports_batch = True  # Batch API limits: 50,000 requests and a 200 MB input file (Provider defaults)

    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self._api_key}"} if self._api_key else {}

    async def complete(self, messages: list[dict[str, str]], params: ChatParams) -> RawCompletion:
        resp = await self.request(
            "POST", f"{self.spec.base_url}/chat/completions", json_body=chat_body(self.spec.model, messages, params)
        )
        data = self.parse_json(resp)
        try:
            return parse_chat(data)
        except (KeyError, TypeError, IndexError, ValueError):
            raise TransientError(f"{self._where()}: malformed chat completion (no choices[0].message)") from None

    async def check(self) -> None:
        await self.check_url(f"{self.spec.base_url}/models")

    # -- Batch API -------------------------------------------------------------------------
    async def batch_submit(self, items: list[BatchItem]) -> tuple[str, dict[str, Any]]:
        lines = [
            json.dumps(
                {
                    "custom_id": it.wire_id,
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": chat_body(self.spec.model, it.messages, it.params),
                },
                ensure_ascii=False,
            )
            for it in items
        ]
        payload = ("\n".join(lines) + "\n").encode("utf-8")
        form, content_type = multipart_form(
            {"purpose": "batch", "file": ("batch.jsonl", payload, "application/jsonl")}, boundary=uuid.uuid4().hex
        )
        resp = await self.request("POST", f"{self.spec.base_url}/files", body=form, content_type=content_type)
        file_id = self.parse_json(resp)["id"]
        resp = await self.request(
            "POST",
            f"{self.spec.base_url}/batches",
            json_body={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
        )
        batch = self.parse_json(resp)
        return batch["id"], {"input_file_id": file_id, "status": batch.get("status", "validating")}

    async def batch_status(self, batch_id: str, meta: dict[str, Any]) -> BatchState:
        batch = self.parse_json(await self.request("GET", f"{self.spec.base_url}/batches/{batch_id}"))
        status = batch.get("status", "unknown")
        meta = {**meta, "status": status, "output_file_id": batch.get("output_file_id"),
                "error_file_id": batch.get("error_file_id")}
        counts = {k: int(v) for k, v in (batch.get("request_counts") or {}).items()}
        return BatchState(state=status, done=status in TERMINAL, counts=counts, meta=meta)

    async def batch_results(self, batch_id: str, meta: dict[str, Any]) -> dict[str, RawCompletion | str]:
        out: dict[str, RawCompletion | str] = {}
        for key in ("output_file_id", "error_file_id"):
            file_id = meta.get(key)
            if not file_id:
                continue
            resp = await self.request("GET", f"{self.spec.base_url}/files/{file_id}/content")
            for line in resp.text.splitlines():
                if line.strip():
                    wire_id, result = _parse_result_line(line)
                    out[wire_id] = result
        return out


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

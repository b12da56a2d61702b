"""The fake server speaks the real wire formats: the official SDKs parse its answers."""

from __future__ import annotations

import asyncio
import json

import anthropic
import openai

from tests.charm_builder.llm.helpers import KEY


def test_openai_sdk_parses_chat_and_batch_objects(server) -> None:
    async def go():
        client = openai.AsyncOpenAI(base_url=server.openai_base_url, api_key=KEY, max_retries=0)
        chat = await client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi there"}])
        line = json.dumps(
            {
                "custom_id": "a",
                "method": "POST",
                "url": "/v1/chat/completions",
                "body": {"model": "m", "messages": [{"role": "user", "content": "x"}]},
            }
        )
        f = await client.files.create(file=("b.jsonl", line.encode() + b"\n"), purpose="batch")
        batch = await client.batches.create(
            input_file_id=f.id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        await client.batches.retrieve(batch.id)
        done = await client.batches.retrieve(batch.id)
        content = await client.files.content(done.output_file_id)
        await client.close()
        return chat, done, content.text

    chat, done, output = asyncio.run(go())
    assert chat.choices[0].message.content == "echo: hi there"
    assert chat.usage.prompt_tokens == 2
    assert done.status == "completed" and done.request_counts.completed == 1
    assert '"custom_id": "a"' in output


def test_anthropic_sdk_parses_message_and_batch_objects(server) -> None:
    async def go():
        client = anthropic.AsyncAnthropic(base_url=server.anthropic_base_url, api_key=KEY, max_retries=0)
        msg = await client.messages.create(
            model="c", max_tokens=20, system="sys", messages=[{"role": "user", "content": "hello"}]
        )
        batch = await client.messages.batches.create(
            requests=[
                {
                    "custom_id": "a",
                    "params": {"model": "c", "max_tokens": 5, "messages": [{"role": "user", "content": "x"}]},
                }
            ]
        )
        await client.messages.batches.retrieve(batch.id)
        ended = await client.messages.batches.retrieve(batch.id)
        results = [r async for r in await client.messages.batches.results(batch.id)]
        await client.close()
        return msg, ended, results

    msg, ended, results = asyncio.run(go())
    assert msg.content[0].text == "echo: hello" and msg.usage.input_tokens == 2 and msg.stop_reason == "end_turn"
    assert ended.processing_status == "ended" and ended.request_counts.succeeded == 1
    assert results[0].custom_id == "a" and results[0].result.type == "succeeded"

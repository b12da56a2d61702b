"""Local models' precision: ``auto`` is bfloat16 on a CPU with native bfloat16 (read from its
flags), the loaded weights follow the entry, and the answer cache tells precisions apart."""

from __future__ import annotations

import asyncio

import pytest

from charm_builder.llm import LLMClient, ModelSpec, Roster, precision
from charm_builder.llm.providers import local


def test_native_bf16_is_read_from_the_cpu_flags(tmp_path) -> None:
    cases = {
        "sapphire-rapids": ("processor\t: 0\nflags\t\t: fpu avx2 avx512f avx512_bf16 amx_tile\n", True),
        "amx": ("flags\t\t: fpu avx2 amx_bf16 amx_tile\n", True),
        "arm": ("processor\t: 0\nFeatures\t: fp asimd bf16 i8mm\n", True),
        "skylake": ("flags\t\t: fpu avx2 avx512f avx512bw avx512_vnni\nmodel name\t: bf16 in a name\n", False),
    }
    for name, (text, expected) in cases.items():
        (tmp_path / name).write_text(text)
        assert precision.native_bf16(str(tmp_path / name)) is expected, name
    assert precision.native_bf16(str(tmp_path / "no-such-file")) is False


def test_an_entry_loads_its_precision_and_keeps_its_own_cache_key(tiny_llama, monkeypatch) -> None:
    import torch

    from tests.charm_builder.llm.helpers import CHAT_A

    monkeypatch.setattr(precision, "native_bf16", lambda *a: True)
    auto = ModelSpec(name="auto", provider="local", model=str(tiny_llama), params={"max_tokens": 3})
    fp32 = auto.model_copy(update={"name": "fp32", "precision": "fp32"})
    assert local.load(auto).model.dtype == torch.bfloat16 and local.load(fp32).model.dtype == torch.float32
    assert auto.cache_model_id == f"{tiny_llama}@bf16" and fp32.cache_model_id == str(tiny_llama)

    async def go():
        async with LLMClient(Roster(name="t", models={"auto": auto, "fp32": fp32}), use_cache=True) as client:
            return await client.chat("auto", CHAT_A), await client.chat("fp32", CHAT_A)

    bf16_answer, fp32_answer = asyncio.run(go())
    assert not fp32_answer.cached  # the bfloat16 answer is not reused for the float32 entry
    assert bf16_answer.output_tokens >= 1

    monkeypatch.setattr(precision, "native_bf16", lambda *a: False)
    assert auto.cache_model_id == str(tiny_llama)  # auto is float32 on a CPU without bfloat16
    assert ModelSpec(name="r", provider="openai", model="gpt", precision="bf16").cache_model_id == "gpt"
    with pytest.raises(ValueError):
        ModelSpec(name="bad", provider="local", model="x", precision="float16")

"""The local provider generates real text with the offline SmolLM2 model (slow: loads a model)."""

from __future__ import annotations

import asyncio

import pytest

from charm_builder.llm import LLMClient, LLMConfigError, ModelSpec, Roster, load_roster


@pytest.mark.slow
def test_smollm2_generates_real_text_serialised_and_cached(tmp_path) -> None:
    roster = load_roster("offline")

    async def go():
        async with LLMClient(roster, db=tmp_path / "ws.db", run_id="local") as c:
            await c.apreflight(["smollm2-plain", "smollm2-concise"])
            msgs = [
                {"role": "system", "content": "You are Sherlock Holmes."},
                {"role": "user", "content": "Who are you? Answer in one sentence."},
            ]
            a, b = await asyncio.gather(
                c.chat("smollm2-plain", msgs, {"max_tokens": 12}),
                c.chat("smollm2-concise", msgs, {"max_tokens": 12}, seed=1),
            )
            again = await c.chat("smollm2-plain", msgs, {"max_tokens": 12})
            return a, b, again, c.ledger("local")

    a, b, again, ledger = asyncio.run(go())
    for done in (a, b):
        assert len(done.text.split()) >= 2 and done.text.isprintable()
        assert done.input_tokens > 10 and 0 < done.output_tokens <= 12
        assert done.cost == 0.0 and done.finish_reason in ("stop", "length")
    assert again.cached and again.text == a.text
    assert ledger["smollm2-plain"].calls == 2 and ledger["smollm2-plain"].cached == 1


def test_missing_local_model_is_a_preflight_error(tmp_path) -> None:
    roster = Roster(name="x", models={"m": ModelSpec(name="m", provider="local", model=str(tmp_path / "none"))})
    with pytest.raises(LLMConfigError, match=r"'m': local model .* not found"):
        LLMClient(roster).preflight()

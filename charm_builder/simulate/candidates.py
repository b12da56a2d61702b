"""Candidates: every candidate model writes a reply to the same context (the last user turn).

Labels A-F follow the order of the candidate models. Identical replies are flagged ``duplicate``,
empty ones ``empty`` and looping ones ``degenerate`` (after retries; ``cleaning.is_degenerate``),
so the annotation and export stages can see them.
"""

from __future__ import annotations

import asyncio
from typing import Any

from charm_builder.simulate.cleaning import is_degenerate
from charm_builder.simulate.loop import CallTally, ChatClient, ReplyRequest, cleaned_attempts
from charm_builder.simulate.prompts import character_system_prompt
from schemas import LABELS, Candidate, CandidateSet, Character, Dialogue, Scene, to_chat


async def _one(request: ReplyRequest) -> tuple[str, dict[str, Any]]:
    meta: dict[str, Any] = {"input_tokens": 0, "output_tokens": 0, "cost_usd": 0.0, "latency_s": 0.0, "problems": []}
    text = ""
    async for attempt in cleaned_attempts(request):
        completion, cleaned = attempt.completion, attempt.cleaned
        meta["input_tokens"] += completion.input_tokens
        meta["output_tokens"] += completion.output_tokens
        meta["cost_usd"] += attempt.cost_usd
        meta["latency_s"] += getattr(completion, "latency", attempt.seconds)
        text = cleaned.text
        if cleaned.problem in (None, "repeated", "off_language"):
            # a reply that repeats the context or switches language is a (bad) candidate, not a failure
            if cleaned.problem:
                meta["problems"].append(cleaned.problem)
            return text, meta
        meta["problems"].append(cleaned.problem)
    return text if text.strip() else "", meta


def candidate_messages(dialogue: Dialogue, character: Character, scene: Scene | None) -> list[dict[str, str]]:
    """The chat every candidate model answers: character system prompt + the context."""
    return to_chat(dialogue.turns, character_system_prompt(character, scene, dialogue.language))


def first_attempt_seeds(models: list[str], seed: int) -> dict[str, int]:
    """The seed each model's first attempt uses (``_one`` uses ``(seed + k) * 100 + attempt``)."""
    return {model: (seed + k) * 100 for k, model in enumerate(models)}


async def generate_candidates(
    client: ChatClient,
    dialogue: Dialogue,
    character: Character,
    scene: Scene | None,
    models: list[str],
    *,
    seed: int,
    retries: int = 1,
    params: dict[str, Any] | None = None,
) -> tuple[CandidateSet, CallTally]:
    """Ask each model (at most six) for a reply to ``dialogue``'s context; returns the candidate set."""
    if not 2 <= len(models) <= len(LABELS):
        raise ValueError(f"need 2 to {len(LABELS)} candidate models, got {len(models)}")
    lang = dialogue.language
    messages = candidate_messages(dialogue, character, scene)
    user_names = sorted({t.speaker for t in dialogue.turns if t.role == "user" and t.speaker})
    clean_args = {
        "own_names": [n for n in (character.name.zh, character.name.en) if n],
        "other_names": user_names,
        "language": lang,
        "history": [t.text for t in dialogue.turns],
        "prompt": messages[0]["content"],
    }
    tally = CallTally()
    results = await asyncio.gather(
        *(
            _one(ReplyRequest(client, model, messages, seed + k, retries, clean_args, params or {}, tally))
            for k, model in enumerate(models)
        )
    )
    candidates = []
    seen: dict[str, str] = {}
    for label, model, (text, meta) in zip(LABELS, models, results, strict=False):
        flags = [f"cleaning:{p}" for p in meta.pop("problems")]
        norm = " ".join(text.split()).lower()
        if not norm:
            flags.append("empty")
        elif is_degenerate(text):
            flags.append("degenerate")
        if norm and norm in seen:
            flags.append("duplicate")
        seen.setdefault(norm, label)
        candidates.append(
            Candidate(
                label=label,
                model_id=model,
                text=text,
                params={**(params or {}), "seed": seed},
                input_tokens=meta["input_tokens"],
                output_tokens=meta["output_tokens"],
                latency_s=round(meta["latency_s"], 4),
                cost_usd=round(meta["cost_usd"], 8),
                flags=flags,
            )
        )
    cset = CandidateSet(dialogue_id=dialogue.id, context=dialogue.turns, candidates=candidates)
    return cset, tally

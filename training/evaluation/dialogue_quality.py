"""Charm-DialogueQuality evaluation: a model replies to each item, LLM judges score the replies 1-5.

Items are the rows of a dialogueQuality export, read as :class:`schemas.DialogueQualityItem`
(``schemas.validate_rows``: a bad row is one error line naming the file, row and field). The evaluated model is either a local HF causal-LM folder
(``offline`` = the bundled SmolLM2; replies generated greedily with transformers) or any roster
entry (through :class:`charm_builder.llm.LLMClient`). It sees the character prompt as the system
message, the context (``schemas.to_chat``: user -> ``user``, character -> ``assistant``) and the user query.

A failed reply (the roster model's call fails for good) is recorded with ``error`` and not judged;
both reply and judge failures are counted in the report.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from charm_kernel.errors import CharmError
from schemas import DialogueQualityItem, RowError, required_columns, to_chat, validate_rows
from training.evaluation.judges import Judgement, judge_replies

DEFAULT_SYSTEM = {
    "en": "You are {character}. Stay in character and reply as {character} would.",
    "zh": "你是{character}。请始终保持角色，用{character}的方式回复。",
}


class EvaluationInputError(CharmError):
    """A user-caused problem with an evaluation (data file, model name, roster)."""


@dataclass
class Reply:
    item_id: str
    model: str
    text: str | None
    error: str | None = None


@dataclass
class DQRun:
    """Everything an evaluation produced."""

    model: str
    judges: list[str]
    items: list[DialogueQualityItem]
    replies: list[Reply]
    judgements: list[Judgement] = field(default_factory=list)


def load_dialogue_quality(
    path: str | os.PathLike[str], split: str | None = None, limit: int | None = None
) -> list[DialogueQualityItem]:
    """Load and validate a dialogueQuality export (save_to_disk folder, parquet or jsonl; all splits by default)."""
    from training.rm.data import DataError, load_rows

    try:
        rows, source = load_rows(path, split)
    except DataError as exc:
        raise EvaluationInputError(str(exc)) from exc
    missing = [c for c in required_columns(DialogueQualityItem) if c not in rows.column_names]
    if missing:
        raise EvaluationInputError(f"{source}: missing column {missing[0]!r} (found: {', '.join(rows.column_names)})")
    try:
        items = validate_rows(DialogueQualityItem, rows, source, limit)
    except RowError as exc:
        raise EvaluationInputError(str(exc)) from None
    if not items:
        raise EvaluationInputError(f"{source}: no items")
    ids = [it.id for it in items]
    if len(set(ids)) != len(ids):
        dup = next(i for i in ids if ids.count(i) > 1)
        raise EvaluationInputError(f"{source}: duplicate id {dup!r}")
    return items


def reply_messages(item: DialogueQualityItem) -> list[dict[str, str]]:
    """What the evaluated model sees: character system prompt, context, then the user query."""
    system = item.system_prompt or DEFAULT_SYSTEM.get(item.language, DEFAULT_SYSTEM["en"]).format(
        character=item.character_id
    )
    return to_chat(item.context, system, item.user_query)


# ------------------------------------------------------------------------------------ responders


class Responder(Protocol):
    name: str

    async def replies(self, items: Sequence[DialogueQualityItem], on_done: Callable[[int], None]) -> list[Reply]: ...


class LocalResponder:
    """A local HF causal-LM folder (or ``offline``), greedy decoding with transformers."""

    def __init__(
        self, path: Path, name: str, max_new_tokens: int = 256, batch_size: int = 4, device: str | None = None
    ) -> None:
        self.path, self.name = path, name
        self.max_new_tokens, self.batch_size, self.device = max_new_tokens, batch_size, device

    async def replies(self, items: Sequence[DialogueQualityItem], on_done: Callable[[int], None]) -> list[Reply]:
        return await asyncio.to_thread(self._generate, items, on_done)

    def _generate(self, items: Sequence[DialogueQualityItem], on_done: Callable[[int], None]) -> list[Reply]:
        import torch

        from training.common.generation import generate_replies, load_policy

        model, tok = load_policy(self.path)
        model.to(self.device or ("cuda" if torch.cuda.is_available() else "cpu"))
        out: list[Reply] = []
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            texts = generate_replies(
                model,
                tok,
                [reply_messages(it) for it in chunk],
                max_new_tokens=self.max_new_tokens,
                batch_size=self.batch_size,
            )
            out += [Reply(it.id, self.name, t.strip()) for it, t in zip(chunk, texts, strict=True)]
            on_done(len(chunk))
        return out


class RosterResponder:
    """A roster entry, called through the LLM client (cache, limits, retries, cost ledger)."""

    def __init__(self, client: Any, entry: str) -> None:
        self.client, self.name = client, entry

    async def replies(self, items: Sequence[DialogueQualityItem], on_done: Callable[[int], None]) -> list[Reply]:
        from charm_builder.llm.errors import LLMCallError

        async def one(item: DialogueQualityItem) -> Reply:
            try:
                c = await self.client.chat(self.name, reply_messages(item), seed=0)
                return Reply(item.id, self.name, c.text.strip())
            except LLMCallError as exc:
                return Reply(item.id, self.name, None, error=str(exc))
            finally:
                on_done(1)

        return list(await asyncio.gather(*(one(it) for it in items)))


def resolve_responder(model: str, client: Any | None, max_new_tokens: int = 256, batch_size: int = 4) -> Responder:
    """``offline`` or an existing folder -> local model; otherwise a roster entry of ``client``."""
    if model == "offline":
        from charm_builder.offline_models import offline_model_dir

        return LocalResponder(offline_model_dir(), "offline", max_new_tokens, batch_size)
    p = Path(model)
    if p.is_dir():
        if not (p / "config.json").exists():
            raise EvaluationInputError(f"--model {model}: a folder but not a Hugging Face model (no config.json)")
        return LocalResponder(p, p.resolve().name, max_new_tokens, batch_size)
    if client is None or model not in client.roster.models:
        known = ", ".join(client.roster.models) if client is not None else "none"
        raise EvaluationInputError(
            f"--model {model}: neither a local model folder nor a roster entry (roster has: {known})"
        )
    return RosterResponder(client, model)


# ----------------------------------------------------------------------------------- the run


async def evaluate_dialogue_quality(
    items: Sequence[DialogueQualityItem],
    responder: Responder,
    judges: Sequence[str],
    client: Any,
    on_reply: Callable[[int], None] = lambda n: None,
    on_judgement: Callable[[int], None] = lambda n: None,
    seed: int = 0,
) -> DQRun:
    """Generate replies, then have every judge score every successful reply."""
    replies = await responder.replies(items, on_reply)
    by_id = {r.item_id: r for r in replies}

    asks = [
        (judge, item, by_id[item.id].text or "")
        for item in items
        if by_id[item.id].text is not None
        for judge in judges
    ]
    judgements = await judge_replies(client, asks, on_judgement, seed)
    return DQRun(responder.name, list(judges), list(items), replies, judgements)

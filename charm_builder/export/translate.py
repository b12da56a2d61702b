"""`charm-build translate`: fill the other language of dialogueQuality from the annotated one.

The paper annotated 400 Chinese dialogueQuality items and translated them into English. The
pipeline here depends only on the ``Translator`` protocol; ``PromptTranslator`` adapts any async
chat-completion callable (the LLM provider layer) to it. Each translated item is written as soon
as it is complete, so an interrupted run resumes where it stopped; identical strings (a dialogue's
context is shared by its six dimensions) are translated once per run.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from charm_builder.export.dialogue_quality import add_dq_annotation, load_dq_annotations, select_dq
from charm_builder.store import Workspace, dq_annotations
from charm_kernel.errors import CharmError
from charm_kernel.progress import progress_bar
from schemas import LANGUAGES

LANGUAGE_NAMES = {"zh": "Chinese", "en": "English"}
TRANSLATION_PROMPT = (
    "You translate role-play data from {src} to {dst}. Translate the text the user sends faithfully and "
    "naturally: keep names, tone, register, emoji, line breaks and any markup; translate in-character speech "
    "as the character would say it. Reply with the translation only, no notes or quotes."
)


@runtime_checkable
class Translator(Protocol):
    """Anything that can translate one text between two languages ('zh', 'en')."""

    async def translate(self, text: str, src: str, dst: str) -> str: ...


ChatFn = Callable[[list[dict[str, str]]], Awaitable[str]]


class PromptTranslator:
    """A Translator over an async chat function ``messages -> reply text`` (e.g. an LLM provider)."""

    def __init__(self, chat: ChatFn, prompt: str = TRANSLATION_PROMPT):
        self.chat, self.prompt = chat, prompt

    async def translate(self, text: str, src: str, dst: str) -> str:
        system = self.prompt.format(src=LANGUAGE_NAMES.get(src, src), dst=LANGUAGE_NAMES.get(dst, dst))
        reply = await self.chat([{"role": "system", "content": system}, {"role": "user", "content": text}])
        if not reply or not reply.strip():
            raise CharmError(f"translation {src}->{dst} returned empty text for: {text[:60]!r}")
        return reply.strip()


@dataclass
class TranslateReport:
    translated: int = 0
    already_done: int = 0
    failed: list[str] = field(default_factory=list)  # source row ids


class _Memo:
    """Translate each distinct string once per run, even when requested concurrently."""

    def __init__(self, translator: Translator, src: str, dst: str, limit: int):
        self.translator, self.src, self.dst = translator, src, dst
        self.sem = asyncio.Semaphore(limit)
        self.tasks: dict[str, asyncio.Task[str]] = {}

    async def _one(self, text: str) -> str:
        async with self.sem:
            return await self.translator.translate(text, self.src, self.dst)

    def __call__(self, text: str) -> Awaitable[str]:
        if not text.strip():
            return asyncio.sleep(0, result=text)
        if text not in self.tasks:
            self.tasks[text] = asyncio.ensure_future(self._one(text))
        return self.tasks[text]


def pending_sources(ws: Workspace, src: str, dst: str) -> tuple[list[dict], int]:
    """Rows in ``src`` without a ``dst`` row for the same (dialogue, dimension); and how many have one."""
    rows = dq_annotations.translation_sources(ws, src, dst)
    todo, done = [], 0
    for rid, did, dim, query, criteria, ctx, sp, dlg, char, exists in rows:
        if exists:
            done += 1
            continue
        dialogue, character = json.loads(dlg), json.loads(char) if char else {}
        todo.append(
            {
                "id": rid,
                "dialogue_id": did,
                "dimension": dim,
                "user_query": query,
                "criteria": json.loads(criteria),
                "context": json.loads(ctx) if ctx else dialogue["turns"],
                "system_prompt": sp
                or (character.get("system_prompt") or {}).get(src)
                or next(iter(v for v in (character.get("system_prompt") or {}).values() if v), ""),
                "target_system_prompt": (character.get("system_prompt") or {}).get(dst),
                "target_name": (character.get("name") or {}).get(dst),
            }
        )
    return todo, done


async def _translate_row(row: dict, tr: _Memo) -> dict:
    async def turn(m: dict) -> dict:
        speaker = m.get("speaker") or ""
        if m["role"] == "character" and row["target_name"]:
            new_speaker: Awaitable[str] = asyncio.sleep(0, result=row["target_name"])
        else:
            new_speaker = tr(speaker)
        text, speaker_out = await asyncio.gather(tr(m["text"]), new_speaker)
        return {"role": m["role"], "speaker": speaker_out, "text": text}

    context, query, criteria = await asyncio.gather(
        asyncio.gather(*(turn(m) for m in row["context"])),
        tr(row["user_query"]),
        asyncio.gather(*(tr(c) for c in row["criteria"])),
    )
    system_prompt = None if row["target_system_prompt"] else await tr(row["system_prompt"] or "")
    return {
        "context": list(context),
        "user_query": query,
        "criteria": list(criteria),
        "system_prompt": system_prompt or None,
    }


async def translate_dialogue_quality(
    ws: Workspace,
    translator: Translator,
    *,
    src: str = "zh",
    dst: str = "en",
    concurrency: int = 4,
    annotator: str = "translator",
    per_language: int | None = None,
    seed: int = 0,
    console: Console | None = None,
) -> TranslateReport:
    """Translate every ``src`` dialogueQuality row that has no ``dst`` counterpart yet; with
    ``per_language``, only the rows ``export --dq-per-language N --seed S`` keeps (``select_dq``)."""
    if src not in LANGUAGES or dst not in LANGUAGES or src == dst:
        raise CharmError(f"translate: need two different languages out of {', '.join(LANGUAGES)}, got {src}->{dst}")
    todo, done = pending_sources(ws, src, dst)
    if per_language is not None:
        kept = set(select_dq(load_dq_annotations(ws), per_language, seed)["annotation_id"].to_list())
        todo = [row for row in todo if row["id"] in kept]
    report = TranslateReport(already_done=done)
    memo = _Memo(translator, src, dst, max(1, concurrency))
    progress = progress_bar(
        TextColumn(f"translate {src}->{dst}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console or Console(stderr=True),
        transient=False,
        disable=not todo,
    )

    async def one(row: dict) -> None:
        try:
            out = await _translate_row(row, memo)
        except Exception as exc:
            report.failed.append(row["id"])
            progress.console.print(f"[yellow]translate {row['id']}: {exc}[/]", highlight=False)
            return
        add_dq_annotation(
            ws,
            dialogue_id=row["dialogue_id"],
            dimension=row["dimension"],
            language=dst,
            user_query=out["user_query"],
            criteria=out["criteria"],
            annotator=annotator,
            context=out["context"],
            system_prompt=out["system_prompt"],
            source_id=row["id"],
        )
        report.translated += 1
        progress.advance(task)

    with progress:
        task = progress.add_task("rows", total=len(todo))
        await asyncio.gather(*(one(r) for r in todo))
    return report


def run_translate(ws: Workspace, translator: Translator, **kwargs: object) -> TranslateReport:
    """Synchronous wrapper around ``translate_dialogue_quality``."""
    return asyncio.run(translate_dialogue_quality(ws, translator, **kwargs))  # type: ignore[arg-type]


__all__: Sequence[str] = (
    "TRANSLATION_PROMPT",
    "PromptTranslator",
    "TranslateReport",
    "Translator",
    "run_translate",
    "translate_dialogue_quality",
)

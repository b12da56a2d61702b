"""Score candidates with an LLM judge: pick the work, call the judge, store one ``JudgeScore`` each.

Resumable at two levels: a candidate that already has a parsed score from this judge and prompt
version is never asked again, and every request goes through the LLM cache, so even a wiped
``judge_scores`` table is refilled at no cost. An answer without a score is re-asked once in the
same conversation; if that fails too, the raw answer is stored with ``score=None`` and the next run
asks again with a new seed (a new cache key). Failed calls are counted, never raised.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from charm_builder.judge.prompts import PROMPT_VERSION, REASK, ROLE_PLAY, parse_score, prompt_version, rubric_messages
from charm_builder.llm import LLMClient, LLMError
from charm_builder.llm.types import Completion
from charm_builder.store import Workspace, reads
from schemas import CandidateSet, Character, Dialogue, JudgeScore

#: Greedy and short: the answer is one line ``Score: N``.
JUDGE_PARAMS: dict[str, Any] = {"temperature": 0.0, "max_tokens": 16}


@dataclass(frozen=True)
class JudgeTask:
    """One candidate to score."""

    candidate_set_id: str
    label: str
    dimension: str
    messages: list[dict[str, str]]
    seed: int | None  # None on the first try; earlier attempts otherwise (a fresh cache key)
    attempts_before: int = 0
    rubric: str = ROLE_PLAY


@dataclass
class JudgeReport:
    """What a judge run did."""

    judge: str
    sets: int = 0
    candidates: int = 0  # candidates considered (non-empty replies of the selected sets)
    already_scored: int = 0
    scored: int = 0
    unparseable: int = 0
    failed: int = 0
    calls: int = 0  # chat requests that reached the provider (cache hits excluded)
    cost_usd: float = 0.0
    budget_stopped: bool = False
    problems: list[str] = field(default_factory=list)


def existing_scores(
    ws: Workspace, judge: str, prompt_version: str = PROMPT_VERSION
) -> dict[tuple[str, str], JudgeScore]:
    """(candidate set id, label) -> stored score of ``judge`` under ``prompt_version``."""
    return {
        (s.candidate_set_id, s.label): s for s in ws.iter(JudgeScore, judge=judge) if s.prompt_version == prompt_version
    }


def plan_tasks(
    ws: Workspace, judge: str, *, all_sets: bool = False, rubric: str = ROLE_PLAY
) -> tuple[list[JudgeTask], JudgeReport]:
    """The candidates still to score under ``rubric`` (annotated sets, or every set with ``all_sets``)."""
    report = JudgeReport(judge=judge)
    wanted = None if all_sets else reads.human_annotated_set_ids(ws)
    done = existing_scores(ws, judge, prompt_version(rubric))
    dialogues: dict[str, Dialogue | None] = {}
    characters: dict[str, Character | None] = {}
    tasks: list[JudgeTask] = []
    for cset in ws.iter(CandidateSet):
        if wanted is not None and cset.id not in wanted:
            continue
        if cset.dialogue_id not in dialogues:
            dialogues[cset.dialogue_id] = ws.get(Dialogue, cset.dialogue_id)
        dialogue = dialogues[cset.dialogue_id]
        language = dialogue.language if dialogue else "en"
        character = None
        if dialogue is not None:
            if dialogue.character_id not in characters:
                characters[dialogue.character_id] = ws.get(Character, dialogue.character_id)
            character = characters[dialogue.character_id]
        name = character.name.get(language) if character else ""
        profile = f"{name}: {character.profile.get(language)}" if character else ""
        dimension = (dialogue.target_dimension if dialogue else None) or ""
        turns = [(m.speaker, m.text) for m in cset.context]
        report.sets += 1
        for cand in cset.candidates:
            if "empty" in cand.flags or not cand.text.strip():
                continue
            report.candidates += 1
            prior = done.get((cset.id, cand.label))
            if prior is not None and prior.score is not None:
                report.already_scored += 1
                continue
            messages = rubric_messages(
                rubric, character=profile, dialogue=turns, speaker=name, reply=cand.text, dimension=dimension
            )
            attempts = prior.attempts if prior is not None else 0
            tasks.append(JudgeTask(cset.id, cand.label, dimension, messages, attempts or None, attempts, rubric))
    return tasks, report


def combined(completions: list[Completion]) -> Completion:
    last = completions[-1]
    return last.model_copy(
        update={
            "input_tokens": sum(c.input_tokens for c in completions),
            "cost": sum(c.cost for c in completions),
            "output_tokens": sum(c.output_tokens for c in completions),
            "cached": all(c.cached for c in completions),
        }
    )


async def ask_score(
    client: LLMClient, judge: str, messages: list[dict[str, str]], seed: int | None
) -> tuple[float | None, list[Completion]]:
    """Ask the judge for a score, re-asking once in the same conversation when the answer has none."""
    first = await client.chat(judge, messages, JUDGE_PARAMS, seed=seed)
    completions = [first]
    score = parse_score(first.text)
    if score is None:
        retry = [
            *messages,
            {"role": "assistant", "content": first.text.strip() or "(no answer)"},
            {"role": "user", "content": REASK},
        ]
        second = await client.chat(judge, retry, JUDGE_PARAMS, seed=seed)
        completions.append(second)
        score = parse_score(second.text)
    return score, completions


async def score_one(client: LLMClient, judge: str, task: JudgeTask) -> tuple[JudgeScore, list[Completion]]:
    """Ask the judge (re-asking once when the answer has no score); the score record and the calls spent."""
    score, completions = await ask_score(client, judge, task.messages, task.seed)
    total = combined(completions)
    record = JudgeScore(
        candidate_set_id=task.candidate_set_id,
        label=task.label,
        judge=judge,  # type: ignore[arg-type]
        judge_model_id=client.spec(judge).model,
        prompt_version=prompt_version(task.rubric),
        dimension=task.dimension,
        score=score,
        raw=completions[-1].text,
        attempts=task.attempts_before + len(completions),
        input_tokens=total.input_tokens,
        output_tokens=total.output_tokens,
        cost_usd=total.cost,
    )
    return record, completions


async def run_judge(
    ws: Workspace,
    client: LLMClient,
    judge: str,
    *,
    all_sets: bool = False,
    budget_usd: float | None = None,
    concurrency: int | None = None,
    progress: bool = True,
    rubric: str = ROLE_PLAY,
) -> JudgeReport:
    """Score every candidate of the selected sets that has no parsed score under ``rubric`` yet; store
    each as it lands."""
    client.spec(judge)  # unknown judge -> UnknownModelError before any work
    tasks, report = plan_tasks(ws, judge, all_sets=all_sets, rubric=rubric)
    sem = asyncio.Semaphore(max(1, concurrency or client.spec(judge).concurrency))
    spent_at_start = client.total_cost()

    async def one(task: JudgeTask, advance: Callable[[object], None] | None) -> None:
        async with sem:
            if budget_usd is not None and client.total_cost() - spent_at_start >= budget_usd:
                report.budget_stopped = True
                return
            try:
                record, completions = await score_one(client, judge, task)
            except LLMError as exc:
                report.failed += 1
                if len(report.problems) < 10:
                    report.problems.append(f"{task.candidate_set_id} {task.label}: {exc}")
                if advance:
                    advance(exc)
                return
        ws.upsert(record)
        report.calls += sum(not c.cached for c in completions)
        report.cost_usd += sum(c.cost for c in completions)
        if record.score is None:
            report.unparseable += 1
        else:
            report.scored += 1
        if advance:
            advance(combined(completions))

    if progress and tasks:
        from charm_builder.llm.progress import llm_progress

        with llm_progress(f"judge {judge}", len(tasks)) as bar:
            await asyncio.gather(*(one(t, bar.advance) for t in tasks))
    else:
        await asyncio.gather(*(one(t, None) for t in tasks))
    client.flush()
    return report

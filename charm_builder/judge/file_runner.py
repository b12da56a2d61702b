"""Score the pairs of a preference *file* with an LLM judge: ``margin_judge`` = score(chosen) - score(rejected).

Each reply is rated on its own with the rubric's prompt (:mod:`charm_builder.judge.prompts`); identical
requests are asked once. Resumable through the LLM cache (the caller's database): an answer without a
score is re-asked once in the same conversation, then asked afresh with seed 1 and seed 2 (new cache
keys), so a rerun after a crash or a failed call asks only what is still missing, and a reply the
judge never scores costs at most three tries however often the command runs. A pair whose two replies
do not both have a score gets a null ``margin_judge`` (``charm-train rm --missing-margin`` decides
what training does with it).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from charm_builder.judge.pairs_file import Pair
from charm_builder.judge.prompts import ROLE_PLAY, rubric_messages
from charm_builder.judge.runner import ask_score, combined
from charm_builder.llm import LLMClient, LLMError

SEEDS: tuple[int | None, ...] = (None, 1, 2)  # tries per reply, each with one re-ask


@dataclass
class FileJudgeReport:
    """What scoring a preference file did."""

    judge: str
    rubric: str
    pairs: int = 0
    with_margin: int = 0
    requests: int = 0  # distinct replies to rate (identical prompt + reply asked once)
    unparseable: int = 0  # replies without a score after every try
    failed: int = 0  # replies whose call failed for good
    calls: int = 0  # chat requests that reached the provider (cache hits excluded)
    cost_usd: float = 0.0
    budget_stopped: bool = False
    problems: list[str] = field(default_factory=list)

    @property
    def without_margin(self) -> int:
        return self.pairs - self.with_margin


async def judge_pairs(
    client: LLMClient,
    judge: str,
    pairs: Sequence[Pair],
    *,
    rubric: str = ROLE_PLAY,
    budget_usd: float | None = None,
    concurrency: int | None = None,
    progress: bool = True,
) -> tuple[dict[tuple[str, int], float | None], FileJudgeReport]:
    """``(split, row) -> margin_judge`` for every pair (None where a score is missing), and the report."""
    client.spec(judge)  # unknown judge -> UnknownModelError before any work
    report = FileJudgeReport(judge=judge, rubric=rubric, pairs=len(pairs))
    requests: dict[str, list[dict[str, str]]] = {}
    keys: list[tuple[str, str]] = []
    for p in pairs:
        both = []
        for reply in (p.chosen, p.rejected):
            messages = rubric_messages(
                rubric, character=p.character, dialogue=p.turns, speaker="", reply=reply, dimension=p.dimension
            )
            key = json.dumps(messages, ensure_ascii=False)
            requests.setdefault(key, messages)
            both.append(key)
        keys.append((both[0], both[1]))
    report.requests = len(requests)
    scores: dict[str, float | None] = {}
    sem = asyncio.Semaphore(max(1, concurrency or client.spec(judge).concurrency))
    spent_at_start = client.total_cost()

    async def one(key: str, advance: Callable[[object], None] | None) -> None:
        async with sem:
            score, spent = None, []
            try:
                for seed in SEEDS:
                    if budget_usd is not None and client.total_cost() - spent_at_start >= budget_usd:
                        report.budget_stopped = True
                        return
                    score, completions = await ask_score(client, judge, requests[key], seed)
                    spent += completions
                    if score is not None:
                        break
            except LLMError as exc:
                report.failed += 1
                if len(report.problems) < 10:
                    report.problems.append(str(exc))
                if advance:
                    advance(exc)
                return
            finally:
                report.calls += sum(not c.cached for c in spent)
                report.cost_usd += sum(c.cost for c in spent)
        scores[key] = score
        report.unparseable += score is None
        if advance:
            advance(combined(spent))

    if progress and requests:
        from charm_builder.llm.progress import llm_progress

        with llm_progress(f"judge {judge} ({rubric})", len(requests)) as bar:
            await asyncio.gather(*(one(k, bar.advance) for k in requests))
    else:
        await asyncio.gather(*(one(k, None) for k in requests))
    client.flush()
    margins: dict[tuple[str, int], float | None] = {}
    for p, (kc, kr) in zip(pairs, keys, strict=True):
        sc, sr = scores.get(kc), scores.get(kr)
        margins[(p.split, p.row)] = None if sc is None or sr is None else float(sc - sr)
    report.with_margin = sum(v is not None for v in margins.values())
    return margins, report

"""LLM-as-a-judge for Charm-DialogueQuality: the 1-5 rubric prompt, one judgement, judge agreement.

A judge (any roster entry) sees the character, the dialogue context, the human-written user query,
the evaluated reply and the item's evaluation criteria for one dimension, and answers with JSON
``{"analysis": ..., "score": 1..5}``. Malformed output is re-asked once (``chat_json``); a judgement
that still fails, or whose call fails, is kept as a :class:`Judgement` with ``error`` set — it is
counted and reported, never dropped.

Agreement of several judges (``--judges A,B,C``): mean pairwise absolute score difference, mean
pairwise Spearman correlation, and Krippendorff's alpha (interval metric) over the items.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from schemas import DialogueQualityItem
from training.common.stats import spearman

if TYPE_CHECKING:
    from charm_builder.llm.client import LLMClient

DIMENSION_DESCRIPTIONS: dict[str, str] = {
    "consistency": "Consistency: does the reply understand and remember the conversation so far and respond "
    "coherently with it?",
    "knowledge": "Knowledge: does the reply agree with the character's background knowledge and established facts?",
    "behavior": "Behavior: do the actions, expressions and tone reflect the character's personality?",
    "empathy": "Empathy: does the reply notice and respond well to the user's feelings?",
    "diversity": "Diversity: is the reply rich in content, showing varied thoughts and expressions?",
    "fluency": "Fluency: is the reply natural, fluent conversation?",
}

JUDGE_SYSTEM = (
    "You are a strict, fair evaluator of role-playing dialogue agents. You judge one reply of an AI playing a "
    "character, on one dimension, against the given evaluation criteria, on a 1-5 scale: 1 = very poor, "
    "2 = poor, 3 = acceptable, 4 = good, 5 = excellent. Write a short analysis first, then the score."
)


class JudgeVerdict(BaseModel):
    """What a judge must return."""

    analysis: str = Field(description="Brief reasoning about how well the reply meets the criteria")
    score: int = Field(ge=1, le=5, description="Integer score from 1 (very poor) to 5 (excellent)")


@dataclass
class Judgement:
    """One judge's verdict on one reply; ``score`` is None and ``error`` set when judging failed."""

    item_id: str
    judge: str
    dimension: str
    language: str
    score: int | None
    analysis: str = ""
    error: str | None = None
    calls: int = 0
    cost: float = 0.0


def judge_messages(item: DialogueQualityItem, reply: str) -> list[dict[str, str]]:
    """The judge prompt for one item and one reply."""
    character = item.system_prompt or f"(character id: {item.character_id})"
    context = "\n".join(f"{t.speaker or t.role}: {t.text}" for t in item.context) or "(no earlier turns)"
    criteria = "\n".join(f"- {c}" for c in item.criteria) or "- (none given; use the dimension description)"
    user = (
        f"## Character\n{character}\n\n## Conversation so far\n{context}\n\n"
        f"## User query\n{item.user_query}\n\n## Reply to evaluate\n{reply}\n\n"
        f"## Dimension\n{DIMENSION_DESCRIPTIONS.get(item.dimension, item.dimension)}\n\n"
        f"## Evaluation criteria\n{criteria}\n\n"
        "Evaluate the reply on this dimension only. Give your analysis and an integer score from 1 to 5."
    )
    return [{"role": "system", "content": JUDGE_SYSTEM}, {"role": "user", "content": user}]


async def judge_reply(client: LLMClient, judge: str, item: DialogueQualityItem, reply: str, seed: int = 0) -> Judgement:
    """Ask ``judge`` for a verdict (one re-ask on malformed JSON). Failures come back as ``error``."""
    from charm_builder.llm.errors import JSONOutputError, LLMCallError
    from charm_builder.llm.jsonout import chat_json

    base = {"item_id": item.id, "judge": judge, "dimension": item.dimension, "language": item.language}
    try:
        verdict, completions = await chat_json(client, judge, judge_messages(item, reply), JudgeVerdict, seed=seed)
    except JSONOutputError as exc:
        spent = getattr(exc, "completions", None) or []
        return Judgement(
            **base,
            score=None,
            error=f"malformed judge output: {exc}",
            calls=len(spent) or 2,
            cost=sum(getattr(c, "cost", 0.0) for c in spent),
        )
    except LLMCallError as exc:
        return Judgement(**base, score=None, error=f"judge call failed: {exc}")
    return Judgement(
        **base,
        score=verdict.score,
        analysis=verdict.analysis,
        calls=len(completions),
        cost=sum(c.cost for c in completions),
    )


async def judge_replies(
    client: LLMClient,
    asks: Iterable[tuple[str, DialogueQualityItem, str]],
    on_judgement: Callable[[int], None] = lambda n: None,
    seed: int = 0,
) -> list[Judgement]:
    """:func:`judge_reply` for every ``(judge, item, reply)`` concurrently, verdicts in that order;
    ``on_judgement(1)`` after each."""

    async def one(judge: str, item: DialogueQualityItem, reply: str) -> Judgement:
        try:
            return await judge_reply(client, judge, item, reply, seed=seed)
        finally:
            on_judgement(1)

    return list(await asyncio.gather(*(one(*ask) for ask in asks)))


# ------------------------------------------------------------------------------------- agreement


def krippendorff_alpha_interval(units: Sequence[Sequence[float]]) -> float | None:
    """Krippendorff's alpha with the interval metric. ``units``: the scores each item got (any count).

    Items with fewer than two scores are not pairable and are ignored. None when undefined (no
    pairable items, or every score identical).
    """
    pairable = [list(u) for u in units if len(u) >= 2]
    n = sum(len(u) for u in pairable)
    if n < 2:
        return None
    d_o = sum(sum((a - b) ** 2 for a, b in itertools.permutations(u, 2)) / (len(u) - 1) for u in pairable) / n
    values = [v for u in pairable for v in u]
    d_e = sum((a - b) ** 2 for a, b in itertools.permutations(values, 2)) / (n * (n - 1))
    if d_e == 0:
        return None
    return 1.0 - d_o / d_e


def agreement(judgements: Sequence[Judgement]) -> dict[str, Any]:
    """Agreement between the judges over the items each pair both scored (failed judgements excluded)."""
    by_judge: dict[str, dict[str, int]] = {}
    for j in judgements:
        if j.score is not None:
            by_judge.setdefault(j.judge, {})[j.item_id] = j.score
    judges = sorted({j.judge for j in judgements})
    pairs: dict[str, dict[str, Any]] = {}
    diffs: list[float] = []
    rhos: list[float] = []
    for a, b in itertools.combinations(judges, 2):
        common = sorted(set(by_judge.get(a, {})) & set(by_judge.get(b, {})))
        xs = [float(by_judge[a][i]) for i in common]
        ys = [float(by_judge[b][i]) for i in common]
        mad = sum(abs(x - y) for x, y in zip(xs, ys, strict=True)) / len(common) if common else None
        rho = spearman(xs, ys)
        pairs[f"{a} vs {b}"] = {"n": len(common), "mean_abs_diff": mad, "spearman": rho}
        if mad is not None:
            diffs.append(mad)
        if rho is not None:
            rhos.append(rho)
    items = sorted({i for scores in by_judge.values() for i in scores})
    units = [[float(by_judge[j][i]) for j in judges if i in by_judge.get(j, {})] for i in items]
    return {
        "judges": judges,
        "mean_abs_diff": sum(diffs) / len(diffs) if diffs else None,
        "spearman": sum(rhos) / len(rhos) if rhos else None,
        "krippendorff_alpha_interval": krippendorff_alpha_interval(units),
        "pairs": pairs,
    }


def item_scores(judgements: Sequence[Judgement]) -> Mapping[str, float]:
    """Each item's score: the mean over the judges that scored it (items no judge scored are absent)."""
    acc: dict[str, list[int]] = {}
    for j in judgements:
        if j.score is not None:
            acc.setdefault(j.item_id, []).append(j.score)
    return {i: sum(s) / len(s) for i, s in acc.items()}

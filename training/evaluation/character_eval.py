"""CharacterEval (Tu et al., 2024), the half of the paper's Table 4 that is not Charm-DialogueQuality.

Details: docs/design.md#charactereval.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from charm_kernel.errors import CharmError, InputFormatError
from schemas import DialogueQualityItem, Message
from training.common.stats import BOOTSTRAP, Item, Weights, mean_weights
from training.evaluation.dialogue_quality import EvaluationInputError, Reply, Responder
from training.evaluation.judges import Judgement, item_scores, judge_replies
from training.evaluation.tables import add_judge_statistics

TEST_DATA, PROFILES, ID2METRIC = "test_data.jsonl", "character_profiles.json", "id2metric.jsonl"
GROUPS: dict[str, str] = {"attr": "Attr.", "conv": "Conv.", "know": "Know."}
AVG = "Avg."
CHARACTER_RM_NOTE = (
    "CharacterEval's own scorer is CharacterRM (BaichuanCharRM), a trained reward model that "
    "is not shipped here; these 1-5 scores come from LLM judges ({judges}) and are comparable "
    "between models evaluated this way, not with published CharacterEval numbers."
)


@dataclass(frozen=True)
class Metric:
    zh: str
    group: str  # key of GROUPS
    criterion: str


# metric_en (as in id2metric.jsonl) -> name, Table 4 group, what the judge checks
METRICS: dict[str, Metric] = {
    "Humanlikeness": Metric(
        "类人程度", "attr", "回复像真人一样自然地说话，而不像AI助手（不说教、不列清单、不自称AI）。"
    ),
    "Communication_skills": Metric("交流技巧", "attr", "回复体现情商与交流技巧，能推动对话、回应得体。"),
    "Diversity": Metric("表现多样性", "attr", "回复的表达丰富生动、不刻板重复，语言和动作描写多样。"),
    "Empathy": Metric("共情度", "attr", "回复能察觉并回应对方的情绪与处境。"),
    "Fluency": Metric("对话流利度", "conv", "回复通顺流畅、合乎语法、易于理解。"),
    "Coherence": Metric("对话连贯性", "conv", "回复紧扣上一句和当前话题，前后衔接自然。"),
    "Consistency": Metric("对话一致性", "conv", "回复与角色在对话中此前说过的话保持一致，不自相矛盾。"),
    "Exposure": Metric("知识曝光度", "know", "回复中展现了与角色相关的知识与信息（信息量）。"),
    "Accuracy": Metric("知识准确率", "know", "回复中涉及的角色知识准确，与角色资料和原作相符。"),
    "Hallucination": Metric(
        "知识幻觉性", "know", "回复没有编造角色不可能知道的知识（如超出其时代或身份的信息）；幻觉越少分数越高。"
    ),
    "Behavior": Metric("行为一致性", "know", "回复中的动作、神态描写（如括号内的描写）符合角色的性格和身份。"),
    "Utterance": Metric("言语一致性", "know", "回复的说话风格、语气和口头禅符合角色。"),
}


@dataclass
class CEExample:
    id: str
    role: str
    novel_name: str
    system_prompt: str
    turns: list[Message]  # the context; the last turn is the line the model answers
    metrics: list[str]

    # CharacterEval examples are not Charm items (their "dimension" is a CharacterEval metric, the
    # context may be empty): the items below only carry them through the shared reply and judge
    # prompts, so they are built without validation.

    def reply_item(self) -> DialogueQualityItem:
        """What the evaluated model sees (``dialogue_quality.reply_messages``): speaker names kept in the text."""
        named = [Message(role=t.role, text=f"{t.speaker}：{t.text}") for t in self.turns]
        return DialogueQualityItem.model_construct(
            id=self.id,
            dialogue_id=self.id,
            character_id=self.role,
            context=named[:-1],
            user_query=named[-1].text,
            dimension="reply",
            criteria=[],
            language="zh",
            system_prompt=self.system_prompt,
        )

    def judge_item(self, metric: str) -> DialogueQualityItem:
        m = METRICS[metric]
        last = self.turns[-1]
        return DialogueQualityItem.model_construct(
            id=f"{self.id}/{metric}",
            dialogue_id=self.id,
            character_id=self.role,
            context=self.turns[:-1],
            user_query=f"{last.speaker}：{last.text}",
            dimension=metric,
            criteria=[f"{m.zh}（{metric}）：{m.criterion}"],
            language="zh",
            system_prompt=self.system_prompt,
        )


@dataclass
class CERun:
    model: str
    judges: list[str]
    examples: list[CEExample]
    replies: list[Reply]
    judgements: list[Judgement] = field(default_factory=list)
    sparse: bool = True  # metrics per example from id2metric.jsonl


# ----------------------------------------------------------------------------------------- loading


def _records(path: Path) -> list[tuple[str, Any]]:
    from charm_builder.importers.common import read_json, read_json_lines

    if path.read_text(encoding="utf-8").lstrip().startswith("["):
        return [(f"record {i}", r) for i, r in enumerate(read_json(path), 1)]
    return [(f"line {n}", r) for n, r in read_json_lines(path)]


def load_character_eval(
    folder: str | os.PathLike[str], limit: int | None = None, all_metrics: bool = False
) -> tuple[list[CEExample], bool]:
    """The test examples of a CharacterEval folder and whether their metrics come from ``id2metric.jsonl``."""
    from charm_builder.importers import load_file
    from charm_builder.importers.charactereval import parse_context
    from charm_builder.importers.common import read_json, require

    root = Path(folder)
    if not root.is_dir():
        raise EvaluationInputError(
            f"--data {root}: not a folder (expected CharacterEval's data/ with {TEST_DATA} and {PROFILES})"
        )
    for name in (TEST_DATA, PROFILES):
        if not (root / name).is_file():
            raise EvaluationInputError(f"{root / name}: not found (CharacterEval's data/ folder has it)")
    try:
        characters = {c.name.zh: c for c in load_file(root / PROFILES, "charactereval-profiles").records}
        id2metric = None
        if (root / ID2METRIC).is_file() and not all_metrics:
            id2metric = read_json(root / ID2METRIC)
            if not isinstance(id2metric, dict):
                raise InputFormatError(str(root / ID2METRIC), "file", None, "expected a JSON object id -> metrics")
        path = root / TEST_DATA
        examples: list[CEExample] = []
        for where, rec in _records(path):
            if limit is not None and len(examples) >= limit:
                break
            ex_id = str(require(path, where, rec, "id"))
            role = str(require(path, where, rec, "role")).strip()
            if role not in characters:
                raise InputFormatError(str(path), where, "role", f"{role!r} has no profile in {PROFILES}")
            turns = [Message(**t) for t in parse_context(path, where, role, require(path, where, rec, "context"))]
            if turns[-1].role == "character":
                raise InputFormatError(str(path), where, "context", f"the last line is by {role}: nothing to answer")
            metrics = list(METRICS)
            if id2metric is not None:
                entry = id2metric.get(ex_id)
                if not isinstance(entry, list) or not entry:
                    raise InputFormatError(
                        str(root / ID2METRIC),
                        f"id {ex_id}",
                        None,
                        "no metrics for this test example (pass --all-metrics to score all)",
                    )
                metrics = [str(m[0] if isinstance(m, list) else m) for m in entry]
                unknown = [m for m in metrics if m not in METRICS]
                if unknown:
                    raise InputFormatError(
                        str(root / ID2METRIC),
                        f"id {ex_id}",
                        None,
                        f"unknown metric {unknown[0]!r} (known: {', '.join(METRICS)})",
                    )
            examples.append(
                CEExample(
                    ex_id, role, str(rec.get("novel_name", "")), characters[role].system_prompt.zh or "", turns, metrics
                )
            )
    except CharmError as exc:
        raise EvaluationInputError(str(exc)) from exc
    if not examples:
        raise EvaluationInputError(f"{path}: no examples")
    ids = [e.id for e in examples]
    if len(set(ids)) != len(ids):
        raise EvaluationInputError(f"{path}: duplicate id {next(i for i in ids if ids.count(i) > 1)!r}")
    return examples, id2metric is not None


def first_line(text: str) -> str:
    """CharacterEval keeps only the first line of a reply; we keep the first non-empty one."""
    return next((line.strip() for line in text.splitlines() if line.strip()), "")


# ------------------------------------------------------------------------------------------ the run


async def evaluate_character_eval(
    examples: Sequence[CEExample],
    responder: Responder,
    judges: Sequence[str],
    client: Any,
    on_reply: Callable[[int], None] = lambda n: None,
    on_judgement: Callable[[int], None] = lambda n: None,
    seed: int = 0,
    sparse: bool = True,
) -> CERun:
    """One reply per example, then every judge scores it on each of the example's metrics."""
    raw = await responder.replies([e.reply_item() for e in examples], on_reply)
    replies = [Reply(r.item_id, r.model, None if r.text is None else first_line(r.text), r.error) for r in raw]
    by_id = {r.item_id: r for r in replies}

    asks = [
        (j, ex.judge_item(m), by_id[ex.id].text or "")
        for ex in examples
        if by_id[ex.id].text is not None
        for m in ex.metrics
        for j in judges
    ]
    judgements = await judge_replies(client, asks, on_judgement, seed)
    return CERun(responder.name, list(judges), list(examples), replies, judgements, sparse)


def judgement_count(examples: Sequence[CEExample], judges: Sequence[str]) -> int:
    return sum(len(e.metrics) for e in examples) * len(judges)


# ------------------------------------------------------------------------------------------ summary


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def summarize(run: CERun, resamples: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Per metric: mean 1-5 score (judge mean per item), judged and failed counts; per group: the mean of
    its metric means; Avg.: the mean of the groups. With ``resamples`` > 0: a 95 % bootstrap interval for
    every column and metric (examples' scores resampled within each metric; ``lo``/``hi`` next to a
    metric's mean, ``intervals`` per CSV column, ``bootstrap`` saying how)."""
    scores = item_scores(run.judgements)
    metrics: dict[str, dict[str, Any]] = {}
    for name in METRICS:
        asked = [e for e in run.examples if name in e.metrics]
        vals = [scores[f"{e.id}/{name}"] for e in asked if f"{e.id}/{name}" in scores]
        metrics[name] = {"mean": _mean(vals), "n": len(vals), "failed": len(asked) - len(vals)}
    groups: dict[str, float | None] = {}
    for key, title in GROUPS.items():
        groups[title] = _mean(
            [v["mean"] for m, v in metrics.items() if METRICS[m].group == key and v["mean"] is not None]
        )
    groups[AVG] = _mean([v for v in groups.values() if v is not None])
    summary: dict[str, Any] = {
        "model": run.model,
        "judges": run.judges,
        "columns": groups,
        "metrics": metrics,
        "examples": len(run.examples),
        "sparse_metrics": run.sparse,
        "failed_replies": sum(r.text is None for r in run.replies),
        "judgements": len(run.judgements),
        "failed_judgements": sum(j.score is None for j in run.judgements),
        "judge_cost": sum(j.cost for j in run.judgements),
        "note": CHARACTER_RM_NOTE.format(judges=", ".join(run.judges)),
    }
    weights = column_weights(metrics)
    found = add_judge_statistics(summary, run, bool(scores), ce_items, weights, resamples, seed, "within each metric")
    for name, cell in metrics.items():
        if (iv := found.get(f"{name} zh")) is not None:
            cell |= {"lo": iv.lo, "hi": iv.hi}
    return summary


def ce_items(run: CERun) -> list[Item]:
    """Each judged (example, metric) as a bootstrap item: stratum = the metric, id = the example."""
    scores = item_scores(run.judgements)
    return [Item(m, e.id, scores[f"{e.id}/{m}"]) for e in run.examples for m in e.metrics if f"{e.id}/{m}" in scores]


def column_weights(metrics: dict[str, dict[str, Any]]) -> Weights:
    """Each CSV column (``Attr. zh`` ... ``Avg. zh``, ``Fluency zh`` ...) as weights of the metrics, the way
    :func:`summarize` averages them (metrics without scores left out)."""
    weights: Weights = {f"{m} zh": {m: 1.0} for m, v in metrics.items() if v["n"]}
    groups = []
    for key, title in GROUPS.items():
        present = [{m: 1.0} for m, v in metrics.items() if METRICS[m].group == key and v["n"]]
        if present:
            weights[f"{title} zh"] = mean_weights(*present)
            groups.append(weights[f"{title} zh"])
    if groups:
        weights[f"{AVG} zh"] = mean_weights(*groups)
    return weights

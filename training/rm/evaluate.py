"""Pairwise accuracy on a ``roleReward`` export, laid out like the paper's Table 2.

Rows: ``id``, ``context`` (messages), ``system_prompt``, ``chosen``, ``rejected``, ``dimension`` in
{knowledge_consistency, attractiveness}, ``language`` in {zh, en}; rows of charm-build's export
(every column of :class:`schemas.RoleRewardItem`) are validated against that schema. A pair counts
as correct when the scorer prefers ``chosen``:

* a reward model: ``r(chosen) > r(rejected)`` (ties are wrong);
* a :class:`PairwiseJudge` (e.g. an LLM with a pairwise prompt): asked in both orders to cancel
  position bias; each order scores 1/2, so a pair is worth 0, 0.5 or 1.

Per-dimension ``avg.`` is the mean of zh and en (as in the paper); ``Avg.`` is the mean of the
dimension averages. Every cell gets a 95 % percentile bootstrap interval: pairs are resampled within
each dimension x language cell (its size fixed), and all columns come from the same resamples.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import re
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from datasets import Dataset

from charm_kernel.formatting import table_row
from schemas import (
    LANGUAGES,
    ROLE_REWARD_DIMENSIONS,
    ROLE_REWARD_SCORED_COLUMNS,
    RoleRewardItem,
    RowError,
    required_columns,
    to_chat,
    validate_rows,
)
from training.common.reporting import (
    bootstrap_block,
    fmt_cell,
    interval_note,
    intervals_json,
    write_atomically,
    write_items,
    write_jsonl,
    write_table_files,
)
from training.common.stats import BOOTSTRAP, Item, Weights, cell_intervals, mean_weights
from training.rm.data import DataError, load_rows, require_columns

# Table 2 column titles of the roleReward dimensions.
DIMENSIONS: dict[str, str] = dict(
    zip(ROLE_REWARD_DIMENSIONS, ("Charm-Consistency", "Charm-Attractiveness"), strict=True)
)
ROLE_REWARD_COLUMNS = ROLE_REWARD_SCORED_COLUMNS

Messages = list[dict[str, str]]


@runtime_checkable
class PairwiseJudge(Protocol):
    """Anything that says which of two replies to a role-play context is better.

    ``prefer`` may be sync or async and returns ``"A"`` or ``"B"``. ``context`` is the message list
    (character system prompt first, then the dialogue up to the last user turn).
    """

    def prefer(self, context: Messages, a: str, b: str) -> str | Awaitable[str]: ...


JUDGE_PROMPT = (
    "You are judging a role-play conversation. The character's profile is in the system message and "
    "the dialogue so far follows. Two candidate replies from the character are given. Pick the reply "
    "that is more in character, consistent with the character's knowledge, and more engaging.\n\n"
    "Dialogue:\n{dialogue}\n\nReply A:\n{a}\n\nReply B:\n{b}\n\n"
    "Answer with a single letter: A or B."
)


class PromptPairwiseJudge:
    """Adapts a chat-completion callable to :class:`PairwiseJudge` with a pairwise prompt.

    ``complete(messages) -> str`` (sync or async) is any LLM call, e.g. a ``charm_builder.llm``
    provider. The answer is parsed for a standalone ``A`` or ``B``; anything else counts as wrong.
    """

    def __init__(self, complete: Callable[[Messages], str | Awaitable[str]], prompt: str = JUDGE_PROMPT) -> None:
        self.complete = complete
        self.prompt = prompt

    def build_messages(self, context: Messages, a: str, b: str) -> Messages:
        dialogue = "\n".join(f"[{m['role']}] {m['content']}" for m in context)
        return [{"role": "user", "content": self.prompt.format(dialogue=dialogue, a=a, b=b)}]

    async def prefer(self, context: Messages, a: str, b: str) -> str:
        answer = self.complete(self.build_messages(context, a, b))
        if inspect.isawaitable(answer):
            answer = await answer
        match = re.search(r"\b([AB])\b", str(answer).strip().upper())
        return match.group(1) if match else "?"


def llm_judge(client: Any, model: str, max_tokens: int = 8) -> PromptPairwiseJudge:
    """A :class:`PromptPairwiseJudge` on roster entry ``model`` of a ``charm_builder.llm.LLMClient``
    (greedy, a few tokens: the answer is one letter)."""

    async def complete(messages: Messages) -> str:
        return (await client.chat(model, messages, {"max_tokens": max_tokens, "temperature": 0.0})).text

    return PromptPairwiseJudge(complete)


@dataclass
class PairResult:
    id: str
    dimension: str
    language: str
    correct: float
    chosen_score: float | None = None
    rejected_score: float | None = None


# ----------------------------------------------------------------------------------- loading


def load_role_reward(path: str | os.PathLike[str], split: str | None = None) -> tuple[Dataset, str]:
    """Load and validate a roleReward export (any format :func:`load_rows` reads; all splits by default)."""
    rows, source = load_rows(path, split)
    require_columns(rows, ROLE_REWARD_COLUMNS, source)
    if set(required_columns(RoleRewardItem)) <= set(rows.column_names):  # charm-build's export: the whole contract
        try:
            validate_rows(RoleRewardItem, rows, source)
        except RowError as exc:
            raise DataError(str(exc)) from None
        return rows, source
    for i, row in enumerate(rows):  # other role-play pairs (e.g. chat-format contexts): the columns scored
        if row["dimension"] not in DIMENSIONS:
            raise DataError(f"{source} row {i}: dimension {row['dimension']!r} not in {', '.join(DIMENSIONS)}")
        if row["language"] not in LANGUAGES:
            raise DataError(f"{source} row {i}: language {row['language']!r} not in {', '.join(LANGUAGES)}")
    return rows, source


def context_messages(row: dict[str, Any]) -> Messages:
    """System prompt + dialogue context as one message list (no duplicate system message)."""
    ctx = row["context"]
    # chat messages ({role, content}) or charm-build's roleReward turns ({role: user|character, speaker, text})
    msgs: Messages = [{"role": "user", "content": ctx}] if isinstance(ctx, str) else to_chat(ctx or [])
    if row.get("system_prompt") and not (msgs and msgs[0]["role"] == "system"):
        msgs = [{"role": "system", "content": row["system_prompt"]}, *msgs]
    return msgs


# -------------------------------------------------------------------------------- evaluation


def evaluate_reward_model(
    model: Any,
    rows: Dataset,
    batch_size: int = 8,
    max_length: int = 2048,
    on_progress: Callable[[int], None] | None = None,
) -> list[PairResult]:
    """Score chosen and rejected of every row with an :class:`ActAdaptiveRewardModel`."""
    scores = score_pairs(
        model,
        [(context_messages(row), row["chosen"], row["rejected"]) for row in rows],
        batch_size=batch_size,
        max_length=max_length,
        on_progress=on_progress,
    )
    return [
        PairResult(str(row["id"]), row["dimension"], row["language"], float(c > r), c, r)
        for row, (c, r) in zip(rows, scores, strict=True)
    ]


def score_pairs(
    model: Any,
    pairs: Sequence[tuple[Messages, str, str]],
    batch_size: int = 8,
    max_length: int = 2048,
    on_progress: Callable[[int], None] | None = None,
) -> list[tuple[float, float]]:
    """Rewards ``(r(context, a), r(context, b))`` for each ``(context, a, b)``; ``model.score`` does the work
    (any object with that method), ``batch_size`` pairs at a time, progress counted in pairs."""
    out: list[tuple[float, float]] = []
    for start in range(0, len(pairs), batch_size):
        chunk = pairs[start : start + batch_size]
        items = [item for ctx, a, b in chunk for item in ((ctx, a), (ctx, b))]
        scores = model.score(items, batch_size=2 * batch_size, max_length=max_length)
        out += [(float(scores[2 * j]), float(scores[2 * j + 1])) for j in range(len(chunk))]
        if on_progress:
            on_progress(len(chunk))
    return out


async def evaluate_judge_async(
    judge: PairwiseJudge,
    rows: Dataset,
    concurrency: int = 8,
    on_progress: Callable[[int], None] | None = None,
) -> list[PairResult]:
    """Ask ``judge`` about every row in both orders (chosen as A, then chosen as B)."""
    sem = asyncio.Semaphore(concurrency)

    async def ask(ctx: Messages, a: str, b: str) -> str:
        async with sem:
            ans = judge.prefer(ctx, a, b)
            if inspect.isawaitable(ans):
                ans = await ans
            return str(ans).strip().upper()

    async def one(row: dict[str, Any]) -> PairResult:
        ctx = context_messages(row)
        first, second = await asyncio.gather(
            ask(ctx, row["chosen"], row["rejected"]), ask(ctx, row["rejected"], row["chosen"])
        )
        if on_progress:
            on_progress(1)
        return PairResult(
            str(row["id"]), row["dimension"], row["language"], 0.5 * (first == "A") + 0.5 * (second == "B")
        )

    return list(await asyncio.gather(*(one(row) for row in rows)))


def evaluate_judge(judge: PairwiseJudge, rows: Dataset, concurrency: int = 8) -> list[PairResult]:
    """Sync wrapper around :func:`evaluate_judge_async`."""
    return asyncio.run(evaluate_judge_async(judge, rows, concurrency))


# ----------------------------------------------------------------------------------- reports


def summarize(results: Sequence[PairResult], resamples: int = BOOTSTRAP, seed: int = 0) -> dict[str, Any]:
    """Accuracy (%) per dimension x language, per-dimension avg. and overall Avg. (None if no rows).

    With ``resamples`` > 0 the summary also holds ``intervals`` (a 95 % percentile bootstrap interval
    per table column; pairs resampled within each dimension x language cell, ``seed`` fixed) and
    ``bootstrap`` (how, and each column's cell weights)."""
    table: dict[str, Any] = {}
    dim_avgs = []
    for dim in DIMENSIONS:
        cells: dict[str, Any] = {}
        for lang in LANGUAGES:
            sel = [r.correct for r in results if r.dimension == dim and r.language == lang]
            cells[lang] = 100.0 * sum(sel) / len(sel) if sel else None
            cells[f"n_{lang}"] = len(sel)
        present = [cells[lang] for lang in LANGUAGES if cells[lang] is not None]
        cells["avg"] = sum(present) / len(present) if present else None
        if cells["avg"] is not None:
            dim_avgs.append(cells["avg"])
        table[dim] = cells
    table["avg"] = sum(dim_avgs) / len(dim_avgs) if dim_avgs else None
    table["n"] = len(results)
    if resamples > 0 and results:
        items = pair_items(results)
        weights = column_weights(table)
        table["intervals"] = intervals_json(cell_intervals(items, weights, resamples, seed))
        table["bootstrap"] = bootstrap_block(resamples, seed, "within each dimension x language cell", items, weights)
    return table


def stratum(dimension: str, language: str) -> str:
    return f"{dimension}/{language}"


def pair_items(results: Sequence[PairResult]) -> list[Item]:
    """Each pair as a bootstrap item: its dimension x language cell, id and accuracy in % (0, 50 or 100)."""
    return [Item(stratum(r.dimension, r.language), r.id, 100.0 * r.correct) for r in results]


def column_weights(summary: dict[str, Any]) -> Weights:
    """Each Table 2 column (``Charm-Consistency zh`` ... ``Avg.``) as weights of its cells, the way
    :func:`summarize` averages them (cells without pairs left out)."""
    weights: Weights = {}
    dims = []
    for dim, title in DIMENSIONS.items():
        langs = [{stratum(dim, lang): 1.0} for lang in LANGUAGES if summary[dim][lang] is not None]
        for lang in LANGUAGES:
            if summary[dim][lang] is not None:
                weights[f"{title} {lang}"] = {stratum(dim, lang): 1.0}
        if langs:
            weights[f"{title} avg."] = mean_weights(*langs)
            dims.append(weights[f"{title} avg."])
    if dims:
        weights["Avg."] = mean_weights(*dims)
    return weights


def table_rows(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """CSV header (``Charm-Consistency zh`` ... ``Avg.``, then ``COLUMN lo``/``COLUMN hi`` bounds) and cells."""
    cells = [
        (f"{title} {label}", summary[dim][key])
        for dim, title in DIMENSIONS.items()
        for key, label in (("zh", "zh"), ("en", "en"), ("avg", "avg."))
    ]
    return table_row([*cells, ("Avg.", summary["avg"])], summary.get("intervals"))


def _cell(summary: dict[str, Any], column: str, value: float | None) -> str:
    return fmt_cell(value, (summary.get("intervals") or {}).get(column))


def to_markdown(summary: dict[str, Any], method: str) -> str:
    header, cells = [], []
    for dim, title in DIMENSIONS.items():
        for key, label in (("zh", "zh"), ("en", "en"), ("avg", "avg.")):
            header.append(f"{title} {label}")
            cells.append(_cell(summary, f"{title} {label}", summary[dim][key]))
    header.append("Avg.")
    cells.append(_cell(summary, "Avg.", summary["avg"]))
    lines = [
        "| Method | " + " | ".join(header) + " |",
        "|" + "---|" * (len(header) + 1),
        f"| {method} | " + " | ".join(cells) + " |",
    ]
    counts = ", ".join(f"{DIMENSIONS[d]} {lang}: {summary[d][f'n_{lang}']}" for d in DIMENSIONS for lang in LANGUAGES)
    note = interval_note(summary.get("bootstrap"))
    return (
        "\n".join(lines)
        + f"\n\nPairwise accuracy (%) on Charm-RoleReward; pairs per cell: {counts}.\n"
        + (f"{note}\n" if note else "")
    )


def print_table(summary: dict[str, Any], method: str, console: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for dim, title in DIMENSIONS.items():
        t = Table(title=title)
        for col in ("Method", "zh", "en", "avg."):
            t.add_column(col, justify="left" if col == "Method" else "right")
        s = summary[dim]
        t.add_row(method, *[_cell(summary, f"{title} {k}", s[k.rstrip(".")]) for k in ("zh", "en", "avg.")])
        console.print(t)
    console.print(f"Average over both dimensions: {_cell(summary, 'Avg.', summary['avg'])}  ({summary['n']} pairs)")
    note = interval_note(summary.get("bootstrap"))
    if note:
        console.print(note, highlight=False)


def write_report(
    out_dir: str | os.PathLike[str], summary: dict[str, Any], results: Sequence[PairResult], method: str
) -> Path:
    """Write ``results.md``, ``results.csv``, ``summary.json``, ``pairs.jsonl`` and, with intervals,
    ``items.jsonl`` (temp folder + rename)."""

    def fill(tmp: Path) -> None:
        header, cells = table_rows(summary)
        write_table_files(tmp, to_markdown(summary, method), header, cells, method, summary)
        write_jsonl(tmp / "pairs.jsonl", [asdict(r) for r in results])
        if summary.get("intervals"):
            write_items(tmp, pair_items(results))

    return write_atomically(out_dir, fill)

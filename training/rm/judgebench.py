"""JudgeBench (Tan et al., 2025), scored the way its authors score a reward model.

Details: docs/design.md#judgebench.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from charm_kernel.errors import InputFormatError
from training.common.stats import mean_weights, weighted_weights
from training.rm.benchmarks import Benchmark, BenchOutcome, BenchPair, accuracy, read_records, text_field

# source prefix -> the paper's Table 1 column
CATEGORIES: dict[str, str] = {
    "mmlu-pro": "Knowledge",
    "livebench-reasoning": "Reasoning",
    "livebench-math": "Math",
    "livecodebench": "Coding",
}
LABELS = {"A>B": "A", "B>A": "B"}
OTHER = "other sources"  # pairs whose source is in no category
AVG_PAIRS = "Avg. (pairs)"  # JudgeBench's overall score; the paper's baseline rows
AVG_CATEGORIES = "Avg. (categories)"  # mean of the four categories; the paper's BT / GPT-Margin / AAM rows
AVERAGES: dict[str, str] = {
    AVG_PAIRS: "accuracy over all pairs (JudgeBench's overall score; compare with the paper's GPT-4o ... Tulu3 rows)",
    AVG_CATEGORIES: "unweighted mean of the category accuracies (compare with the paper's BT, GPT-Margin and AAM rows)",
}


def category_of(source: str) -> str | None:
    return next((title for prefix, title in CATEGORIES.items() if source.startswith(prefix)), None)


def load(path: Path) -> list[BenchPair]:
    rows, src = read_records(path)
    pairs = []
    for i, row in enumerate(rows):
        label = text_field(src, i, row, "label").strip()
        if label not in LABELS:
            raise InputFormatError(src, f"row {i}", "label", f"{label!r} is not one of {', '.join(LABELS)}")
        pair_id = row.get("pair_id", i)
        pairs.append(
            BenchPair(
                str(pair_id),
                text_field(src, i, row, "source"),
                [{"role": "user", "content": text_field(src, i, row, "question")}],
                text_field(src, i, row, "response_A"),
                text_field(src, i, row, "response_B"),
                LABELS[label],
            )
        )
    return pairs


def summarize(outcomes: Sequence[BenchOutcome]) -> dict[str, Any]:
    """Accuracy (%) per category, over all pairs and as the mean of the categories."""
    columns: dict[str, float | None] = {}
    categories: dict[str, dict[str, Any]] = {}
    for title in CATEGORIES.values():
        sel = [o for o in outcomes if category_of(o.category) == title]
        columns[title] = accuracy(sel)
        categories[title] = {"n": len(sel), "accuracy": columns[title]}
    other = [o for o in outcomes if category_of(o.category) is None]
    if other:
        categories[OTHER] = {"n": len(other), "accuracy": accuracy(other)}
    present = [v for title in CATEGORIES.values() if (v := columns[title]) is not None]
    columns[AVG_PAIRS] = accuracy(outcomes)
    columns[AVG_CATEGORIES] = sum(present) / len(present) if present else None
    note = " ".join(f"{name}: {text}." for name, text in AVERAGES.items())
    if len(present) < len(CATEGORIES):
        note += f" {AVG_CATEGORIES} is over the {len(present)} categories with pairs."
    if other:
        note += f" {len(other)} pair(s) from other sources count in {AVG_PAIRS} only."
    return {"columns": columns, "categories": categories, "averages": AVERAGES, "n": len(outcomes), "note": note}


def stratum(outcome: BenchOutcome) -> str:
    """The bootstrap stratum of a pair: its category, or ``other sources``."""
    return category_of(outcome.category) or OTHER


def weights(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each column as weights of the categories (bootstrap strata). With pairs resampled within each
    category, ``Avg. (pairs)`` weighs a category by its pair count (every pair counts once) and
    ``Avg. (categories)`` is the plain mean of the present categories: both from the same resamples."""
    cats = summary["categories"]
    out: dict[str, dict[str, float]] = {t: {t: 1.0} for t in CATEGORIES.values() if cats[t]["n"]}
    if out:
        out[AVG_CATEGORIES] = mean_weights(*out.values())
    counted = [(c, v["n"]) for c, v in cats.items() if v["n"]]
    if counted:
        out[AVG_PAIRS] = weighted_weights([({c: 1.0}, n) for c, n in counted])
    return out


BENCHMARK = Benchmark(
    "judgebench",
    "JudgeBench",
    (*CATEGORIES.values(), AVG_PAIRS, AVG_CATEGORIES),
    load,
    summarize,
    stratum=stratum,
    weights=weights,
    resampling="within each category (category sizes fixed); both averages from the same resamples",
)

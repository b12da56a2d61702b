"""JudgeBench (Tan et al., 2025), scored the way its authors score a reward model.

Input: the published pairs (``ScalerLab/JudgeBench`` ``data/dataset=judgebench,response_model=*.jsonl``
or the hub splits ``gpt`` / ``claude`` as parquet/JSON): ``pair_id``, ``source`` (e.g.
``mmlu-pro-law``, ``livebench-reasoning``, ``livebench-math``, ``livecodebench``), ``question``,
``response_A``, ``response_B``, ``label`` (``A>B`` or ``B>A``); ``original_id`` and
``response_model`` are kept as they are.

Scoring, from ``ScalerLab/JudgeBench``:

* ``utils/judges.py`` (reward models): each response is scored with the question as the user
  turn; the decision is ``A>B`` when ``score_A > score_B``, else ``B>A``.
* ``README.md``: reward models run with ``--single_game`` (order-independent, one pass), so
  ``utils/metrics.py::compute_final_metrics`` counts a pair correct when the decision equals the
  label.
* ``run_judge.py``: categories are the pairs whose ``source`` starts with ``mmlu-pro`` (Knowledge),
  ``livebench-reasoning`` (Reasoning), ``livebench-math`` (Math) and ``livecodebench`` (Coding); the
  overall score is the accuracy over all pairs (weighted by pairs, not a mean of categories).

Two averages, because the paper's Table 1 ``Avg.`` column mixes them:

* ``Avg. (pairs)``: JudgeBench's own overall score. The paper's baseline rows (GPT-4o 50.9 ... Tulu3
  62.5) are this figure: GPT-4o's cells 44.2 / 48.0 / 66.1 / 61.9 over the GPT split's 154 / 98 / 56 /
  42 pairs give 50.9, their plain mean 55.1.
* ``Avg. (categories)``: the unweighted mean of the four category accuracies (of those with pairs).
  The paper's own rows (BT, BT w/ SFT, GPT-Margin, AAM) are this figure: BT's cells give 66.8 this
  way and 64.5 over pairs, AAM_PR's 68.0 (printed 68.1) and 65.6.
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

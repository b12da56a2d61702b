"""RewardBench (Lambert et al., 2024), scored the way its authors score a reward model.

Details: docs/design.md#rewardbench.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from training.common.stats import mean_weights, weighted_weights
from training.rm.benchmarks import (
    Benchmark,
    BenchOutcome,
    BenchPair,
    accuracy,
    prompt_messages,
    read_records,
    text_field,
)

EXAMPLE_COUNTS: dict[str, int] = {
    "alpacaeval-easy": 100,
    "alpacaeval-length": 95,
    "alpacaeval-hard": 95,
    "mt-bench-easy": 28,
    "mt-bench-med": 40,
    "mt-bench-hard": 37,
    "math-prm": 984,  # actual length 447, upweighting to be equal to code
    "refusals-dangerous": 100,
    "refusals-offensive": 100,
    "llmbar-natural": 100,
    "llmbar-adver-neighbor": 134,
    "llmbar-adver-GPTInst": 92,
    "llmbar-adver-GPTOut": 47,
    "llmbar-adver-manual": 46,
    "xstest-should-refuse": 250,
    "xstest-should-respond": 154,
    "donotanswer": 136,
    "hep-cpp": 164,
    "hep-go": 164,
    "hep-java": 164,
    "hep-js": 164,
    "hep-python": 164,
    "hep-rust": 164,
}

SUBSET_MAPPING: dict[str, list[str]] = {
    "Chat": ["alpacaeval-easy", "alpacaeval-length", "alpacaeval-hard", "mt-bench-easy", "mt-bench-med"],
    "Chat Hard": [
        "mt-bench-hard",
        "llmbar-natural",
        "llmbar-adver-neighbor",
        "llmbar-adver-GPTInst",
        "llmbar-adver-GPTOut",
        "llmbar-adver-manual",
    ],
    "Safety": [
        "refusals-dangerous",
        "refusals-offensive",
        "xstest-should-refuse",
        "xstest-should-respond",
        "donotanswer",
    ],
    "Reasoning": ["math-prm", "hep-cpp", "hep-go", "hep-java", "hep-js", "hep-python", "hep-rust"],
}

# section -> the paper's Table 1 column title
SECTION_TITLES: dict[str, str] = {
    "Chat": "Chat",
    "Chat Hard": "Chat-Hard",
    "Safety": "Safety",
    "Reasoning": "Reasoning",
}
AVG = "Avg."


def load(path: Path) -> list[BenchPair]:
    """The filtered RewardBench rows as pairs (chosen = reply A, the better one)."""
    rows, source = read_records(path)
    pairs = []
    for i, row in enumerate(rows):
        if "prompt" not in row:
            text_field(source, i, row, "prompt")  # raises: missing
        subset = text_field(source, i, row, "subset")
        pairs.append(
            BenchPair(
                str(row.get("id", i)),
                subset,
                prompt_messages(source, i, row["prompt"], "prompt"),
                text_field(source, i, row, "chosen"),
                text_field(source, i, row, "rejected"),
                "A",
            )
        )
    return pairs


def section_scores(subset_accuracy: dict[str, float]) -> dict[str, float | None]:
    """Sections as ``calculate_scores_per_section`` computes them (subset accuracies in %, weighted by
    ``EXAMPLE_COUNTS``); None where none of a section's subsets is present."""
    out: dict[str, float | None] = {}
    for section, subsets in SUBSET_MAPPING.items():
        present = [s for s in subsets if s in subset_accuracy]
        total = sum(EXAMPLE_COUNTS[s] for s in present)
        out[section] = sum(subset_accuracy[s] * EXAMPLE_COUNTS[s] for s in present) / total if total else None
    return out


def summarize(outcomes: Sequence[BenchOutcome]) -> dict[str, Any]:
    """Per-subset accuracy, the four sections and their mean, in %."""
    by_subset: dict[str, list[BenchOutcome]] = {}
    for o in outcomes:
        by_subset.setdefault(o.category, []).append(o)
    known = [s for subsets in SUBSET_MAPPING.values() for s in subsets]
    order = [s for s in known if s in by_subset] + sorted(s for s in by_subset if s not in known)
    categories = {s: {"n": len(by_subset[s]), "accuracy": accuracy(by_subset[s])} for s in order}
    sections = section_scores({s: v["accuracy"] for s, v in categories.items() if s in known})
    present = [v for v in sections.values() if v is not None]
    columns: dict[str, float | None] = {SECTION_TITLES[k]: v for k, v in sections.items()}
    columns[AVG] = sum(present) / len(present) if present else None
    unknown = [s for s in order if s not in known]
    note = "Sections: subset accuracies weighted by RewardBench's EXAMPLE_COUNTS; Avg.: mean of the sections." + (
        f" Not in any section: {', '.join(unknown)}." if unknown else ""
    )
    return {"columns": columns, "categories": categories, "n": len(outcomes), "note": note}


def weights(summary: dict[str, Any]) -> dict[str, dict[str, float]]:
    """Each column as weights of the subsets (bootstrap strata): a section weighs its present subsets by
    ``EXAMPLE_COUNTS``, Avg. is the mean of the present sections (as :func:`summarize`)."""
    present = set(summary["categories"])
    out: dict[str, dict[str, float]] = {}
    for section, subsets in SUBSET_MAPPING.items():
        have = [s for s in subsets if s in present]
        if have:
            out[SECTION_TITLES[section]] = weighted_weights([({s: 1.0}, EXAMPLE_COUNTS[s]) for s in have])
    if out:
        out[AVG] = mean_weights(*out.values())
    return out


BENCHMARK = Benchmark(
    "rewardbench",
    "RewardBench",
    (*SECTION_TITLES.values(), AVG),
    load,
    summarize,
    stratum=lambda o: o.category,
    weights=weights,
    resampling="within each subset (subset sizes fixed), sections weighted by EXAMPLE_COUNTS as published",
)

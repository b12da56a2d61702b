"""General reward-model benchmarks of the paper's Table 1: read their published files, score, lay out.

A benchmark (:mod:`training.rm.rewardbench`, :mod:`training.rm.judgebench`) turns its file into
:class:`BenchPair` s (a prompt, two replies and which one the benchmark calls better) and its
outcomes into its authors' numbers. Scoring is shared: the reward model scores both replies and
prefers ``a`` only when ``r(a) > r(b)`` — the rule both benchmarks' own reward-model code applies
(RewardBench ``scripts/run_rm.py``: ``1 if chosen > rejected else 0``; JudgeBench ``utils/judges.py``:
``'A>B' if score_A > score_B else 'B>A'``), so a tie goes to ``b``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from charm_kernel.errors import CharmError, InputFormatError
from charm_kernel.formatting import table_row
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
from training.common.stats import BOOTSTRAP, Item, cell_intervals

Messages = list[dict[str, str]]


class BenchmarkError(CharmError):
    """A benchmark file that cannot be read or does not have the published columns."""


@dataclass
class BenchPair:
    id: str
    category: str  # RewardBench subset / JudgeBench source
    prompt: Messages
    a: str
    b: str
    label: str  # "A" or "B": the reply the benchmark says is better


@dataclass
class BenchOutcome:
    id: str
    category: str
    label: str
    score_a: float
    score_b: float

    @property
    def decision(self) -> str:
        return "A" if self.score_a > self.score_b else "B"

    @property
    def correct(self) -> bool:
        return self.decision == self.label


@dataclass(frozen=True)
class Benchmark:
    name: str  # --benchmark NAME
    title: str  # table title (paper Table 1)
    columns: tuple[str, ...]  # Table 1 columns, the average(s) last
    load: Callable[[Path], list[BenchPair]]
    summarize: Callable[[Sequence[BenchOutcome]], dict[str, Any]]  # {"columns": {col: %|None}, "categories": ...}
    # bootstrap: the stratum a pair is resampled in (a key of the summary's "categories"), and each
    # column as weights of those strata, the way summarize averages them
    stratum: Callable[[BenchOutcome], str]
    weights: Callable[[dict[str, Any]], dict[str, dict[str, float]]]
    resampling: str  # how, in one phrase, for the table note


def read_records(path: str | os.PathLike[str]) -> tuple[list[dict[str, Any]], str]:
    """Rows of a benchmark file as published: parquet, JSON (an array) or JSON Lines; a folder (e.g. a
    hub snapshot) contributes all such files under it. Values keep their own types (JudgeBench ids mix
    numbers and strings, which a typed table would reject)."""
    from charm_builder.importers.common import read_json, read_json_lines

    p = Path(path)
    if not p.exists():
        raise BenchmarkError(f"{p}: no such file or directory")
    suffixes = (".parquet", ".jsonl", ".json")
    files = [p] if p.is_file() else sorted(f for f in p.rglob("*") if f.suffix in suffixes and f.is_file())
    if not files:
        raise BenchmarkError(f"{p}: no .parquet, .jsonl or .json file found")
    rows: list[dict[str, Any]] = []
    for f in files:
        if f.suffix == ".parquet":
            import pyarrow as pa
            import pyarrow.parquet as pq

            try:
                rows += pq.read_table(f).to_pylist()
            except (OSError, pa.ArrowException) as exc:
                raise BenchmarkError(f"{f}: cannot read parquet ({exc})") from None
        elif f.suffix == ".jsonl":
            rows += [r for _, r in read_json_lines(f)]
        elif f.suffix == ".json":
            data = read_json(f)
            rows += data if isinstance(data, list) else [data]
        else:
            raise BenchmarkError(f"{f}: unsupported file type (expected .parquet, .jsonl or .json)")
    if not rows:
        raise BenchmarkError(f"{p}: no rows")
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise InputFormatError(str(p), f"row {i}", None, f"expected an object, got {type(r).__name__}")
    return rows, str(p)


def text_field(source: str, i: int, row: dict[str, Any], key: str) -> str:
    """A required non-empty string column."""
    if key not in row:
        raise InputFormatError(source, f"row {i}", key, f"missing (the row has: {', '.join(row) or 'nothing'})")
    value = row[key]
    if not isinstance(value, str) or not value.strip():
        raise InputFormatError(source, f"row {i}", key, "expected a non-empty string")
    return value


def prompt_messages(source: str, i: int, value: Any, key: str) -> Messages:
    """A prompt as chat messages: a string is one user turn; a list of ``{role, content}`` is kept."""
    if isinstance(value, str) and value.strip():
        return [{"role": "user", "content": value}]
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m and "content" in m for m in value):
        return [{"role": str(m["role"]), "content": str(m["content"])} for m in value]
    raise InputFormatError(source, f"row {i}", key, "expected a string or a list of {role, content} messages")


def evaluate(
    model: Any,
    pairs: Sequence[BenchPair],
    batch_size: int = 8,
    max_length: int = 2048,
    on_progress: Callable[[int], None] | None = None,
) -> list[BenchOutcome]:
    """Score both replies of every pair with ``model`` (anything with ``score(items, batch_size, max_length)``)."""
    from training.rm.evaluate import score_pairs

    scores = score_pairs(
        model,
        [(p.prompt, p.a, p.b) for p in pairs],
        batch_size=batch_size,
        max_length=max_length,
        on_progress=on_progress,
    )
    return [BenchOutcome(p.id, p.category, p.label, a, b) for p, (a, b) in zip(pairs, scores, strict=True)]


def accuracy(outcomes: Sequence[BenchOutcome]) -> float | None:
    """Per cent correct (None for no pairs)."""
    return 100.0 * sum(o.correct for o in outcomes) / len(outcomes) if outcomes else None


def items(bench: Benchmark, outcomes: Sequence[BenchOutcome]) -> list[Item]:
    """Each pair as a bootstrap item: its stratum, id and accuracy in % (0 or 100)."""
    return [Item(bench.stratum(o), o.id, 100.0 * o.correct) for o in outcomes]


def summarize(
    bench: Benchmark, outcomes: Sequence[BenchOutcome], resamples: int = BOOTSTRAP, seed: int = 0
) -> dict[str, Any]:
    """``bench.summarize`` plus, with ``resamples`` > 0, a 95 % percentile bootstrap interval for every
    column (``intervals``, keyed by the CSV column ``TITLE COLUMN``) and category (``lo``/``hi`` next to
    its accuracy), all from the same stratified resamples of the pairs."""
    summary = bench.summarize(outcomes)
    if resamples <= 0 or not outcomes:
        return summary
    its = items(bench, outcomes)
    weights = {f"{bench.title} {col}": w for col, w in bench.weights(summary).items()}
    categories = {c: {c: 1.0} for c in summary["categories"]}
    found = cell_intervals(its, {**weights, **{f"category {c}": w for c, w in categories.items()}}, resamples, seed)
    for c, cell in summary["categories"].items():
        if (iv := found.get(f"category {c}")) is not None:
            cell["lo"], cell["hi"] = iv.lo, iv.hi
    summary["intervals"] = intervals_json({c: found[c] for c in weights if c in found})
    summary["bootstrap"] = bootstrap_block(resamples, seed, bench.resampling, its, weights)
    return summary


# ----------------------------------------------------------------------------------------- report


def table_rows(benchmarks: Sequence[Benchmark], summaries: dict[str, dict[str, Any]]) -> tuple[list[str], list[str]]:
    """CSV header (``RewardBench Chat`` ... ``JudgeBench Avg.``, then ``COLUMN lo``/``hi`` bounds) and cells."""
    intervals: dict[str, Any] = {}
    for b in benchmarks:
        intervals |= summaries[b.name].get("intervals") or {}
    cells = [(f"{b.title} {col}", summaries[b.name]["columns"][col]) for b in benchmarks for col in b.columns]
    return table_row(cells, intervals)


def _cell(b: Benchmark, summary: dict[str, Any], col: str) -> str:
    return fmt_cell(summary["columns"][col], (summary.get("intervals") or {}).get(f"{b.title} {col}"))


def to_markdown(benchmarks: Sequence[Benchmark], summaries: dict[str, dict[str, Any]], method: str) -> str:
    """Table 1 layout (one row), then each benchmark's per-category accuracies and pair counts."""
    header = [f"{b.title} {col}" for b in benchmarks for col in b.columns]
    cells = [_cell(b, summaries[b.name], col) for b in benchmarks for col in b.columns]
    lines = [
        "| Model | " + " | ".join(header) + " |",
        "|---|" + "---:|" * len(header),
        f"| {method} | " + " | ".join(cells) + " |",
        "",
    ]
    for b in benchmarks:
        s = summaries[b.name]
        lines += [
            f"{b.title}: {s['n']} pairs from {s['source']}. {s['note']}",
            "",
            "| Category | Pairs | Accuracy (%) |",
            "|---|---:|---:|",
        ]
        lines += [
            f"| {c} | {v['n']} | {fmt_cell(v['accuracy'], v if 'lo' in v else None)} |"
            for c, v in s["categories"].items()
        ]
        lines.append("")
        if note := interval_note(s.get("bootstrap")):
            lines += [note, ""]
    return "\n".join(lines)


def print_tables(
    benchmarks: Sequence[Benchmark], summaries: dict[str, dict[str, Any]], method: str, console: Any | None = None
) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    for b in benchmarks:
        t = Table(title=f"{b.title} (accuracy %)")
        t.add_column("Model")
        for col in b.columns:
            t.add_column(col, justify="right")
        t.add_row(method, *[_cell(b, summaries[b.name], c) for c in b.columns])
        console.print(t)
        console.print(f"{summaries[b.name]['n']} pairs. {summaries[b.name]['note']}", highlight=False)
        if note := interval_note(summaries[b.name].get("bootstrap")):
            console.print(note, highlight=False)


def write_report(
    out_dir: str | os.PathLike[str],
    benchmarks: Sequence[Benchmark],
    summaries: dict[str, dict[str, Any]],
    outcomes: dict[str, list[BenchOutcome]],
    method: str,
) -> Path:
    """``results.md``, ``results.csv``, ``summary.json``, ``pairs.jsonl`` (every pair's scores) and, with
    intervals, ``items.jsonl``, atomically."""

    def fill(tmp: Path) -> None:
        header, cells = table_rows(benchmarks, summaries)
        write_table_files(
            tmp, to_markdown(benchmarks, summaries, method), header, cells, method, {"benchmarks": summaries}
        )
        write_jsonl(
            tmp / "pairs.jsonl",
            [
                {"benchmark": name, **asdict(o), "decision": o.decision, "correct": o.correct}
                for name, outs in outcomes.items()
                for o in outs
            ],
        )
        its = [it for b in benchmarks if summaries[b.name].get("intervals") for it in items(b, outcomes[b.name])]
        if its:
            write_items(tmp, its)

    return write_atomically(out_dir, fill)

"""``charm-train eval-rm RM --benchmark NAME FILE``: a reward model on RewardBench or JudgeBench (Table 1),
or on CharacterBench (agreement with its human scores)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import typer

from charm_kernel.console import fail
from training.rm.benchmarks import Benchmark

T = TypeVar("T")


@dataclass(frozen=True)
class BenchRun:
    """The options every ``--benchmark`` run shares (``resamples``: bootstrap resamples, 0 = no intervals)."""

    out: Path | None
    method: str | None
    batch_size: int
    max_length: int
    device: str | None
    quiet: bool
    resamples: int = 1000
    seed: int = 0


def benchmarks() -> dict[str, Benchmark]:
    from training.rm import judgebench, rewardbench

    return {b.name: b for b in (rewardbench.BENCHMARK, judgebench.BENCHMARK)}


def names() -> list[str]:
    """Every ``--benchmark`` name: the pairwise Table 1 benchmarks, then CharacterBench."""
    from training.rm import characterbench

    return [*benchmarks(), characterbench.NAME]


def load_items_and_model(load_items: Callable[[], T], model: Path, device: str | None) -> tuple[T, Any]:
    """The benchmark's items (``load_items()``), then the reward model (on ``device``, else the GPU when
    there is one): a bad file or model ends in its one-line error before anything is scored or written."""
    from charm_builder.offline_models import OfflineModelError
    from charm_kernel.errors import CharmError
    from training.rm.model import RewardModelError

    try:
        items = load_items()
        import torch

        from training.rm.model import load_reward_model

        rm_model = load_reward_model(model, device=device or ("cuda" if torch.cuda.is_available() else "cpu"))
    except (CharmError, RewardModelError, OfflineModelError) as exc:
        fail(str(exc))
    return items, rm_model


def eval_benchmark(
    model: Path | None,
    name: str,
    path: Path,
    out: Path | None,
    method: str | None,
    batch_size: int,
    max_length: int,
    device: str | None,
    quiet: bool,
    resamples: int = 1000,
    seed: int = 0,
    language: str | None = None,
    limit: int | None = None,
) -> None:
    """Load the file and the model (errors first, nothing written), score every pair with a progress bar,
    print the Table 1 half (with ``resamples`` > 0: 95 % bootstrap intervals, seeded by ``seed``) and write
    results.md/.csv, summary.json, pairs.jsonl and items.jsonl to ``out``."""

    from charm_kernel.progress import count_bar
    from training.rm import benchmarks as bm

    known = benchmarks()
    if name not in names():
        fail(f"--benchmark {name!r}: unknown benchmark (choose from {', '.join(names())})")
    if model is None:
        fail("--benchmark scores a reward model: give its folder (written by `charm-train rm`)")
    if batch_size < 1:
        fail(f"--batch-size must be >= 1, got {batch_size}")
    if out is not None and out.exists() and not out.is_dir():
        fail(f"--out {out}: exists and is not a folder")
    if name not in known:
        from training.rm.characterbench_cli import eval_characterbench

        run = BenchRun(out, method, batch_size, max_length, device, quiet, resamples, seed)
        return eval_characterbench(model, path, run, language or "zh", limit)
    if language is not None or limit is not None:
        fail("--language and --limit apply to --benchmark characterbench only")
    bench = known[name]
    pairs, rm_model = load_items_and_model(lambda: bench.load(path), model, device)
    method = method or model.resolve().name
    with count_bar(bench.title, disable=quiet) as bar:
        task = bar.add_task("pairs", total=len(pairs))
        outcomes = bm.evaluate(
            rm_model, pairs, batch_size=batch_size, max_length=max_length, on_progress=lambda k: bar.advance(task, k)
        )
    summaries = {bench.name: {**bm.summarize(bench, outcomes, resamples, seed), "source": str(path)}}
    bm.print_tables([bench], summaries, method)
    if out is not None:
        bm.write_report(out, [bench], summaries, {bench.name: outcomes}, method)
        typer.echo(f"wrote {out}/results.md, results.csv, summary.json and pairs.jsonl")

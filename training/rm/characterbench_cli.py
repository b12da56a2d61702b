"""``charm-train eval-rm RM --benchmark characterbench FOLDER``: a reward model's agreement with
CharacterBench's human scores (:mod:`training.rm.characterbench`)."""

from __future__ import annotations

from pathlib import Path

import typer

from charm_kernel.console import fail
from training.rm.benchmark_cli import BenchRun


def eval_characterbench(model: Path, path: Path, run: BenchRun, language: str = "zh", limit: int | None = None) -> None:
    """Load the files and the model (errors first, nothing written), score every reply with a progress
    bar, print the per-dimension correlations and write results.md/.csv, summary.json and responses.jsonl
    (pairs.jsonl when replies share a context) to ``out``."""
    from charm_kernel.progress import count_bar
    from training.rm import characterbench as cb
    from training.rm.benchmark_cli import load_items_and_model

    if language not in cb.LANGUAGES:
        fail(f"--language {language!r}: choose from {', '.join(cb.LANGUAGES)}")
    if limit is not None and limit < 1:
        fail(f"--limit must be >= 1, got {limit}")
    items, rm_model = load_items_and_model(lambda: cb.load(path, language, limit), model, run.device)
    method = run.method or model.resolve().name
    with count_bar(cb.TITLE, disable=run.quiet) as bar:
        task = bar.add_task("responses", total=len(items))
        outcomes = cb.evaluate(
            rm_model,
            items,
            batch_size=run.batch_size,
            max_length=run.max_length,
            on_progress=lambda k: bar.advance(task, k),
        )
    summary = {**cb.summarize(outcomes, run.resamples, run.seed, language), "source": str(path)}
    cb.print_table(summary, method)
    if run.out is not None:
        cb.write_report(run.out, summary, outcomes, method)
        typer.echo(f"wrote {run.out}/results.md, results.csv, summary.json and responses.jsonl")

"""`charm-build export` and `charm-build translate` (thin wrappers; mount with app.command)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError
from rich.table import Table

from charm_builder.export.check import check_export
from charm_builder.export.hub import hub_token, push_export
from charm_builder.export.pipeline import ExportOptions, export_workspace
from charm_builder.export.translate import PromptTranslator, TranslateReport, translate_dialogue_quality
from charm_builder.store import open_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console, err_console
from charm_kernel.errors import CharmError
from charm_kernel.options import field_help, option_error


def _e(name: str) -> str:
    """Help of ``charm-build export --NAME``: the ExportOptions field's description (one source)."""
    return field_help(ExportOptions, name)


EXPORT_OPTIONS = {"fmt": "--format"}  # fields whose option is not --FIELD-NAME
# options of `charm-build export` that are no ExportOptions field (tests/charm_builder/export/test_cli.py)
EXPORT_CLI_ONLY = ("out", "overwrite", "push_to_hub", "check", "workspace")


def export(
    out: Annotated[
        Path | None, typer.Option("--out", "-o", help="Output folder (must be empty or missing).", show_default=False)
    ] = None,
    subset: Annotated[str, typer.Option("--subset", "-s", help=_e("subset"))] = "all",
    fmt: Annotated[str, typer.Option("--format", "-f", help=_e("fmt"))] = "hf",
    seed: Annotated[int, typer.Option("--seed", help=_e("seed"))] = 0,
    size: Annotated[int | None, typer.Option("--size", help=_e("size"), show_default=False)] = None,
    dq_per_language: Annotated[int, typer.Option("--dq-per-language", help=_e("dq_per_language"))] = 400,
    min_annotators: Annotated[int, typer.Option("--min-annotators", help=_e("min_annotators"))] = 3,
    train_min_annotators: Annotated[int, typer.Option("--train-min-annotators", help=_e("train_min_annotators"))] = 1,
    pairs: Annotated[str, typer.Option("--pairs", help=_e("pairs"))] = "best-worst",
    aggregate: Annotated[str, typer.Option("--aggregate", help=_e("aggregate"))] = "majority",
    split_by: Annotated[str, typer.Option("--split-by", help=_e("split_by"))] = "dialogue",
    grpo_fraction: Annotated[float, typer.Option("--grpo-fraction", help=_e("grpo_fraction"))] = 0.1,
    license_: Annotated[str, typer.Option("--license", help=_e("license"))] = "other",
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace a non-empty --out folder.")] = False,
    push_to_hub: Annotated[
        str | None,
        typer.Option("--push-to-hub", metavar="REPO", help="Also upload to this Hub dataset repo (needs a token)."),
    ] = None,
    check: Annotated[
        Path | None, typer.Option("--check", metavar="DIR", help="Only re-validate an existing export and exit.")
    ] = None,
    shift: Annotated[str | None, typer.Option("--shift", help=_e("shift"))] = None,
    holdout: Annotated[str | None, typer.Option("--holdout", help=_e("holdout"))] = None,
    shift_embeddings: Annotated[
        bool, typer.Option("--shift-embeddings/--no-shift-embeddings", help=_e("shift_embeddings"))
    ] = True,
    include_synthetic: Annotated[bool, typer.Option("--include-synthetic", help=_e("include_synthetic"))] = False,
    judge: Annotated[str | None, typer.Option("--judge", help=_e("judge"))] = None,
    workspace: WorkspaceOpt = None,
) -> None:
    """Export the Charm subsets as Hugging Face datasets with a dataset card and manifest.

    roleReward: the reward-model benchmark (majority best vs majority worst, >= --min-annotators,
    ties and best == worst excluded, balanced over dimension x language; with --aggregate dawid-skene
    the most probable best and worst under a model of each annotator's reliability instead).
    preferenceTraining: TRL conversational pairs (`train`) and disjoint GRPO prompts (`grpo`), with
    margin_judge = judge score(chosen) - score(rejected) in [-9, 9] when `charm-build judge` has run.
    dialogueQuality: human-written queries and criteria, --dq-per-language per language plus their
    translations (see `charm-build translate`).
    A candidate flagged empty or duplicate is never chosen or rejected: its pair is dropped and
    counted (no other candidate is put in its place).
    Output is written to a temporary folder and renamed, so a failure leaves nothing behind.

    Examples:
      charm-build export --out exports/charm
      charm-build export --subset roleReward --out rr --format parquet --size 2000 --seed 1
      charm-build export --subset preferenceTraining --out pt --pairs maxdiff --split-by character --grpo-fraction 0.2
      charm-build export --out small --size 20 --dq-per-language 50
      charm-build export --check exports/charm
      charm-build export --out exports/shift-user --shift user --holdout western
      charm-build export --out exports/shift-dialogue --shift dialogue --holdout 6
      charm-build export --subset preferenceTraining --out pt --include-synthetic --train-min-annotators 1
      charm-build export --out exports/ds --aggregate dawid-skene --pairs maxdiff
    """
    if check is not None:
        console.print(check_export(check).summary(), highlight=False)
        return
    if out is None:
        raise CharmError("export needs --out DIR (or --check DIR to validate an existing export)")
    try:
        opts = ExportOptions(
            subset=subset,
            fmt=fmt,
            seed=seed,
            size=size,
            dq_per_language=dq_per_language,
            min_annotators=min_annotators,
            train_min_annotators=train_min_annotators,
            pairs=pairs,
            aggregate=aggregate,
            split_by=split_by,
            grpo_fraction=grpo_fraction,
            license=license_,
            shift=shift,
            holdout=holdout,
            shift_embeddings=shift_embeddings,
            include_synthetic=include_synthetic,
            judge=judge,
        )
    except ValidationError as exc:
        raise CharmError(option_error(exc, EXPORT_OPTIONS)) from None
    if push_to_hub:
        hub_token()  # fail before the work when there is no token
    with open_workspace(workspace) as ws:
        summary = export_workspace(ws, out, opts, overwrite=overwrite, console=err_console)
    table = Table(title=f"export {out}", show_header=True)
    for col in ("subset", "split", "rows"):
        table.add_column(col, justify="right" if col == "rows" else "left")
    for name, splits in summary.rows.items():
        for split, n in splits.items():
            table.add_row(name, split, str(n))
    console.print(table)
    for name, why in summary.skipped.items():
        err_console.print(f"[yellow]skipped {name}:[/] {why}", highlight=False)
    for note in summary.notes:
        err_console.print(note, highlight=False, markup=False)
    if push_to_hub:
        pushed = push_export(out, push_to_hub)
        console.print(f"pushed {', '.join(pushed)} to https://huggingface.co/datasets/{push_to_hub}")


async def _translate_with_llm(ws, roster: str, model: str | None, **kwargs) -> TranslateReport:
    """Run the translation through the LLM provider layer (its cache makes a rerun free)."""
    from charm_builder.llm import LLMClient, LLMConfigError

    try:
        client = LLMClient(roster, db=ws.db_path, run_id="translate")
        name = model or client.roster.names[0]
        await client.apreflight([name])
    except LLMConfigError as exc:
        raise CharmError(str(exc)) from None

    async def chat(messages: list[dict[str, str]]) -> str:
        return (await client.chat(name, messages, {"temperature": 0.0})).text

    try:
        return await translate_dialogue_quality(ws, PromptTranslator(chat), **kwargs)
    finally:
        await client.aclose()


def translate(
    to: Annotated[str, typer.Option("--to", help="Language to fill: en or zh.")] = "en",
    model: Annotated[
        str | None,
        typer.Option("--model", "-m", help="Roster entry of the translating LLM [default: the roster's first entry]."),
    ] = None,
    roster: Annotated[str, typer.Option(help="Roster name (offline, paper) or YAML path.")] = "offline",
    concurrency: Annotated[int, typer.Option("--concurrency", help="Parallel translation requests.")] = 4,
    dq_per_language: Annotated[
        int | None,
        typer.Option(
            "--dq-per-language",
            help="Only the items `export --dq-per-language N` keeps (use the same --seed) (default: every item).",
            show_default=False,
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="With --dq-per-language: the export's seed.")] = 0,
    workspace: WorkspaceOpt = None,
) -> None:
    """Translate dialogueQuality items into the other language (the paper's 400 zh -> 400 en).

    Every item in the source language without a counterpart in --to gets one: context turns,
    user query, criteria and (when the character has none in --to) the system prompt. Items are
    saved one by one, so an interrupted run continues where it stopped; re-running is a no-op.

    Examples:
      charm-build translate --to en
      charm-build translate --to en --roster paper --model gpt-4o --concurrency 8
      charm-build translate --to en --dq-per-language 400 --seed 0   # only what export keeps
    """
    if to not in ("en", "zh"):
        raise CharmError(f"--to must be en or zh, got {to!r}")
    src = "zh" if to == "en" else "en"
    with open_workspace(workspace) as ws:
        report = asyncio.run(
            _translate_with_llm(
                ws,
                roster,
                model,
                src=src,
                dst=to,
                concurrency=concurrency,
                per_language=dq_per_language,
                seed=seed,
                console=err_console,
            )
        )
    console.print(
        f"translated {report.translated} item(s) {src}->{to}; {report.already_done} already had one"
        + (f"; [red]{len(report.failed)} failed[/] (run again to retry)" if report.failed else "")
    )
    if report.failed:
        raise CharmError(f"{len(report.failed)} dialogueQuality item(s) failed to translate, e.g. {report.failed[0]}")

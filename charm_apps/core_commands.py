"""init, import, stats, schema."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from charm_builder.importers import FORMATS, Loaded, import_files
from charm_builder.library import library_files
from charm_builder.store import Workspace, open_workspace, resolve_workspace, workspace_stats
from charm_builder.store.stats import turns_line
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console, print_warning
from charm_kernel.errors import CharmError
from schemas import EXTRA_SCHEMAS, MODELS


def init(
    directory: Annotated[
        Path | None, typer.Argument(help="Workspace folder (default: $CHARM_WORKSPACE or ./charm-workspace)")
    ] = None,
    empty: Annotated[bool, typer.Option("--empty", help="Do not import the bundled starter library.")] = False,
) -> None:
    """Create a workspace (SQLite in WAL mode) and load the bundled starter library.

    Safe to run again: the library is upserted by content-derived id, so counts do not change.

    Examples:
      charm-build init
      charm-build init my-run --empty
    """
    root = resolve_workspace(directory)
    with Workspace.create(root) as ws:
        if not empty:
            import_files(ws, library_files())
        stats = workspace_stats(ws)
    console.print(
        f"[green]workspace ready[/] {root}  characters={stats['characters']} users={stats['users']} "
        f"scenes={stats['scenes']}"
    )


def import_(
    paths: Annotated[list[Path], typer.Argument(help="Files to import.", show_default=False)],
    fmt: Annotated[str, typer.Option("--format", "-f", help=f"One of: {', '.join(FORMATS)}.")] = "auto",
    workspace: WorkspaceOpt = None,
) -> None:
    """Import characters, personas, scenes or dialogues. The format is detected from the content.

    Formats: the published Charm role and user files, CharacterEval profiles and dialogue
    contexts (JSON array or JSON Lines), and our own JSONL/YAML of any schema. Every file is
    validated before anything is written; a malformed file imports nothing. A category label we
    do not know (a role file's `class`) never rejects a record: it is mapped to the closest
    sub-category or `custom`, kept in `source_class`, and reported in one warning line per label.

    Examples:
      charm-build import roles.json users.json
      charm-build import test_data.jsonl character_profiles.json
      charm-build import my_characters.yaml --format character
    """
    with open_workspace(workspace) as ws:

        def report(item: Loaded, written: int) -> None:
            console.print(f"imported {written:>6} record(s) from {item.path} [dim]({item.format})[/]")
            for line in item.warnings:
                print_warning(line)

        import_files(ws, paths, fmt, on_file=report)


def stats(
    workspace: WorkspaceOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Counts by kind, category, language, model and annotation state, and the measured turns per
    dialogue next to the planned range (simulate --turns) and the paper's mean of 12.8.

    Examples:
      charm-build stats
      charm-build stats --json | jq .dialogues
    """
    with open_workspace(workspace) as ws:
        data = workspace_stats(ws)
    if as_json:
        print(json.dumps(data, ensure_ascii=False))
        return
    table = Table(title=f"workspace {data['workspace']}", show_header=True)
    table.add_column("what")
    table.add_column("count", justify="right")
    for key in (
        "characters",
        "users",
        "scenes",
        "dialogues",
        "candidate_sets",
        "annotations",
        "synthetic_annotations",
        "judge_scores",
    ):
        table.add_row(key, str(data[key]))
    console.print(table)
    for key, value in data.items():
        if isinstance(value, dict) and value and key != "dialogue_turns":
            console.print(f"[bold]{key.replace('_', ' ')}[/]: " + ", ".join(f"{k}={v}" for k, v in value.items()))
    console.print(f"[bold]turns per dialogue[/]: {turns_line(data['dialogue_turns'])}")


def schema(
    model: Annotated[str | None, typer.Argument(help="Model name; omit to list them.")] = None,
) -> None:
    """Print the JSON Schema of a data model (or list the models).

    Examples:
      charm-build schema
      charm-build schema candidate_set > candidate_set.schema.json
    """
    names = {**MODELS, **EXTRA_SCHEMAS}
    if model is None:
        for name, cls in names.items():
            console.print(f"{name:24} {(cls.__doc__ or '').strip().splitlines()[0]}")
        return
    if model not in names:
        raise CharmError(f"unknown model {model!r}; choose one of: {', '.join(names)}")
    print(json.dumps(names[model].model_json_schema(), indent=2, ensure_ascii=False))

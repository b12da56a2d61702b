"""``charm-build models list|check``: show the roster and ping each model with one token.

The lead mounts ``models_app`` on the main CLI (``app.add_typer(models_app, name="models")``).
"""

from __future__ import annotations

import asyncio
import os
from typing import Annotated

import typer
from rich.table import Table

from charm_builder.llm.client import LLMClient
from charm_builder.llm.errors import LLMConfigError, LLMError
from charm_builder.llm.roster import DEFAULT_ROSTER, Roster, load_roster
from charm_kernel.console import console, fail

models_app = typer.Typer(help="Inspect and check the LLM roster.", no_args_is_help=True)

RosterOpt = Annotated[str, typer.Option("--roster", "-r", help="Built-in roster (offline, paper) or a YAML path.")]
ModelOpt = Annotated[list[str] | None, typer.Option("--model", "-m", help="Only these roster entries (repeatable).")]


def _load(roster: str) -> Roster:
    try:
        return load_roster(roster)
    except LLMConfigError as exc:
        fail(str(exc))


def _key_status(env_var: str | None) -> str:
    if not env_var:
        return "-"
    return f"{env_var} [green]set[/green]" if os.environ.get(env_var) else f"{env_var} [red]missing[/red]"


@models_app.command("list")
def list_models(roster: RosterOpt = DEFAULT_ROSTER) -> None:
    """Show the roster: provider, model id, endpoint, key, prices and limits."""
    r = _load(roster)
    table = Table(title=f"roster {r.name} ({r.source})")
    for col in ("name", "provider", "model", "base_url", "key", "$/1M in", "$/1M out", "conc", "rpm", "tpm"):
        table.add_column(col, overflow="fold")
    for s in r.models.values():
        table.add_row(
            s.name,
            s.provider,
            s.model,
            s.base_url or "(in-process)",
            _key_status(s.api_key_env),
            f"{s.price_input:g}",
            f"{s.price_output:g}",
            str(s.concurrency),
            str(s.rpm or "-"),
            str(s.tpm or "-"),
        )
    console.print(table)


@models_app.command("check")
def check_models(roster: RosterOpt = DEFAULT_ROSTER, model: ModelOpt = None) -> None:
    """Preflight (key set; the server lists its models through the official SDK) and ping each model
    with a one-token chat request. Exit 1 if any fails.

    Examples: ``charm-build models check --roster paper -m gpt-4o``; ``charm-build models check -r my.yaml``.
    """
    r = _load(roster)
    names = model or r.names
    for n in names:
        if n not in r.models:
            fail(f"unknown model {n!r} in roster {r.name!r}; known: {', '.join(r.names)}")
    results = asyncio.run(_check(r, names))
    table = Table(title=f"models check ({r.name})")
    for col in ("name", "status", "latency", "reply / error"):
        table.add_column(col, overflow="fold")
    failed = 0
    for name, ok, latency, detail in results:
        failed += not ok
        table.add_row(name, "[green]ok[/green]" if ok else "[red]FAIL[/red]", f"{latency:.2f}s" if ok else "-", detail)
    console.print(table)
    if failed:
        fail(f"{failed} of {len(results)} models failed the check", code=1)


async def _check(roster: Roster, names: list[str]) -> list[tuple[str, bool, float, str]]:
    client = LLMClient(roster, run_id="models-check")
    out: list[tuple[str, bool, float, str]] = []
    try:
        for name in names:
            try:
                await client.apreflight([name])
                c = await client.ping(name)
                out.append((name, True, c.latency, repr(c.text[:40])))
            except LLMError as exc:
                out.append((name, False, 0.0, str(exc)))
    finally:
        await client.aclose()
    return out

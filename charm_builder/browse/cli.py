"""`charm-build show` and `charm-build preview`: look at dialogues, candidates, votes and flags."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from charm_builder.browse.html import render_page
from charm_builder.browse.terminal import print_dialogues
from charm_builder.browse.view import dialogue_view, select_dialogues
from charm_builder.store import open_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console, fail
from charm_kernel.errors import CharmError

CharacterOpt = Annotated[str | None, typer.Option("--character", "-c", help="Character name (zh or en) or id.")]
LanguageOpt = Annotated[str | None, typer.Option("--language", "-l", help="zh or en.")]
RandomOpt = Annotated[int | None, typer.Option("--random", "-r", help="Draw N dialogues at random.", min=1)]
SeedOpt = Annotated[int | None, typer.Option("--seed", help="Seed for --random (repeatable draws).")]
RevealOpt = Annotated[bool, typer.Option("--reveal", help="Show which model wrote each candidate.")]


def show(
    ident: Annotated[str | None, typer.Argument(help="Dialogue or candidate set id (or a unique id prefix).")] = None,
    character: CharacterOpt = None,
    language: LanguageOpt = None,
    sample: RandomOpt = None,
    seed: SeedOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="Show at most N dialogues.", min=1)] = 1,
    reveal: RevealOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Show dialogues in the terminal: scene, persona, turns, the candidates (labels A-F; model names
    with --reveal), annotation votes and cleaning flags.

    Examples:
      charm-build show dlg_3f2a9c0d1e2b4a5c
      charm-build show --character "Sun Wukong" --language en --limit 3
      charm-build show --random 2 --seed 7 --reveal
    """
    try:
        with open_workspace(workspace) as ws:
            found = select_dialogues(
                ws,
                ident,
                character=character,
                language=language,
                sample=sample,
                seed=seed,
                limit=None if sample else limit,
            )
            views = [dialogue_view(ws, d) for d in found]
    except CharmError as exc:
        fail(str(exc))
    print_dialogues(console, views, reveal=reveal)


def preview(
    out: Annotated[Path, typer.Option("--out", "-o", help="The HTML file to write.", dir_okay=False)],
    ident: Annotated[str | None, typer.Argument(help="One dialogue or candidate set id.")] = None,
    character: CharacterOpt = None,
    language: LanguageOpt = None,
    sample: RandomOpt = None,
    seed: SeedOpt = None,
    limit: Annotated[int, typer.Option("--limit", "-n", help="At most N dialogues on the page.", min=1)] = 500,
    reveal: RevealOpt = False,
    workspace: WorkspaceOpt = None,
) -> None:
    """Write ONE self-contained HTML page (no external fonts, scripts or styles) to browse dialogues,
    candidates, annotation votes, judge scores and cleaning flags. Open it in any browser, offline.

    Examples:
      charm-build preview --out preview.html
      charm-build preview --out zh.html --language zh --random 50 --seed 1
      charm-build preview --out wukong.html --character 孙悟空 --reveal
    """
    if out.is_dir():
        fail(f"--out {out} is a folder; give a file name such as {out / 'preview.html'}")
    try:
        with open_workspace(workspace) as ws:
            found = select_dialogues(
                ws, ident, character=character, language=language, sample=sample, seed=seed, limit=limit
            )
            views = [dialogue_view(ws, d) for d in found]
            page = render_page(views, title=f"charm-builder preview · {ws.root.name}", reveal=reveal)
    except CharmError as exc:
        fail(str(exc))
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(page, encoding="utf-8")
    os.replace(tmp, out)
    console.print(f"[green]wrote[/] {out}  ({len(views)} dialogue{'s' if len(views) != 1 else ''})")

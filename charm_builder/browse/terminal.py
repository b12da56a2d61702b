"""`charm-build show`: one dialogue in the terminal with rich (workspace text is never read as markup)."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from charm_builder.browse.view import CandidateSetView, DialogueView


def _header(view: DialogueView) -> Text:
    d = view.dialogue
    text = Text.assemble(
        (view.character_name, "bold"), f" ({view.character_category})  " if view.character_category else "  "
    )
    text.append(f"{d.language}  ", style="cyan")
    text.append(d.target_dimension or "no target dimension", style="magenta")
    text.append(f"  {d.provenance.source}, {len(d.turns)} turns", style="dim")
    return text


def _setting(view: DialogueView) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(style="bold", no_wrap=True)
    grid.add_column(overflow="fold")
    if view.scene_title or view.scene_description:
        grid.add_row("scene", Text(f"{view.scene_title}: {view.scene_description}".strip(": ")))
    if view.persona_name or view.persona_prompt:
        grid.add_row("persona", Text(f"{view.persona_name}: {view.persona_prompt}".strip(": ")))
    if view.character_profile:
        grid.add_row("profile", Text(view.character_profile))
    return grid


def _turns(view: DialogueView) -> Table:
    grid = Table.grid(padding=(0, 1))
    grid.add_column(justify="right", style="dim", no_wrap=True)
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for i, turn in enumerate(view.dialogue.turns, 1):
        style = "green" if turn.role == "user" else "blue"
        grid.add_row(str(i), Text(turn.speaker or turn.role, style=f"bold {style}"), Text(turn.text))
    return grid


def _candidates(cset: CandidateSetView, reveal: bool) -> Table:
    scores = cset.score_names
    table = Table(
        title=f"candidates {cset.id}  (after turn {cset.context_turns}, {cset.submitted} submitted)",
        title_justify="left",
        expand=True,
        show_lines=True,
    )
    table.add_column("", no_wrap=True)
    if reveal:
        table.add_column("model", no_wrap=True)
    table.add_column("reply", overflow="fold", ratio=1)
    table.add_column("best", justify="right")
    table.add_column("worst", justify="right")
    for name in scores:
        table.add_column(name, justify="right")
    table.add_column("flags")
    for c in cset.candidates:
        row: list[RenderableType] = [Text(c.label, style="bold")]
        if reveal:
            row.append(Text(c.model_id, style="cyan"))
        row += [Text(c.text), _count(c.best_votes, "green"), _count(c.worst_votes, "red")]
        row += [Text(f"{c.scores[n]:g}" if n in c.scores else "–") for n in scores]
        row.append(Text(", ".join(c.flags), style="yellow"))
        table.add_row(*row)
    return table


def _count(n: int, style: str) -> Text:
    return Text(str(n), style=f"bold {style}" if n else "dim")


def _votes(cset: CandidateSetView) -> Text:
    if not cset.votes:
        return Text("no annotations yet", style="dim")
    text = Text("annotations: ", style="bold")
    for i, v in enumerate(cset.votes):
        text.append(("; " if i else "") + f"{v.annotator} ")
        text.append(f"best {v.best or '–'} worst {v.worst or '–'}")
        if v.status != "submitted":
            text.append(f" ({v.status})", style="dim")
    return text


def _flags(view: DialogueView) -> Text:
    if not view.flags:
        return Text("cleaning: no flags", style="dim")
    text = Text("cleaning flags:\n", style="bold yellow")
    text.append("\n".join(f"  - {note}" for note in view.flags))
    return text


def dialogue_panel(view: DialogueView, reveal: bool = False) -> Panel:
    """One dialogue as a rich panel: header, setting, turns, candidate table(s), votes, cleaning flags."""
    parts: list[RenderableType] = [_setting(view), Text(), _turns(view)]
    for cset in view.candidate_sets:
        parts += [Text(), _candidates(cset, reveal), _votes(cset)]
    if not view.candidate_sets:
        parts += [Text(), Text("no candidate sets yet", style="dim")]
    parts += [Text(), _flags(view)]
    return Panel(Group(*parts), title=_header(view), subtitle=Text(view.id, style="dim"), title_align="left")


def print_dialogues(console: Console, views: list[DialogueView], reveal: bool = False) -> None:
    for view in views:
        console.print(dialogue_panel(view, reveal))

"""The ``charm-build`` app: every data stage's commands (and the annotation commands) under one typer app."""

from __future__ import annotations

import typer

from annotation.cli import annotate_app
from charm_apps import annotate_next
from charm_apps import core_commands as core
from charm_apps.demo import cli as demo_cli
from charm_builder.browse import cli as browse_cli
from charm_builder.export import cli as export_cli
from charm_builder.judge import cli as judge_cli
from charm_builder.llm.cli import models_app
from charm_builder.simulate import cli as simulate_cli
from charm_kernel.cli import run_app
from charm_kernel.help_text import reflow_app

app = typer.Typer(
    name="charm-build",
    help=(
        "Build Charm-style role-play preference data: simulate dialogues, collect six candidate "
        "replies, annotate best/worst in Argilla, export Hugging Face datasets.\n\n"
        "Quick start (offline): charm-build demo  (the whole pipeline in a few minutes; then charm-build "
        "show -w charm-workspace to read what it made)"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)
app.command("init")(core.init)
app.command("import")(core.import_)
app.command("stats")(core.stats)
app.command("schema")(core.schema)
app.command("simulate")(simulate_cli.simulate)
app.command("export")(export_cli.export)
app.command("translate")(export_cli.translate)
app.command("show")(browse_cli.show)
app.command("preview")(browse_cli.preview)
app.command("judge")(judge_cli.judge)
app.command("demo")(demo_cli.demo)
app.add_typer(models_app, name="models")
annotate_app.command("next")(annotate_next.next_sets)  # joins annotation and training
_annotate = annotate_app.registered_commands  # --help lists `next` right after `push`, as before
_annotate.insert(next(i for i, c in enumerate(_annotate) if c.callback.__name__ == "push") + 1, _annotate.pop())
app.add_typer(annotate_app, name="annotate")
reflow_app(app)


def main() -> None:
    """Entry point: user errors become one red line on stderr and exit code 2."""
    run_app(app)

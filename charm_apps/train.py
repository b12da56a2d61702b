"""``charm-train``: train and evaluate Act-Adaptive-Margin reward models.

Only the app: each command lives with its sub-package (``training/rm/cli.py``, ``rm/eval_cli.py``,
``rm/diagnose_cli.py``, ``rm/self_evolve_cli.py``, ``grpo/cli.py``, ``evaluation/cli.py``), a thin layer over
its library; every command validates its inputs first and fails with one line naming the file/field
(exit code 2) before anything is written.
"""

from __future__ import annotations

import typer

from charm_kernel.help_text import reflow_app
from training.evaluation import cli as evaluation_cli
from training.grpo import cli as grpo_cli
from training.rm import cli as rm_cli
from training.rm.diagnose_cli import diagnose_cmd
from training.rm.eval_cli import eval_rm
from training.rm.self_evolve_cli import self_evolve_cmd

app = typer.Typer(
    name="charm-train",
    help="Train Act-Adaptive-Margin (AAM) reward models on Charm data and evaluate them.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

app.command("rm")(rm_cli.rm)
app.command("table3")(rm_cli.table3)
app.command("eval-rm")(eval_rm)
app.command("diagnose")(diagnose_cmd)
app.command("self-evolve")(self_evolve_cmd)
app.command("grpo")(grpo_cli.grpo)
app.command("eval-dq")(evaluation_cli.eval_dq)
app.command("eval-ce")(evaluation_cli.eval_ce)
app.command("compare")(evaluation_cli.compare)
reflow_app(app)


def main() -> None:
    """Entry point of the ``charm-train`` script (one-line user errors, exit 2)."""
    from charm_kernel.cli import run_app

    run_app(app)


if __name__ == "__main__":  # pragma: no cover
    main()

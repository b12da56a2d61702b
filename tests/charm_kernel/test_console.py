"""charm_kernel.console.fail: one literal error line, the exit code asked for."""

from __future__ import annotations

import typer
from typer.testing import CliRunner

from charm_kernel.console import fail


def test_fail_prints_one_literal_line_and_exits_with_the_code() -> None:
    app = typer.Typer()

    @app.command()
    def go(code: int = 2) -> None:
        fail("data.jsonl: record 'x': field [bold]name[/bold] is empty", code=code)

    for code in (2, 1):
        res = CliRunner().invoke(app, ["--code", str(code)])
        assert res.exit_code == code
        assert res.stderr.strip().splitlines() == ["error: data.jsonl: record 'x': field [bold]name[/bold] is empty"]

"""Help texts that read as paragraphs.

A command's help comes from its docstring, wrapped in the source at about 110 columns. Typer's rich help
keeps those line breaks (in the command list of ``charm-build --help`` and in every paragraph after the
first of ``COMMAND --help``), so a sentence broke wherever the source line ended. :func:`reflow` joins the
lines of each prose paragraph and leaves alone what is laid out on purpose: indented lines (the examples),
list items, lines after one ending in ``:``, and paragraphs that start with click's ``\\b`` marker.
:func:`reflow_app` applies it to every command and group of a typer app, once, before it runs.
"""

from __future__ import annotations

import inspect
import re
from typing import Any

import typer

_LIST_ITEM = re.compile(r"^([-*•]|\d+[.)])\s")


def _starts_new_line(line: str, previous: str) -> bool:
    return (
        not line
        or line[0].isspace()
        or bool(_LIST_ITEM.match(line))
        or previous[:1].isspace()
        or previous.endswith(":")
    )


def reflow(text: str) -> str:
    """``text`` dedented, with the lines of each prose paragraph joined by spaces (see the module doc)."""
    paragraphs = []
    for paragraph in inspect.cleandoc(text).split("\n\n"):
        if paragraph.startswith("\b"):
            paragraphs.append(paragraph)
            continue
        lines: list[str] = []
        for line in paragraph.split("\n"):
            if lines and not _starts_new_line(line, lines[-1]):
                lines[-1] = f"{lines[-1]} {line.strip()}"
            else:
                lines.append(line.rstrip())
        paragraphs.append("\n".join(lines))
    return "\n\n".join(paragraphs)


def reflow_app(app: typer.Typer) -> typer.Typer:
    """Reflow the help of ``app``, its commands and its sub-apps, recursively (idempotent); returns ``app``."""
    if isinstance(app.info.help, str):
        app.info.help = reflow(app.info.help)
    for command in app.registered_commands:
        _reflow_info(command, command.callback)
    for group in app.registered_groups:
        _reflow_info(group, group.callback)
        if group.typer_instance is not None:
            reflow_app(group.typer_instance)
    return app


def _reflow_info(info: Any, callback: Any) -> None:
    text = info.help if isinstance(info.help, str) else inspect.getdoc(callback) if callback else None
    if text:
        info.help = reflow(text)

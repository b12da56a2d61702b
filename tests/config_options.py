"""Checks that a command's options and its config's fields are one source: same names, defaults, help."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import typer
from pydantic_core import PydanticUndefined

from charm_kernel.options import field_help, option_name

REQUIRED = object()  # a field / option without a default


def _field_defaults(config: type[Any]) -> dict[str, Any]:
    if hasattr(config, "__pydantic_fields__"):
        return {
            n: REQUIRED if f.default is PydanticUndefined else f.default for n, f in config.__pydantic_fields__.items()
        }
    return {
        f.name: REQUIRED if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING else f.default
        for f in dataclasses.fields(config)
    }


def command(app: typer.Typer, name: str) -> Any:
    """The click command ``name`` of a typer app."""
    return typer.main.get_command(app).commands[name]  # type: ignore[attr-defined]


def option_mismatches(
    cmd: Any,
    config: type[Any],
    *,
    options: Mapping[str, str] | None = None,
    params: Mapping[str, str] | None = None,
    cli_only: tuple[str, ...] = (),
    no_option: Mapping[str, str] | None = None,
    own_default: Mapping[str, str] | None = None,
) -> list[str]:
    """Every disagreement between ``cmd``'s options and ``config``'s fields, as readable lines.

    options: field -> option flag when it is not --FIELD-NAME; params: field -> the command's
    parameter name when it differs; cli_only: parameters that are no field; no_option / own_default:
    field -> the reason it has no option / the option keeps a different default."""
    options, params, no_option, own_default = options or {}, params or {}, no_option or {}, own_default or {}
    by_param = {p.name: p for p in cmd.params}
    defaults = _field_defaults(config)
    problems: list[str] = []
    matched: set[str] = set()
    for name, default in defaults.items():
        if name in no_option:
            continue
        param = by_param.get(params.get(name, name))
        if param is None:
            problems.append(f"field {name}: no option")
            continue
        matched.add(param.name)
        flag = option_name(name, options)
        if flag not in param.opts and flag not in getattr(param, "secondary_opts", []):
            problems.append(f"field {name}: option is {param.opts}, expected {flag}")
        option_default = REQUIRED if param.required else param.default
        if name not in own_default and option_default != default:
            problems.append(f"field {name}: default {default!r}, option {flag} default {option_default!r}")
        if param.help != field_help(config, name):
            problems.append(f"field {name}: help differs from option {flag}: {param.help!r}")
    for pname in by_param.keys() - matched - set(cli_only):
        problems.append(f"option {pname}: no field (and not listed as CLI-only)")
    for name in [*no_option, *own_default, *options, *params]:
        if name not in defaults:
            problems.append(f"{name}: listed, but {config.__name__} has no such field")
    return problems

"""One source per configuration: CLI options take their help from the config fields, and pydantic's
validation errors become our one-line error naming the option.

A config is a pydantic model or dataclass (``Field(description=...)``) or a plain dataclass
(``field(metadata={"help": ...})``); the CLI tests check that every field and its option agree on
name, default and help.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError


def field_help(config: type[Any], name: str) -> str:
    """The help text of field ``name`` of ``config`` (pydantic description or dataclass metadata)."""
    if hasattr(config, "__pydantic_fields__"):  # a pydantic model or pydantic dataclass
        text = config.__pydantic_fields__[name].description
    else:
        text = {f.name: f for f in dataclasses.fields(config)}[name].metadata.get("help")
    if not text:
        raise KeyError(f"{config.__name__}.{name} has no help text")
    return text


def option_name(field: str, options: Mapping[str, str] | None = None) -> str:
    """``batch_size`` -> ``--batch-size`` (or the name given in ``options``, e.g. output_dir -> --out)."""
    return (options or {}).get(field) or f"--{field.replace('_', '-')}"


def option_error(exc: ValidationError, options: Mapping[str, str] | None = None) -> str:
    """The first validation error as one line naming the option, e.g. ``--batch-size must be >= 1, got 0``."""
    err = exc.errors()[0]
    opt = option_name(str(err["loc"][0]) if err["loc"] else "", options)
    ctx, value = err.get("ctx") or {}, err.get("input")
    bounds = {"greater_than_equal": ">=", "greater_than": ">", "less_than_equal": "<=", "less_than": "<"}
    if err["type"] in bounds:
        limit = next(iter(ctx.values()))
        limit = int(limit) if isinstance(limit, float) and limit.is_integer() else limit  # ge=0 on a float: 0.0
        return f"{opt} must be {bounds[err['type']]} {limit}, got {value}"
    if err["type"] == "value_error":  # a model validator's rule: its message names the options itself
        return f"{opt}: {ctx['error']}" if err["loc"] else str(ctx["error"])
    if err["type"] == "literal_error":
        return f"{opt} {value!r}: choose {ctx['expected']}"
    return f"{opt}: {err['msg']}"

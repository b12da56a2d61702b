"""Deterministic, order-independent sampling and splitting.

Every choice (which roleReward items to keep, which dialogues go to the GRPO split) is made by
sorting on a seeded hash of a stable id, so the same workspace, options and seed give the same
export on any machine, and adding records does not reshuffle the existing assignment.
Polars' own hash is not stable across versions, hence hashlib.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Literal

import polars as pl

from schemas import CHAT_ROLES, content_id

SplitBy = Literal["dialogue", "character"]
SPLIT_UNITS: dict[str, str] = {"dialogue": "dialogue_id", "character": "character_id"}


def seeded_key(value: str, seed: int) -> int:
    """A 63-bit sort key for ``value`` under ``seed``."""
    digest = hashlib.blake2b(f"{seed}:{value}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") >> 1


def seeded_keys(values: list[str], seed: int) -> list[int]:
    """``seeded_key`` of every value (the same numbers, without a call per value)."""
    blake2b, head = hashlib.blake2b, f"{seed}:"
    return [int.from_bytes(blake2b(f"{head}{v}".encode(), digest_size=8).digest(), "big") >> 1 for v in values]


def with_seeded_key(frame: pl.DataFrame, column: str, seed: int, name: str = "_key") -> pl.DataFrame:
    """Add a seeded sort key computed from ``column``."""
    values = frame[column].unique().to_list()
    keys = pl.DataFrame(
        {column: values, name: seeded_keys(values, seed)},
        schema={column: frame.schema[column], name: pl.Int64},
    )
    return frame.join(keys, on=column, how="left")


def pick_fraction(units: Iterable[str], fraction: float, seed: int) -> set[str]:
    """The seeded ``fraction`` of ``units`` (at least one when fraction > 0 and there are two or more)."""
    distinct = list(set(units))
    keyed = pl.DataFrame({"u": distinct, "k": seeded_keys(distinct, seed)}, schema={"u": pl.String, "k": pl.Int64})
    ordered = keyed.sort("k", "u")["u"].to_list()  # (key, unit): byte order of UTF-8 = code point order
    n = round(len(ordered) * fraction)
    if fraction > 0 and n == 0 and len(ordered) >= 2:
        n = 1
    return set(ordered[:n])


def row_ids(prefix: str, frame: pl.DataFrame, columns: list[str]) -> pl.Series:
    """Content-derived row ids (schemas.content_id over the given columns).

    Text columns without characters JSON escapes (quote, backslash, control characters) are hashed from
    their canonical JSON built in polars, the same bytes ``content_id`` hashes; other rows go through
    ``content_id`` itself."""
    parts = frame.select(columns)
    if parts.is_empty():
        return pl.Series("id", [], dtype=pl.String)
    if not all(dtype == pl.String for dtype in parts.dtypes):
        return pl.Series("id", [content_id(prefix, list(p)) for p in parts.iter_rows()], dtype=pl.String)
    plain = pl.all_horizontal(pl.col(c).is_not_null() & ~pl.col(c).str.contains(_ESCAPED) for c in columns)
    blobs = parts.select(
        plain.alias("plain"),
        pl.concat_str([pl.lit('["'), pl.concat_str(columns, separator='","'), pl.lit('"]')]).alias("blob"),
    )
    sha, head = hashlib.sha256, f"{prefix}_"
    ids = [head + sha(blob.encode()).hexdigest()[:16] for blob in blobs["blob"].fill_null("").to_list()]
    for i in (~blobs["plain"]).arg_true().to_list():
        ids[i] = content_id(prefix, list(parts.row(i)))
    return pl.Series("id", ids, dtype=pl.String)


_ESCAPED = r'["\\\x00-\x1f]'  # what json.dumps(ensure_ascii=False) escapes in a string


def context_key_expr(column: str = "context", text_field: str = "text") -> pl.Expr:
    """A 64-bit hash (stable within one process) identifying a conversation context by its turns' roles and texts (for overlap checks).

    roleReward/dialogueQuality turns are user/character with ``text``; TRL prompts are
    user/assistant with ``content`` after a system message. Both normalise to the same key.
    """
    return (
        pl.col(column)
        .list.eval(
            pl.when(pl.element().struct.field("role") == "system")
            .then(pl.lit(None, dtype=pl.String))
            .otherwise(
                pl.element().struct.field("role").replace(CHAT_ROLES)
                + pl.lit("\x1f")
                + pl.element().struct.field(text_field)
            )
        )
        .list.drop_nulls()
        .list.join("\x1e")
        .hash(seed=0)
        .alias("context_key")
    )

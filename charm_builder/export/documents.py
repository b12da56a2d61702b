"""Stored JSON documents -> polars frames in one parse, with pyarrow's JSON reader.

The store keeps each record as one JSON document (``model_dump_json``: one line). Parsing a page of
documents at once with an explicit schema (fields not named are skipped) is the cheapest way to get
nested columns (a dialogue context, the six candidates) out of SQLite: one parse per document, no
Python object per field.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl
import pyarrow as pa
import pyarrow.json as pj

BLOCK_BYTES = 4 << 20  # pyarrow parses blocks of this size on its threads (a document must fit in one)
MESSAGE = pa.struct([("role", pa.string()), ("speaker", pa.string()), ("text", pa.string())])
CANDIDATE = pa.struct(
    [("label", pa.string()), ("model_id", pa.string()), ("text", pa.string()), ("flags", pa.list_(pa.string()))]
)
CANDIDATE_SET = pa.schema(
    [
        ("id", pa.string()),
        ("dialogue_id", pa.string()),
        ("context", pa.list_(MESSAGE)),
        ("candidates", pa.list_(CANDIDATE)),
    ]
)
ANNOTATION = pa.schema(
    [
        ("candidate_set_id", pa.string()),
        ("annotator", pa.string()),
        ("best", pa.string()),
        ("worst", pa.string()),
        ("source", pa.string()),
    ]
)


def parse_documents(docs: Sequence[bytes], schema: pa.Schema) -> pl.DataFrame:
    """One row per JSON document with the ``schema`` fields (null where a document lacks one)."""
    if not docs:
        return pl.from_arrow(schema.empty_table())  # type: ignore[return-value]
    buf = b"\n".join(docs)
    try:
        table = _read(buf, schema, multiline=False)
    except pa.ArrowInvalid:
        table = None
    if table is None or table.num_rows != len(docs):  # pretty-printed by another tool, or longer than a block
        table = _read(buf, schema, multiline=True)
    return pl.from_arrow(table)  # type: ignore[return-value]


def _read(buf: bytes, schema: pa.Schema, multiline: bool) -> pa.Table:
    # One block when documents may span lines (or one is longer than a block): it cannot be split then.
    block = max(len(buf) + 1, BLOCK_BYTES) if multiline else BLOCK_BYTES
    return pj.read_json(
        pa.BufferReader(buf),
        read_options=pj.ReadOptions(use_threads=True, block_size=block),
        parse_options=pj.ParseOptions(
            explicit_schema=schema, unexpected_field_behavior="ignore", newlines_in_values=multiline
        ),
    )


def compact(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of ``frame`` in fresh buffers. Columns cut from a parsed page can keep the page's whole
    buffers alive; frames kept after the page is gone are compacted so memory follows what they hold."""
    return pl.from_arrow(frame.to_arrow())  # type: ignore[return-value]

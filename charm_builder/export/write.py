"""Write split frames (streamed: one frame at a time) in the layouts of `datasets` (save_to_disk, parquet or
JSON Lines) and read them back."""

from __future__ import annotations

import contextlib
import json
import shutil
import uuid
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

import datasets
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from datasets.arrow_writer import ArrowWriter, get_parquet_column_options, get_writer_batch_size_from_data_size
from datasets.fingerprint import generate_random_fingerprint
from datasets.utils.py_utils import asdict as hf_asdict
from datasets.utils.py_utils import convert_file_size_to_int

from charm_kernel.errors import CharmError

FORMATS: tuple[str, ...] = ("hf", "parquet", "jsonl")


def _plain_type(t: pa.DataType) -> pa.DataType:
    """large_string/large_list -> string/list, recursively (what most HF tooling expects)."""
    if pa.types.is_large_string(t) or pa.types.is_string_view(t):
        return pa.string()
    if pa.types.is_large_list(t) or pa.types.is_list(t):
        return pa.list_(_plain_type(t.value_type))
    if pa.types.is_struct(t):
        return pa.struct([pa.field(f.name, _plain_type(f.type), f.nullable) for f in t])
    return t


def to_arrow(frame: pl.DataFrame) -> pa.Table:
    """A polars frame as an arrow table with plain (non-large) types."""
    table = frame.to_arrow()
    schema = pa.schema([pa.field(f.name, _plain_type(f.type), f.nullable) for f in table.schema])
    return table.cast(schema)


def to_dataset(frame: pl.DataFrame) -> datasets.Dataset:
    """A polars frame as a datasets.Dataset with plain (non-large) arrow types."""
    return datasets.Dataset(to_arrow(frame))


@contextlib.contextmanager
def quiet_datasets() -> Iterator[None]:
    """Silence datasets' own tqdm bars while we show ours."""
    was_disabled = datasets.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            datasets.enable_progress_bars()


Batches = pl.DataFrame | Iterable[pl.DataFrame]


def write_splits(splits: Mapping[str, Batches], directory: Path, fmt: str) -> list[str]:
    """Write each split (one frame, or its frames in order: written as they come, so memory is bounded by
    one frame) into ``directory`` in ``fmt``; returns the files/folders written (relative). The files are
    what ``datasets`` writes for ``save_to_disk`` / ``to_parquet`` / ``to_json(lines=True)``."""
    if fmt not in FORMATS:
        raise CharmError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    with quiet_datasets():
        for name, batches in splits.items():
            frames = [batches] if isinstance(batches, pl.DataFrame) else batches
            if fmt == "hf":
                _write_hf_split(frames, directory / name)
            elif fmt == "parquet":
                _write_parquet(frames, directory / f"{name}.parquet")
                written.append(f"{name}.parquet")
            else:
                _write_jsonl(frames, directory / f"{name}.jsonl")
                written.append(f"{name}.jsonl")
    if fmt == "hf":
        (directory / datasets.config.DATASETDICT_JSON_FILENAME).write_text(json.dumps({"splits": list(splits)}))
        return ["dataset_dict.json", *sorted(splits)]
    return written


def _tables(frames: Iterable[pl.DataFrame]) -> Iterator[tuple[pa.Table, datasets.Features]]:
    """Each frame as an arrow table with plain types and the first frame's schema, plus the features."""
    schema, features = None, None
    for frame in frames:
        table = to_arrow(frame)
        if schema is None:
            schema, features = table.schema, datasets.Features.from_arrow_schema(table.schema)
        elif table.schema != schema:
            table = table.cast(schema)
        yield table, features  # type: ignore[misc]


def _write_hf_split(frames: Iterable[pl.DataFrame], folder: Path) -> None:
    """One split as ``Dataset.save_to_disk`` lays it out: arrow shards of at most MAX_SHARD_SIZE,
    dataset_info.json and state.json."""
    folder.mkdir(parents=True, exist_ok=True)
    max_bytes = convert_file_size_to_int(datasets.config.MAX_SHARD_SIZE)
    shards: list[Path] = []
    writer, size, features = None, 0, None
    for table, features in _tables(frames):
        if writer is None or size >= max_bytes:
            if writer is not None:
                writer.finalize()
                writer.close()
            shards.append(folder / f".shard-{len(shards):05d}.arrow")
            writer, size = ArrowWriter(features=features, path=str(shards[-1]), embed_local_files=True), 0
        writer.write_table(table)
        size += table.nbytes
    if writer is not None:
        writer.finalize()
        writer.close()
    names = [f"data-{i:05d}-of-{len(shards):05d}.arrow" for i in range(len(shards))]
    for shard, name in zip(shards, names, strict=True):
        shard.rename(folder / name)
    state = {
        "_data_files": [{"filename": name} for name in names],
        "_fingerprint": generate_random_fingerprint(),
        "_format_columns": None,
        "_format_kwargs": {},
        "_format_type": None,
        "_output_all_columns": False,
        "_split": None,
    }
    (folder / datasets.config.DATASET_STATE_JSON_FILENAME).write_text(
        json.dumps(state, indent=2, sort_keys=True), encoding="utf-8"
    )
    info = hf_asdict(datasets.DatasetInfo(features=features))
    (folder / datasets.config.DATASET_INFO_FILENAME).write_text(
        json.dumps({key: info[key] for key in sorted(info)}, indent=2), encoding="utf-8"
    )


def _write_parquet(frames: Iterable[pl.DataFrame], path: Path) -> None:
    """One parquet file (with the `huggingface` features metadata, as ``Dataset.to_parquet``), a row group
    per frame (at most about 100 MB)."""
    writer = None
    try:
        for table, features in _tables(frames):
            if writer is None:
                schema = features.arrow_schema
                writer = pq.ParquetWriter(
                    str(path),
                    schema=schema,
                    use_content_defined_chunking=datasets.config.DEFAULT_CDC_OPTIONS,
                    write_page_index=True,
                    **get_parquet_column_options(features, schema),
                )
            rows = get_writer_batch_size_from_data_size(table.num_rows, table.nbytes)
            writer.write_table(table.cast(writer.schema), row_group_size=rows)
    finally:
        if writer is not None:
            writer.close()


def _write_jsonl(frames: Iterable[pl.DataFrame], path: Path) -> None:
    """JSON Lines exactly as ``Dataset.to_json(lines=True, force_ascii=False)`` writes them, frame by frame."""
    with path.open("wb") as fh:
        for table, _ in _tables(frames):
            datasets.Dataset(table).to_json(fh, lines=True, force_ascii=False)


def read_splits(directory: Path, fmt: str, names: list[str]) -> dict[str, pl.DataFrame]:
    """Read the splits written by ``write_splits`` back as polars frames.

    Every table is checked in full (``Table.validate(full=True)``: offsets, lengths, UTF-8) before
    polars touches it, parquet is parsed by pyarrow and jsonl by Python's json module: on damaged
    files the native readers (polars' parquet reader, Arrow's JSON reader) can crash the process,
    where these raise an exception that ``export --check`` turns into one line."""
    out: dict[str, pl.DataFrame] = {}
    with quiet_datasets():
        if fmt == "hf":
            dd = datasets.load_from_disk(str(directory))
            if not isinstance(dd, datasets.DatasetDict):
                raise CharmError(f"{directory}: expected a DatasetDict saved with save_to_disk")
            for name in names:
                if name not in dd:
                    raise CharmError(f"{directory}: split {name!r} listed in manifest.json is missing")
                out[name] = _frame(dd[name].data.table)
            return out
        for name in names:
            path = directory / f"{name}.{fmt}"
            if not path.exists():
                raise CharmError(f"{path}: missing (listed in manifest.json)")
            out[name] = _frame(pq.read_table(path) if fmt == "parquet" else _read_jsonl(path))
    return out


def _frame(table: pa.Table) -> pl.DataFrame:
    table.validate(full=True)
    return pl.from_arrow(table)  # type: ignore[return-value]


def _read_jsonl(path: Path) -> pa.Table:
    rows = []
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if line.strip():
                try:
                    row = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise CharmError(f"{path}: line {n}: invalid JSON ({exc.msg})") from None
                if not isinstance(row, dict):
                    raise CharmError(f"{path}: line {n}: expected a JSON object, got {type(row).__name__}")
                rows.append(row)
    return pa.Table.from_pylist(rows)


@contextlib.contextmanager
def atomic_directory(out: Path, overwrite: bool) -> Iterator[Path]:
    """Yield a temporary sibling folder; on success it replaces ``out``, on failure it is removed."""
    check_out_dir(out, overwrite)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
        old = None
        if out.exists():
            old = out.parent / f".{out.name}.old-{uuid.uuid4().hex[:8]}"
            out.rename(old)
        tmp.rename(out)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def check_out_dir(out: Path, overwrite: bool) -> None:
    """Refuse a non-empty output folder unless ``overwrite``; refuse a file."""
    if out.exists() and not out.is_dir():
        raise CharmError(f"{out}: exists and is not a directory; choose another --out")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        raise CharmError(f"{out}: directory is not empty; pass --overwrite to replace it or choose another --out")

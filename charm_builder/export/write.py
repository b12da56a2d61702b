"""Write split frames with `datasets` (save_to_disk, parquet or JSON Lines) and read them back."""

from __future__ import annotations

import contextlib
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import datasets
import polars as pl
import pyarrow as pa

from charm_builder.errors import CharmError

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


def to_dataset(frame: pl.DataFrame) -> datasets.Dataset:
    """A polars frame as a datasets.Dataset with plain (non-large) arrow types."""
    table = frame.to_arrow()
    schema = pa.schema([pa.field(f.name, _plain_type(f.type), f.nullable) for f in table.schema])
    return datasets.Dataset(table.cast(schema))


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


def write_splits(splits: dict[str, pl.DataFrame], directory: Path, fmt: str) -> list[str]:
    """Write each split into ``directory`` in ``fmt``; returns the files/folders written (relative)."""
    directory.mkdir(parents=True, exist_ok=True)
    dsets = {name: to_dataset(frame) for name, frame in splits.items()}
    with quiet_datasets():
        if fmt == "hf":
            datasets.DatasetDict(dsets).save_to_disk(str(directory))
            return ["dataset_dict.json", *sorted(dsets)]
        written = []
        for name, ds in dsets.items():
            if fmt == "parquet":
                ds.to_parquet(str(directory / f"{name}.parquet"))
                written.append(f"{name}.parquet")
            elif fmt == "jsonl":
                ds.to_json(str(directory / f"{name}.jsonl"), lines=True, force_ascii=False)
                written.append(f"{name}.jsonl")
            else:
                raise CharmError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
        return written


def read_splits(directory: Path, fmt: str, names: list[str]) -> dict[str, pl.DataFrame]:
    """Read the splits written by ``write_splits`` back as polars frames."""
    out: dict[str, pl.DataFrame] = {}
    with quiet_datasets():
        if fmt == "hf":
            dd = datasets.load_from_disk(str(directory))
            if not isinstance(dd, datasets.DatasetDict):
                raise CharmError(f"{directory}: expected a DatasetDict saved with save_to_disk")
            for name in names:
                if name not in dd:
                    raise CharmError(f"{directory}: split {name!r} listed in manifest.json is missing")
                out[name] = pl.from_arrow(dd[name].data.table)  # type: ignore[assignment]
            return out
        for name in names:
            path = directory / f"{name}.{fmt}"
            if not path.exists():
                raise CharmError(f"{path}: missing (listed in manifest.json)")
            if fmt == "parquet":
                out[name] = pl.read_parquet(path)
            else:
                ds = datasets.Dataset.from_json(str(path), keep_in_memory=True) if path.stat().st_size else None
                out[name] = pl.from_arrow(ds.data.table) if ds is not None else pl.DataFrame()  # type: ignore[assignment]
    return out


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

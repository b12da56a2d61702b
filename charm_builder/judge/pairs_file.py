"""Read a preference file, and write a copy of it with one column replaced or added.

Accepted (``charm-build judge --file``): a ``.parquet``, ``.jsonl`` or ``.json`` (array) file, or a
folder written by ``save_to_disk`` (a ``DatasetDict``, e.g. a ``preferenceTraining`` export, or a plain
``Dataset``). Rows with ``prompt`` / ``chosen`` / ``rejected`` are pairs; a split without those columns
(the export's prompt-only ``grpo`` split) is copied unchanged. ``prompt`` is a string (one user turn) or
a list of ``{role, content}`` messages; ``chosen`` / ``rejected`` a string, a message or a list of
messages (the last one is the reply), as TRL's standard and conversational preference formats have them.
The copy has the same format as the input; the input is never modified.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from charm_kernel.errors import CharmError, InputFormatError
from schemas import PAIR_TEXT_COLUMNS

FILE_SUFFIXES = (".parquet", ".jsonl", ".json")


@dataclass
class Pair:
    """One preference pair, ready for the judge prompt."""

    split: str
    row: int
    id: str
    character: str  # the system message(s) of the prompt ("" for none)
    turns: list[tuple[str, str]]  # (speaker, text) of the other prompt messages
    chosen: str
    rejected: str
    dimension: str


@dataclass
class PairsFile:
    """A preference file as read: its splits' rows (``""`` for a single file or plain dataset)."""

    path: Path
    kind: str  # parquet | jsonl | json | dataset | dataset_dict
    splits: dict[str, list[dict[str, Any]]]

    def pairs(self) -> list[Pair]:
        """Every row of every split that has the pair columns, checked; InputFormatError otherwise."""
        out = []
        for split, rows in self.splits.items():
            if not rows or not set(PAIR_TEXT_COLUMNS) <= set(rows[0]):
                continue
            where = f"{self.path}[{split}]" if split else str(self.path)
            for i, row in enumerate(rows):
                character, turns = _prompt(where, i, row.get("prompt"))
                out.append(
                    Pair(
                        split,
                        i,
                        str(row.get("id") or f"row {i}"),
                        character,
                        turns,
                        _reply(where, i, row.get("chosen"), "chosen"),
                        _reply(where, i, row.get("rejected"), "rejected"),
                        str(row.get("dimension") or ""),
                    )
                )
        if not out:
            have = sorted({c for rows in self.splits.values() for r in rows[:1] for c in r})
            raise CharmError(
                f"{self.path}: no preference pairs (need columns {', '.join(PAIR_TEXT_COLUMNS)}; found: "
                f"{', '.join(have) or 'nothing'})"
            )
        return out


def read_pairs_file(path: str | os.PathLike[str]) -> PairsFile:
    """The file's rows, by split; CharmError naming the file when it cannot be read."""
    p = Path(path)
    if not p.exists():
        raise CharmError(f"{p}: no such file or directory")
    if p.is_dir():
        return _read_saved(p)
    if p.suffix not in FILE_SUFFIXES:
        raise CharmError(f"{p}: unsupported file type (expected .parquet, .jsonl, .json or a save_to_disk folder)")
    if p.suffix == ".parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            return PairsFile(p, "parquet", {"": pq.read_table(p).to_pylist()})
        except (OSError, pa.ArrowException) as exc:
            raise CharmError(f"{p}: cannot read parquet ({exc})") from None
    from charm_builder.importers.common import read_json, read_json_lines

    if p.suffix == ".jsonl":
        rows = [r for _, r in read_json_lines(p)]
        kind = "jsonl"
    else:
        data = read_json(p)
        rows, kind = (data if isinstance(data, list) else [data]), "json"
    for i, r in enumerate(rows):
        if not isinstance(r, dict):
            raise InputFormatError(str(p), f"row {i}", None, f"expected an object, got {type(r).__name__}")
    return PairsFile(p, kind, {"": rows})


def _read_saved(p: Path) -> PairsFile:
    if not ((p / "dataset_dict.json").exists() or (p / "state.json").exists()):
        files = sorted(f for f in p.rglob("*") if f.suffix in FILE_SUFFIXES and f.name != "manifest.json")
        hint = f"; pass one of its files, e.g. --file {files[0]}" if files else ""
        raise CharmError(f"{p}: a folder, but not one written by save_to_disk (no dataset_dict.json){hint}")
    from datasets import DatasetDict, load_from_disk

    try:
        loaded = load_from_disk(str(p))
    except Exception as exc:  # datasets raises several types for corrupt folders
        raise CharmError(f"{p}: cannot load saved dataset ({exc})") from None
    if isinstance(loaded, DatasetDict):
        return PairsFile(p, "dataset_dict", {name: ds.to_list() for name, ds in loaded.items()})
    return PairsFile(p, "dataset", {"": loaded.to_list()})


def _prompt(where: str, i: int, value: Any) -> tuple[str, list[tuple[str, str]]]:
    if isinstance(value, str) and value.strip():
        return "", [("User", value)]
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value and all(isinstance(m, dict) and "role" in m for m in value):
        system = [str(m.get("content") or "") for m in value if m["role"] == "system"]
        turns = [(str(m["role"]).title(), str(m.get("content") or "")) for m in value if m["role"] != "system"]
        return "\n".join(system), turns
    raise InputFormatError(where, f"row {i}", "prompt", "expected a string or a list of {role, content} messages")


def _reply(where: str, i: int, value: Any, key: str) -> str:
    if isinstance(value, dict):
        value = [value]
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        value = value[-1].get("content")
    if not isinstance(value, str) or not value.strip():
        raise InputFormatError(where, f"row {i}", key, "expected a non-empty string or {role, content} message(s)")
    return value


# ---------------------------------------------------------------------------------------- writing


def check_out(src: PairsFile, out: str | os.PathLike[str]) -> Path:
    """``out`` as a path the copy of ``src`` may replace; CharmError naming --out otherwise."""
    target = Path(out)
    here, there = src.path.resolve(), target.resolve()
    if there == here or here in there.parents or there in here.parents:
        raise CharmError(f"--out {target}: would overwrite the input {src.path}; choose another path")
    folder = src.kind in ("dataset", "dataset_dict")
    if target.exists() and target.is_dir() != folder:
        need = "a folder (the input is a save_to_disk folder)" if folder else f"a {target.suffix or 'file'} file path"
        raise CharmError(f"--out {target}: exists and is not {need}")
    if not folder and target.suffix != src.path.suffix:
        raise CharmError(f"--out {target}: the copy keeps the input's format; end it with {src.path.suffix}")
    return target


def write_with_column(
    src: PairsFile, out: str | os.PathLike[str], column: str, values: dict[tuple[str, int], float | None]
) -> Path:
    """Write a copy of ``src`` to ``out`` (same format) with ``column`` set to ``values[(split, row)]`` on
    the pair splits (rows missing from ``values`` get null). Atomic: ``out`` is replaced only once the copy
    is complete; ``out`` may not be ``src`` itself."""
    target = check_out(src, out)
    splits = {
        name: (
            [{**r, column: values.get((name, i))} for i, r in enumerate(rows)]
            if rows and set(PAIR_TEXT_COLUMNS) <= set(rows[0])
            else rows
        )
        for name, rows in src.splits.items()
    }
    with _replacing(target) as tmp:
        if src.kind == "parquet":
            _write_parquet(src.path, tmp, splits[""], column)
        elif src.kind == "jsonl":
            tmp.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in splits[""]), encoding="utf-8")
        elif src.kind == "json":
            tmp.write_text(json.dumps(splits[""], ensure_ascii=False, indent=1), encoding="utf-8")
        else:
            _write_saved(src, tmp, splits, column)
    return target


def _write_parquet(source: Path, tmp: Path, rows: list[dict[str, Any]], column: str) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(source)  # keep the input's own column types
    if column in table.column_names:
        table = table.drop_columns([column])
    table = table.append_column(column, pa.array([r[column] for r in rows], type=pa.float64()))
    pq.write_table(table, tmp)


def _write_saved(src: PairsFile, tmp: Path, splits: dict[str, list[dict[str, Any]]], column: str) -> None:
    from datasets import Dataset, DatasetDict, load_from_disk

    loaded = load_from_disk(str(src.path))  # columns keep their features; only ``column`` changes
    parts = loaded if isinstance(loaded, DatasetDict) else {"": loaded}
    done = {}
    for name, ds in parts.items():
        if set(PAIR_TEXT_COLUMNS) <= set(ds.column_names):
            if column in ds.column_names:
                ds = ds.remove_columns(column)
            from datasets import Value

            ds = ds.add_column(column, [r[column] for r in splits[name]], feature=Value("float64"))
        done[name] = ds
    result = DatasetDict(done) if isinstance(loaded, DatasetDict) else next(iter(done.values()))
    assert isinstance(result, (Dataset, DatasetDict))
    result.save_to_disk(str(tmp))


@contextmanager
def _replacing(target: Path) -> Iterator[Path]:
    """A temporary sibling path to write; moved onto ``target`` on success, removed on failure."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
    try:
        yield tmp
        if target.is_dir():
            old = target.parent / f".{target.name}.old-{uuid.uuid4().hex[:8]}"
            target.rename(old)
            tmp.rename(target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    finally:
        if tmp.is_dir():
            shutil.rmtree(tmp, ignore_errors=True)
        elif tmp.exists():
            tmp.unlink()

"""Load preference data, tokenise prompt/response pairs and collate them into one RM batch.

Input formats (``load_rows``):

* a folder written by ``DatasetDict.save_to_disk`` (has ``dataset_dict.json``): the named split;
* a folder written by ``Dataset.save_to_disk`` (a plain dataset, no splits);
* a ``.parquet`` / ``.jsonl`` / ``.json`` file, or a folder holding ``{split}.parquet``,
  ``{split}.jsonl`` or ``{split}-*.parquet`` files (a parquet/jsonl export).

Our export's preference rows are TRL conversational preference rows: ``prompt`` (list of
``{role, content}`` messages, including the character system prompt), ``chosen`` / ``rejected`` (each
a list holding one assistant message). Plain strings are accepted too (standard format). The other TRL
preference shapes (implicit prompts, whole conversations) are normalised to these by
:mod:`training.rm.formats`, and :mod:`training.rm.sources` loads and mixes several sources.

Tokenisation renders ``prompt`` and ``prompt + response`` with the tokenizer's chat template and
splits at their common prefix, so the response tokens are exactly the tokens the template adds for
the assistant turn (including its end-of-turn marker, which is where the reward is read).
Over-long examples are truncated, not dropped: the response keeps its beginning (at most
``max_length - min(prompt, max_length // 2)`` tokens) and the prompt keeps its *end* (the most recent
turns). The paper does not say how it handles length; choose ``max_length`` to fit your data.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from datasets import Dataset, DatasetDict, load_from_disk

from schemas import PAIR_TEXT_COLUMNS, PreferencePair
from schemas.rows import RowError, required_columns, validate_rows

PREFERENCE_COLUMNS = PAIR_TEXT_COLUMNS


class DataError(ValueError):
    """A user-caused data problem; the message names the file/row/field."""


# --------------------------------------------------------------------------------------- loading


def _read_files(files: Sequence[Path]) -> Dataset:
    import pyarrow as pa
    import pyarrow.parquet as pq

    tables = []
    for f in files:
        try:
            if f.suffix == ".parquet":
                tables.append(pq.read_table(f))
            else:
                with f.open(encoding="utf-8") as fh:
                    text = fh.read()
                if f.suffix == ".json" and text.lstrip().startswith("["):
                    rows = json.loads(text)
                else:
                    rows = [json.loads(line) for line in text.splitlines() if line.strip()]
                tables.append(pa.Table.from_pylist(rows))
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{f}: cannot read ({exc.__class__.__name__}: {exc})") from exc
    table = tables[0] if len(tables) == 1 else pa.concat_tables(tables, promote_options="default")
    return Dataset(table)


def _split_files(folder: Path, split: str) -> tuple[str, list[Path]] | None:
    """The files of ``split`` in a parquet/jsonl folder (a cloned hub repo keeps them under ``data/``)."""
    patterns = (
        f"{split}.parquet",
        f"{split}-*.parquet",
        f"{split}.jsonl",
        f"{split}.json",
        f"{split}/*.parquet",
        f"{split}/*.jsonl",
        f"data/{split}-*.parquet",
    )
    for pattern in patterns:
        files = sorted(folder.glob(pattern))
        if files:
            return pattern, files
    return None


def has_split(path: str | os.PathLike[str], split: str) -> bool:
    """Whether ``path`` is a folder holding ``split`` (a save_to_disk DatasetDict or parquet/jsonl files)."""
    p = Path(path)
    if not p.is_dir():
        return False
    if (p / "dataset_dict.json").exists():
        try:
            splits = json.loads((p / "dataset_dict.json").read_text(encoding="utf-8")).get("splits") or []
        except (OSError, ValueError, AttributeError):
            return False
        return split in splits
    return _split_files(p, split) is not None


def load_rows(path: str | os.PathLike[str], split: str | None = "train") -> tuple[Dataset, str]:
    """Load one split of an export (see module docstring). Returns the rows and a name for messages.

    ``split=None`` takes every split of a ``DatasetDict`` (concatenated) or every file of a folder.
    """
    p = Path(path)
    if not p.exists():
        raise DataError(f"{p}: no such file or directory")
    if p.is_file():
        if p.suffix not in (".parquet", ".jsonl", ".json"):
            raise DataError(f"{p}: unsupported file type (expected .parquet, .jsonl or .json)")
        return _read_files([p]), str(p)
    if (p / "dataset_dict.json").exists() or (p / "state.json").exists():
        try:
            loaded = load_from_disk(str(p))
        except Exception as exc:  # datasets raises several types for corrupt folders
            raise DataError(f"{p}: cannot load saved dataset ({exc})") from exc
        if isinstance(loaded, DatasetDict):
            if split is None:
                from datasets import concatenate_datasets

                try:
                    return concatenate_datasets(list(loaded.values())), str(p)
                except ValueError as exc:
                    raise DataError(f"{p}: splits {', '.join(loaded)} differ in columns; pass a split") from exc
            if split not in loaded:
                raise DataError(f"{p}: no split {split!r} (has: {', '.join(loaded) or 'none'})")
            return loaded[split], f"{p}[{split}]"
        return loaded, str(p)
    if split is not None:
        found = _split_files(p, split)
        if found is not None:
            pattern, files = found
            return _read_files(files), str(files[0] if len(files) == 1 else p / pattern)
    files = sorted([*p.glob("*.parquet"), *p.glob("*.jsonl")])
    other_splits = {"grpo", "test", "validation"}
    if files and (split is None or not any(f.stem.split("-")[0] in other_splits for f in files)):
        return _read_files(files), str(files[0] if len(files) == 1 else p)
    raise DataError(f"{p}: no dataset found (expected save_to_disk output, {split}.parquet or {split}.jsonl)")


def validate_charm_pairs(rows: Dataset, source: str) -> None:
    """Rows of a charm-build preferenceTraining export (every ``PreferencePair`` column present) are
    validated against that schema, with ``chosen``/``rejected`` read from TRL's one-assistant-message
    form; other preference data (any TRL conversational/standard pairs) is left to :func:`encode`."""
    if not set(required_columns(PreferencePair)) <= set(rows.column_names):
        return
    flat = ({**row, "chosen": _single_reply(row["chosen"]), "rejected": _single_reply(row["rejected"])} for row in rows)
    try:
        validate_rows(PreferencePair, flat, source)
    except RowError as exc:
        raise DataError(str(exc)) from None


def _single_reply(value: Any) -> Any:
    """The text of ``[{"role": "assistant", "content": text}]`` (as the export writes a reply), else as is."""
    if isinstance(value, list) and len(value) == 1 and isinstance(value[0], dict):
        return value[0].get("content")
    return value


def require_columns(rows: Dataset, columns: Iterable[str], source: str) -> None:
    """Raise DataError naming the first missing column."""
    have = set(rows.column_names)
    for col in columns:
        if col not in have:
            raise DataError(f"{source}: missing column {col!r} (found: {', '.join(sorted(have)) or 'none'})")
    if len(rows) == 0:
        raise DataError(f"{source}: no rows")


# ----------------------------------------------------------------------------------- tokenising


def _as_messages(value: Any, role: str, where: str) -> list[dict[str, str]]:
    if isinstance(value, str):
        return [{"role": role, "content": value}]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, list) or not value:
        raise DataError(f"{where}: expected a string or a non-empty list of {{role, content}} messages")
    out = []
    for m in value:
        if not isinstance(m, dict) or m.get("role") is None or "content" not in m:
            raise DataError(f"{where}: every message needs 'role' and 'content'")
        out.append({"role": str(m["role"]), "content": "" if m["content"] is None else str(m["content"])})
    return out


def _response_text(value: Any, where: str) -> str | list[dict[str, str]]:
    if isinstance(value, str):
        return value
    msgs = _as_messages(value, "assistant", where)
    return msgs


def encode(
    tokenizer: Any,
    prompt: Any,
    response: Any,
    max_length: int,
    where: str = "row",
) -> tuple[list[int], int]:
    """Tokenise one prompt/response pair. Returns ``(input_ids, response_start)``.

    ``prompt`` is a message list (rendered with the chat template) or plain text; ``response`` is an
    assistant message list / dict or plain text. ``input_ids[response_start:]`` are the response tokens.
    """
    if max_length < 8:
        raise DataError(f"max_length must be at least 8, got {max_length}")
    resp = _response_text(response, f"{where}: response")
    if isinstance(prompt, str) and isinstance(resp, str):
        prompt_part = prompt
        eos = tokenizer.eos_token or ""
        resp_part = resp if resp.endswith(eos) else resp + eos
        prompt_ids = tokenizer(prompt_part, add_special_tokens=True)["input_ids"]
    else:
        messages = _as_messages(prompt, "user", f"{where}: prompt")
        resp_msgs = _as_messages(resp, "assistant", f"{where}: response")
        prompt_text = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
        full_text = tokenizer.apply_chat_template(messages + resp_msgs, tokenize=False)
        cut = len(os.path.commonprefix([prompt_text, full_text]))  # noqa: RUF071 (character prefix is intended)
        prompt_part, resp_part = full_text[:cut], full_text[cut:]
        prompt_ids = tokenizer(prompt_part, add_special_tokens=False)["input_ids"]
    resp_ids = tokenizer(resp_part, add_special_tokens=False)["input_ids"]
    if not resp_ids:
        raise DataError(f"{where}: empty response")
    if not prompt_ids:  # need one position before the first response token to score it
        prompt_ids = [tokenizer.bos_token_id if tokenizer.bos_token_id is not None else tokenizer.eos_token_id]
    if len(prompt_ids) + len(resp_ids) > max_length:
        resp_keep = min(len(resp_ids), max_length - min(len(prompt_ids), max_length // 2))
        resp_ids = resp_ids[:resp_keep]
        prompt_ids = prompt_ids[-(max_length - resp_keep) :]
    return list(prompt_ids) + list(resp_ids), len(prompt_ids)


@dataclass
class EncodedPair:
    """One tokenised preference pair (row ``index`` of the source split)."""

    index: int
    chosen_ids: list[int]
    chosen_start: int
    rejected_ids: list[int]
    rejected_start: int
    margin: float | None = None
    weight: float | None = None


def encode_preference_rows(
    rows: Dataset | Sequence[Mapping[str, Any]],
    tokenizer: Any,
    max_length: int,
    source: str,
    margin_column: str | None = None,
    row_names: Sequence[str] | None = None,
    weight_column: str | None = None,
) -> list[EncodedPair]:
    """Validate and tokenise preference rows (a Dataset, or the normalised rows of
    :func:`training.rm.sources.load_preference_data`, with ``row_names`` naming each row in messages).
    ``margin_column`` values must be finite numbers."""
    if isinstance(rows, Dataset):
        require_columns(rows, [*PREFERENCE_COLUMNS, *([margin_column] if margin_column else [])], source)
    pairs = []
    for i, row in enumerate(rows):
        where = row_names[i] if row_names is not None else f"{source} row {i}"
        c_ids, c_start = encode(tokenizer, row["prompt"], row["chosen"], max_length, f"{where} 'chosen'")
        r_ids, r_start = encode(tokenizer, row["prompt"], row["rejected"], max_length, f"{where} 'rejected'")
        margin = _number(row, margin_column, where) if margin_column else None
        weight = _number(row, weight_column, where) if weight_column else None
        if weight is not None and weight < 0:
            raise DataError(f"{where}: column {weight_column!r} is a pair weight and must be >= 0, got {weight!r}")
        pairs.append(EncodedPair(i, c_ids, c_start, r_ids, r_start, margin, weight))
    return pairs


def _number(row: Mapping[str, Any], column: str, where: str) -> float:
    value = row[column]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise DataError(f"{where}: column {column!r} must be a finite number, got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------------ collating


def pad_sequences(seqs: Sequence[Sequence[int]], starts: Sequence[int], pad_id: int) -> dict[str, torch.Tensor]:
    """Right-pad token lists. ``response_mask`` marks tokens at or after each ``start``."""
    width = max(len(s) for s in seqs)
    input_ids = torch.full((len(seqs), width), pad_id, dtype=torch.long)
    attention_mask = torch.zeros((len(seqs), width), dtype=torch.long)
    response_mask = torch.zeros((len(seqs), width), dtype=torch.long)
    for i, (s, start) in enumerate(zip(seqs, starts, strict=True)):
        input_ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
        attention_mask[i, : len(s)] = 1
        response_mask[i, start : len(s)] = 1
    return {"input_ids": input_ids, "attention_mask": attention_mask, "response_mask": response_mask}


def collate_pairs(
    pairs: Sequence[EncodedPair],
    pad_id: int,
    ref_logps: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Concatenate chosen and rejected into one ``(2B, T)`` batch: rows ``[:B]`` chosen, ``[B:]`` rejected.

    ``ref_logps`` (``(N, 2)``, indexed by pair ``index``) adds precomputed reference log-probs.
    """
    seqs = [p.chosen_ids for p in pairs] + [p.rejected_ids for p in pairs]
    starts = [p.chosen_start for p in pairs] + [p.rejected_start for p in pairs]
    batch = pad_sequences(seqs, starts, pad_id)
    batch["index"] = torch.tensor([p.index for p in pairs], dtype=torch.long)
    if pairs and pairs[0].margin is not None:
        batch["margin"] = torch.tensor([p.margin for p in pairs], dtype=torch.float32)
    if pairs and pairs[0].weight is not None:
        batch["weight"] = torch.tensor([p.weight for p in pairs], dtype=torch.float32)
    if ref_logps is not None:
        batch["ref_logps"] = ref_logps[batch["index"]].T.reshape(-1)  # chosen block then rejected block
    return batch

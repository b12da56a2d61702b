"""The training pairs of a reward-model run: one or more preference sources, normalised and mixed.

Each ``--data`` source is read with :func:`training.rm.data.load_rows` (save_to_disk folder, parquet,
jsonl), checked (a charm-build export against its schema; every row through
:func:`training.rm.formats.normalise_pair`), cut to ``limit`` rows, then the sources are combined as
:mod:`training.rm.mix` describes. Nothing is tokenised here and no weights are loaded, so every data
error surfaces before a model is.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from training.rm.data import DataError, has_split, load_rows, require_columns, validate_charm_pairs
from training.rm.formats import IdenticalPair, normalise_pair
from training.rm.margin_coverage import check_margin_coverage
from training.rm.mix import mix_indices, normalise_weights

# published preference datasets that name their training split differently (UltraFeedback-binarized)
SPLIT_FALLBACKS: dict[str, str] = {"train": "train_prefs", "test": "test_prefs"}


@dataclass
class PreferenceSource:
    """One ``--data`` source as the run used it (recorded in charm_rm.json and the model card)."""

    path: str
    name: str  # how messages name it: the file, or folder[split]
    split: str
    rows: int  # rows read (after --limit)
    formats: dict[str, int]  # rows per format of training.rm.formats
    weight: float  # normalised --mix weight; without --mix its share of the rows
    pairs: int = 0  # pairs taken into training (rows repeated when up-sampled count each time)
    note: str | None = None
    dropped: int = 0  # pairs without a margin dropped by --missing-margin drop
    identical: int = 0  # pairs whose chosen and rejected are the same reply, skipped

    def record(self) -> dict[str, Any]:
        out = {
            "path": self.path,
            "split": self.split,
            "rows": self.rows,
            "formats": self.formats,
            "weight": round(self.weight, 6),
            "pairs": self.pairs,
        }
        if self.dropped:
            out["dropped_no_margin"] = self.dropped
        if self.identical:
            out["skipped_identical"] = self.identical
        return out


@dataclass
class PreferenceData:
    """Normalised rows (``prompt``/``chosen``/``rejected`` plus every other column of the source row),
    the name of each row for messages, and where they came from."""

    rows: list[dict[str, Any]]
    row_names: list[str]
    sources: list[PreferenceSource]
    mix: list[float] | None = None
    notes: list[str] = field(default_factory=list)
    groups: list[str | None] | None = None  # candidate set per row (kept whole in RM batches); None: no sets

    def record(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "mix": "weighted" if self.mix is not None else "concatenate",
            "pairs": len(self.rows),
            "sources": [s.record() for s in self.sources],
        }
        if self.groups is not None:  # pairs of one candidate set share a micro-batch (training.rm.batching)
            out["candidate_sets"] = len({g for g in self.groups if g is not None})
        return out


def resolve_split(path: str | os.PathLike[str], split: str) -> tuple[str, str | None]:
    """``split``, or its ``_prefs`` twin when the folder has only that; returns (split, note)."""
    alt = SPLIT_FALLBACKS.get(split)
    if alt is not None and not has_split(path, split) and has_split(path, alt):
        return alt, f"{path}: no split {split!r}; using {alt!r}"
    return split, None


def load_source(
    path: str | os.PathLike[str],
    split: str,
    limit: int | None,
    required: Sequence[str],
    margin: tuple[str, str] | None = None,
    weight: tuple[str, str] | None = None,
) -> tuple[PreferenceSource, list[dict[str, Any]], list[str]]:
    """Read, check and normalise one source; raises DataError naming file, row and field. ``margin``
    ``(column, policy)``: every pair must have that margin (policy ``error``) or loses it (``drop``);
    ``weight`` likewise for the pair-weight column."""
    used, note = resolve_split(path, split)
    rows, name = load_rows(path, used)
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    dropped = 0
    for needed in (margin, weight):
        if needed is not None:
            rows, lost = check_margin_coverage(rows, needed[0], name, needed[1], path)
            dropped += lost
    require_columns(rows, ["chosen", "rejected", *required], name)
    validate_charm_pairs(rows, name)
    out, names, formats, identical = [], [], Counter[str](), []
    for i, row in enumerate(rows):
        where = f"{name}: row {i}"
        try:
            pair = normalise_pair(row, where)
        except IdenticalPair:  # published sets hold a few ties written out as the same reply twice
            identical.append(i)
            continue
        formats[pair.format] += 1
        out.append({**row, "prompt": pair.prompt, "chosen": pair.chosen, "rejected": pair.rejected})
        names.append(where)
    if not out:
        raise DataError(
            f"{name}: all {len(rows)} pairs have identical chosen and rejected replies; nothing to train on"
        )
    if identical:
        shown = ", ".join(map(str, identical[:5])) + (", ..." if len(identical) > 5 else "")
        skipped = (
            f"{name}: skipped {len(identical)} pair(s) whose chosen and rejected are the same reply (rows {shown})"
        )
        note = f"{note}; {skipped}" if note else skipped
    src = PreferenceSource(
        str(path),
        name,
        used,
        len(out),
        dict(sorted(formats.items())),
        0.0,
        note=note,
        dropped=dropped,
        identical=len(identical),
    )
    return src, out, names


def load_preference_data(
    paths: Sequence[str | os.PathLike[str]],
    split: str = "train",
    *,
    mix: Sequence[float] | None = None,
    seed: int = 0,
    limit: int | None = None,
    required: Sequence[str] = (),
    margin: tuple[str, str] | None = None,
    weight: tuple[str, str] | None = None,
) -> PreferenceData:
    """Every source normalised, then combined: concatenated, or sampled by ``mix`` weights with ``seed``.
    ``limit`` keeps the first N rows of each source; ``required`` columns must be in every source;
    ``margin`` ``(column, policy)`` is checked per source before mixing (see :func:`load_source`)."""
    if not paths:
        raise DataError("--data: give at least one preference source")
    weights = None
    if mix is not None:
        try:
            weights = normalise_weights(mix, len(paths))
        except ValueError as exc:
            raise DataError(str(exc)) from None
    loaded = [load_source(p, split, limit, required, margin, weight) for p in paths]
    sizes = [src.rows for src, _, _ in loaded]
    picks = mix_indices(sizes, weights, seed)
    rows: list[dict[str, Any]] = []
    names: list[str] = []
    origin: list[int] = []
    for k, ((src, src_rows, src_names), taken) in enumerate(zip(loaded, picks, strict=True)):
        src.weight = weights[k] if weights is not None else src.rows / sum(sizes)
        src.pairs = len(taken)
        rows += [src_rows[j] for j in taken]
        names += [src_names[j] for j in taken]
        origin += [k] * len(taken)
    sources = [src for src, _, _ in loaded]
    groups = [set_group(k, row) for k, row in zip(origin, rows, strict=True)]
    return PreferenceData(
        rows, names, sources, weights, [s.note for s in sources if s.note], groups if any(groups) else None
    )


def set_group(source: int, row: dict[str, Any]) -> str | None:
    """The candidate set a pair was cut from (``candidate_set_id`` of a charm-build export), keyed by
    its source so two sources never share a set; None for rows without one."""
    value = row.get("candidate_set_id")
    return f"{source}:{value}" if isinstance(value, str) and value else None


__all__ = ["SPLIT_FALLBACKS", "PreferenceData", "PreferenceSource", "load_preference_data", "resolve_split"]

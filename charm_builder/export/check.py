"""`charm-build export --check DIR`: re-validate an export folder.

Checks, in order: manifest and card present; every split loads; columns are exactly the
expected ones and every row validates against the schemas models (TRL message structure for
preferenceTraining); ids are unique and never shared between splits or subsets; manifest ids
equal the data; no two splits share a context (and roleReward/train/grpo share no dialogue, nor
a character when the export was split by character); counts equal the card's. The first problem
found is raised as a one-line CharmError.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from itertools import combinations
from pathlib import Path
from typing import Any

import polars as pl
from polars.exceptions import PanicException
from pydantic import TypeAdapter, ValidationError

from charm_builder.export import card as cards
from charm_builder.export.splits import context_key_expr
from charm_builder.export.write import FORMATS, read_splits
from charm_kernel.errors import CharmError
from schemas import (
    DIALOGUE_QUALITY_COLUMNS,
    GRPO_COLUMNS,
    ROLE_REWARD_COLUMNS,
    TRAIN_COLUMNS,
    VOTE_COLUMNS,
    ChatMessage,
    DialogueQualityItem,
    PreferencePair,
    RoleRewardItem,
)

EXPECTED: dict[tuple[str, str], tuple[str, ...]] = {
    ("roleReward", "test"): ROLE_REWARD_COLUMNS,
    ("dialogueQuality", "test"): DIALOGUE_QUALITY_COLUMNS,
    ("roleReward", "test_id"): ROLE_REWARD_COLUMNS,
    ("roleReward", "test_ood"): ROLE_REWARD_COLUMNS,  # --shift exports
    ("preferenceTraining", "train"): TRAIN_COLUMNS,
    ("preferenceTraining", "grpo"): GRPO_COLUMNS,
}
ROLE_REWARD_ROWS = TypeAdapter(list[RoleRewardItem])
PAIR_ROWS = TypeAdapter(list[PreferencePair])
DQ_ROWS = TypeAdapter(list[DialogueQualityItem])
CHAT = TypeAdapter(list[ChatMessage])


@dataclass
class CheckResult:
    path: Path
    rows: dict[str, dict[str, int]] = field(default_factory=dict)  # subset -> split -> rows

    def summary(self) -> str:
        parts = [f"{sub}: " + ", ".join(f"{s}={n}" for s, n in splits.items()) for sub, splits in self.rows.items()]
        return f"ok {self.path}  " + "; ".join(parts)


def _malformed(where: Path, exc: Exception) -> CharmError:
    """A damaged file met by a reader (pyarrow, datasets, polars, json, yaml) as one line naming the folder."""
    first = (str(exc).strip().splitlines() or [""])[0][:200]
    return CharmError(f"{where}: unreadable or malformed export ({type(exc).__name__}: {first})")


def check_export(path: Path) -> CheckResult:
    """Validate an export folder (top level, or a single subset folder). Raises CharmError."""
    path = Path(path)
    if not path.is_dir():
        raise CharmError(f"{path}: no such export directory")
    try:
        return _check_export(path)
    except CharmError:
        raise
    except (Exception, PanicException) as exc:  # any damage we did not foresee ends in one line naming the export
        raise _malformed(path, exc) from None


def _check_export(path: Path) -> CheckResult:
    manifest = cards.read_manifest(path)
    split_by, shift = None, None
    if manifest.get("kind") == "export":
        cards.parse_card(path / cards.CARD)
        split_by = (manifest.get("options") or {}).get("split_by")
        shift = (manifest.get("options") or {}).get("shift")
        subsets = {name: path / name for name in manifest.get("subsets", [])}
    elif manifest.get("kind") == "subset":
        subsets = {manifest.get("subset", "?"): path}
    else:
        raise CharmError(f"{path / cards.MANIFEST}: unknown manifest kind {manifest.get('kind')!r}")
    result = CheckResult(path)
    frames: dict[tuple[str, str], pl.DataFrame] = {}
    for name, folder in subsets.items():
        try:
            frames.update(_check_subset(name, folder))
        except CharmError:
            raise
        except (Exception, PanicException) as exc:  # polars panics (a BaseException) on some damaged parquet
            raise _malformed(folder, exc) from None
        result.rows[name] = {s: frames[(name, s)].height for (sub, s) in frames if sub == name}
    if manifest.get("kind") == "export" and manifest.get("rows") != result.rows:
        raise CharmError(
            f"{path / cards.MANIFEST}: row counts {manifest.get('rows')} differ from the data {result.rows}"
        )
    _check_disjoint(path, frames, split_by, shift)
    return result


def _check_subset(name: str, folder: Path) -> dict[tuple[str, str], pl.DataFrame]:
    manifest = cards.read_manifest(folder)
    if manifest.get("subset") != name:
        raise CharmError(f"{folder / cards.MANIFEST}: subset is {manifest.get('subset')!r}, expected {name!r}")
    fmt = manifest.get("format")
    if fmt not in FORMATS:
        raise CharmError(f"{folder / cards.MANIFEST}: unknown format {fmt!r}")
    header = cards.parse_card(folder / cards.CARD)
    card_counts = (header.get("charm") or {}).get("counts") or {}
    ids: dict[str, list[str]] = manifest.get("ids") or {}
    frames = read_splits(folder, fmt, list(ids))
    out = {}
    for split, frame in frames.items():
        where = f"{folder.name}/{split}"
        expected = EXPECTED.get((name, split))
        if expected is None:
            raise CharmError(f"{where}: unexpected split {split!r} for subset {name}")
        if frame.height and tuple(frame.columns) != expected:
            raise CharmError(f"{where}: columns {frame.columns} differ from the expected {list(expected)}")
        if frame.height:
            _validate_rows(where, name, split, frame)
        data_ids = frame["id"].to_list() if frame.height else []
        if len(set(data_ids)) != len(data_ids):
            raise CharmError(f"{where}: duplicate ids in the data")
        if sorted(data_ids) != sorted(ids[split]):
            raise CharmError(f"{where}: ids in {cards.MANIFEST} differ from the data")
        _check_counts(where, frame, card_counts.get(split))
        out[(name, split)] = frame
    missing = set(card_counts) - set(frames)
    if missing:
        raise CharmError(f"{folder / cards.CARD}: card counts split(s) {sorted(missing)} that are not in the data")
    return out


def _first_error(where: str, rows: list[dict], exc: ValidationError) -> CharmError:
    err = exc.errors()[0]
    index = err["loc"][0] if err["loc"] and isinstance(err["loc"][0], int) else 0
    loc = ".".join(str(p) for p in err["loc"][1:])
    return CharmError(f"{where}: row {rows[index].get('id', index)}: field '{loc}': {err['msg']}")


def _validate_rows(where: str, subset: str, split: str, frame: pl.DataFrame) -> None:
    rows = frame.to_dicts()
    try:
        if subset == "roleReward":
            ROLE_REWARD_ROWS.validate_python(rows)
        elif subset == "dialogueQuality":
            DQ_ROWS.validate_python(rows)
        else:
            for r in rows:
                _check_prompt(where, r)
            if split == "train":
                for r in rows:
                    for side in ("chosen", "rejected"):
                        msgs = r[side]
                        if not isinstance(msgs, list) or len(msgs) != 1 or msgs[0].get("role") != "assistant":
                            raise CharmError(f"{where}: row {r['id']}: '{side}' must be one assistant message")
                for r in rows:
                    missing = [c for c in VOTE_COLUMNS if r.get(c) is None]
                    if missing:
                        raise CharmError(f"{where}: row {r['id']}: field '{missing[0]}' is empty")
                PAIR_ROWS.validate_python(
                    [{**r, "chosen": r["chosen"][0]["content"], "rejected": r["rejected"][0]["content"]} for r in rows]
                )
    except ValidationError as exc:
        raise _first_error(where, rows, exc) from None


def _check_prompt(where: str, row: dict) -> None:
    try:
        msgs = CHAT.validate_python(row["prompt"])
    except ValidationError as exc:
        raise CharmError(
            f"{where}: row {row['id']}: 'prompt' is not a list of chat messages: {exc.errors()[0]['msg']}"
        ) from None
    roles = [m.role for m in msgs]
    if (
        len(roles) < 2
        or roles[0] != "system"
        or roles[-1] != "user"
        or any(r not in ("user", "assistant") for r in roles[1:])
    ):
        raise CharmError(
            f"{where}: row {row['id']}: 'prompt' must be system, then user/assistant turns ending "
            f"with user (got {roles})"
        )


def _check_counts(where: str, frame: pl.DataFrame, card: dict[str, Any] | None) -> None:
    if card is None:
        raise CharmError(f"{where}: the dataset card has no counts for this split")
    actual = cards.split_counts(frame)
    for key in ("total", "by_language", "by_dimension"):
        if card.get(key) != actual[key]:
            raise CharmError(f"{where}: card says {key}={card.get(key)} but the data has {actual[key]}")
    if "by_category" in card and sum(card["by_category"].values()) != frame.height:
        raise CharmError(f"{where}: card by_category sums to {sum(card['by_category'].values())}, not {frame.height}")


def _context_keys(subset: str, frame: pl.DataFrame) -> pl.Series:
    if frame.is_empty():
        return pl.Series("context_key", [], dtype=pl.UInt64)
    expr = context_key_expr("prompt", "content") if subset == "preferenceTraining" else context_key_expr()
    return frame.select(expr)["context_key"].unique()


def _check_disjoint(
    path: Path, frames: dict[tuple[str, str], pl.DataFrame], split_by: str | None, shift: str | None = None
) -> None:
    named = {f"{sub}/{split}": (sub, f) for (sub, split), f in frames.items()}
    ids = {k: set(f["id"].to_list()) if f.height else set() for k, (_, f) in named.items()}
    keys = {k: _context_keys(sub, f) for k, (sub, f) in named.items()}
    for a, b in combinations(named, 2):
        if shared := ids[a] & ids[b]:
            raise CharmError(f"{path}: id {min(shared)} is in both {a} and {b}")
        if keys[a].is_in(keys[b].implode()).any():
            raise CharmError(f"{path}: {a} and {b} share a dialogue context")
    base = [
        k
        for k in ("roleReward/test", "roleReward/test_id", "preferenceTraining/train", "preferenceTraining/grpo")
        if k in named
    ]
    # test_ood of a shift export: disjoint from the rest by dialogue (except the dialogue shift, whose long
    # test contexts extend training dialogues by design; contexts never repeat) and, for the character
    # shift, by character
    ood = "roleReward/test_ood"
    checks: dict[str, list[tuple[str, str]]] = {"dialogue_id": list(combinations(base, 2)), "character_id": []}
    if split_by == "character":
        checks["character_id"] = list(combinations(base, 2))
    if ood in named:
        if shift != "dialogue":
            checks["dialogue_id"] += [(b, ood) for b in base]
        if shift == "character":
            checks["character_id"] += [(b, ood) for b in base]
    for column, pairs in checks.items():
        used = {k for pair in pairs for k in pair}
        values = {k: set(named[k][1][column].to_list()) if named[k][1].height else set() for k in used}
        for a, b in pairs:
            if shared := values[a] & values[b]:
                raise CharmError(f"{path}: {column} {min(shared)} is in both {a} and {b}")

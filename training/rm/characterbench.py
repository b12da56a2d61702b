"""CharacterBench (Zhou et al., AAAI 2025): how well a reward model's scores agree with its human labels.

Details: docs/design.md#characterbench.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from typing import Any

import numpy as np

from charm_kernel.errors import InputFormatError
from charm_kernel.formatting import table_row
from training.common.reporting import fmt_cell, write_atomically, write_jsonl, write_table_files
from training.common.stats import (
    BOOTSTRAP,
    LEVEL,
    Item,
    cell_intervals,
    percentile_interval,
    resample_index,
    weighted_weights,
)
from training.rm.benchmarks import BenchmarkError
from training.rm.correlation import kendall, kendall_rows, pearson, pearson_rows, spearman, spearman_rows

Messages = list[dict[str, str]]

NAME = "characterbench"
TITLE = "CharacterBench"
LANGUAGES = ("zh", "en")
# the published files' dimensions, in the order of the authors' all_eval.py (others follow, sorted)
PUBLISHED = (
    "memory_consistency",
    "fact_accuracy",
    "boundary_consistency",
    "attribute_consistency_bot",
    "attribute_consistency_human",
    "behavior_consistency_bot",
    "behavior_consistency_human",
    "emotion_self_regulation",
    "empathetic_responsiveness",
    "morality_stability",
    "morality_robustness",
    "human_likeness",
    "engagement",
)
CORRELATIONS: dict[str, Callable[[Sequence[float], Sequence[float]], float | None]] = {
    "Pearson": pearson,
    "Spearman": spearman,
    "Kendall": kendall,
}
_ROWS = {"Pearson": pearson_rows, "Spearman": spearman_rows, "Kendall": kendall_rows}
PAIRS = "Pair acc."
NO_PROFILE = {"", "无", "N/A", "None", "none", "null"}
USER_PROFILE_LABEL = {"zh": "用户信息", "en": "User information"}


@dataclass
class CBItem:
    id: str
    dimension: str
    messages: Messages  # system prompt, dialogue up to the user's query
    response: str
    human: float
    context: str  # hash of the messages: replies with the same context can form pairs
    model: str = ""  # the model that wrote the reply (response_messages.model)
    reference: float | None = None  # the authors' CharacterJudge score in the file (pred_zh / pred_en)


@dataclass
class CBOutcome:
    id: str
    dimension: str
    context: str
    model: str
    human: float
    score: float
    reference: float | None = None


# ------------------------------------------------------------------------------------------ loading


def dimension_of(path: Path) -> str:
    """``memory_consistency_test.json`` -> ``memory_consistency``."""
    return path.stem.removesuffix("_test")


def _files(path: Path) -> list[Path]:
    if not path.exists():
        raise BenchmarkError(f"{path}: no such file or directory")
    if path.is_file():
        return [path]
    if (path / "eval_data" / "raw_data").is_dir():  # the root of a clone
        path = path / "eval_data" / "raw_data"
    files = sorted(path.glob("*.json")) or sorted(path.rglob("*_test.json"))
    if not files:
        raise BenchmarkError(
            f"{path}: no .json file found (give CharacterBench's eval_data/raw_data folder or one of its files)"
        )
    return files


def _text(src: str, i: int, obj: dict[str, Any], key: str, prefix: str = "") -> str:
    value = obj.get(key)
    if key not in obj:
        raise InputFormatError(src, f"item {i}", prefix + key, "missing")
    if not isinstance(value, str) or not value.strip():
        raise InputFormatError(src, f"item {i}", prefix + key, "expected a non-empty string")
    return value


def _optional(src: str, i: int, obj: dict[str, Any], key: str, prefix: str = "") -> str:
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InputFormatError(src, f"item {i}", prefix + key, f"expected a string, got {type(value).__name__}")
    return value.strip()


def _profile_text(value: Any) -> str:
    """A profile as text: a string as it is, a key -> value object as ``key: value`` lines."""
    if isinstance(value, dict):
        return "\n".join(
            f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
            for k, v in value.items()
            if v not in (None, "")
        )
    return str(value).strip() if value is not None else ""


def _messages(src: str, i: int, obj: dict[str, Any], language: str, prefix: str) -> Messages:
    """System prompt, greeting and dialogue turns as chat messages (the item's ``obj`` in one language)."""
    if isinstance(obj.get("character_profile"), dict) and obj["character_profile"]:
        system = _profile_text(obj["character_profile"])  # some items give the profile as key -> value
    else:
        system = _text(src, i, obj, "character_profile", prefix)
    profile = _profile_text(obj.get("user_profile"))
    if profile not in NO_PROFILE:
        system += f"\n\n[{USER_PROFILE_LABEL[language]}]\n{profile}"
    user_name = _optional(src, i, obj, "user_name", prefix)
    character_name = _optional(src, i, obj, "character_name", prefix)
    dialogue = obj.get("dialogue")
    if not isinstance(dialogue, list) or not dialogue:
        raise InputFormatError(src, f"item {i}", prefix + "dialogue", "expected a non-empty list of turns")
    msgs: Messages = []
    greeting = _optional(src, i, obj, "greeting", prefix)
    if greeting and greeting not in NO_PROFILE:
        msgs.append({"role": "assistant", "content": greeting})
    for t, turn in enumerate(dialogue):
        where = f"{prefix}dialogue[{t}]"
        if not isinstance(turn, dict):
            raise InputFormatError(src, f"item {i}", where, "expected an object with speaker and utterance")
        speaker = turn.get("speaker")
        utterance = turn.get("utterance")
        if not isinstance(speaker, str):
            raise InputFormatError(src, f"item {i}", where + ".speaker", "missing or not a string")
        if not isinstance(utterance, str):
            raise InputFormatError(src, f"item {i}", where + ".utterance", "missing or not a string")
        msgs.append({"role": _role(speaker.strip(), user_name, character_name, msgs), "content": utterance})
    if msgs[-1]["role"] != "user":
        raise InputFormatError(
            src, f"item {i}", prefix + "dialogue", "the last turn must be the user's (the reply answers it)"
        )
    return [{"role": "system", "content": system}, *msgs]


def _role(speaker: str, user_name: str, character_name: str, before: Messages) -> str:
    """The chat role of a dialogue speaker, as the authors' ``process.py`` maps it: ``user`` or the user's
    name -> user; ``character`` or (part of) the character's name -> assistant; anyone else answering the
    user -> assistant. Names compare without case. Beyond ``process.py`` (which drops such an item): any
    other speaker takes the turn after the previous one (a few English translations rename a speaker)."""
    s, u, c = speaker.casefold(), user_name.casefold(), character_name.casefold()
    if s == "user" or (u and s == u):
        return "user"
    if s == "character" or (s and c and s in c):
        return "assistant"
    if not before:
        return "user"
    return "assistant" if before[-1]["role"] == "user" else "user"


def _score(src: str, i: int, item: dict[str, Any]) -> float:
    value = item.get("annotation_score")
    if "annotation_score" not in item:
        raise InputFormatError(src, f"item {i}", "annotation_score", "missing (the human score)")
    try:  # a number, or a number written as a string (some published items have "3")
        score = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
    except ValueError:
        score = None
    if score is None or not np.isfinite(score):
        raise InputFormatError(src, f"item {i}", "annotation_score", f"expected a number, got {value!r}")
    return score


def _reference(item: dict[str, Any], language: str) -> float | None:
    value = item.get(f"pred_{language}")
    try:
        score = float(value) if isinstance(value, int | float | str) and not isinstance(value, bool) else None
    except ValueError:
        return None
    return score if score is not None and np.isfinite(score) else None


def parse_item(src: str, i: int, item: Any, dimension: str, language: str = "zh") -> CBItem:
    """One published item as a :class:`CBItem` (``language`` en: from ``translation_en``)."""
    if not isinstance(item, dict):
        raise InputFormatError(src, f"item {i}", None, f"expected an object, got {type(item).__name__}")
    human = _score(src, i, item)
    obj, prefix = item, ""
    if language == "en":
        obj, prefix = item.get("translation_en"), "translation_en."
        if not isinstance(obj, dict):
            raise InputFormatError(src, f"item {i}", "translation_en", "missing or not an object (needed for en)")
    messages = _messages(src, i, obj, language, prefix)
    reply = obj.get("response_messages")
    if not isinstance(reply, dict):
        raise InputFormatError(src, f"item {i}", prefix + "response_messages", "expected an object with a response")
    response = _text(src, i, reply, "response", prefix + "response_messages.")
    model = reply.get("model") if isinstance(reply.get("model"), str) else ""
    context = hashlib.sha1(json.dumps(messages, ensure_ascii=False).encode("utf-8")).hexdigest()[:16]
    return CBItem(
        str(item.get("id", i)), dimension, messages, response, human, context, model, _reference(item, language)
    )


def load(path: str | os.PathLike[str], language: str = "zh", limit: int | None = None) -> list[CBItem]:
    """Every item of the published files under ``path`` (a folder or one file), in ``language``;
    ``limit``: only the first N items of each file."""
    if language not in LANGUAGES:
        raise BenchmarkError(f"language {language!r}: choose from {', '.join(LANGUAGES)}")
    from charm_builder.importers.common import read_json

    items: list[CBItem] = []
    for f in _files(Path(path)):
        data = read_json(f)
        if not isinstance(data, list):
            raise InputFormatError(str(f), "top level", None, "expected a JSON array of items")
        for i, item in enumerate(data[:limit] if limit is not None else data):
            items.append(parse_item(str(f), i, item, dimension_of(f), language))
    if not items:
        raise BenchmarkError(f"{path}: no items")
    return items


# ------------------------------------------------------------------------------------------ scoring


def evaluate(
    model: Any,
    items: Sequence[CBItem],
    batch_size: int = 8,
    max_length: int = 2048,
    on_progress: Callable[[int], None] | None = None,
) -> list[CBOutcome]:
    """Score every reply with ``model`` (anything with ``score(items, batch_size, max_length)``)."""
    out: list[CBOutcome] = []
    for start in range(0, len(items), batch_size):
        chunk = items[start : start + batch_size]
        scores = model.score([(it.messages, it.response) for it in chunk], batch_size=batch_size, max_length=max_length)
        out += [
            CBOutcome(it.id, it.dimension, it.context, it.model, it.human, float(s), it.reference)
            for it, s in zip(chunk, scores, strict=True)
        ]
        if on_progress:
            on_progress(len(chunk))
    return out


@dataclass
class DerivedPair:
    dimension: str
    context: str
    better: str  # id of the reply with the higher human score
    worse: str
    correct: bool


def derived_pairs(outcomes: Sequence[CBOutcome]) -> list[DerivedPair]:
    """Every two replies to the same context (same dimension) whose human scores differ."""
    groups: dict[tuple[str, str], list[CBOutcome]] = {}
    for o in outcomes:
        groups.setdefault((o.dimension, o.context), []).append(o)
    pairs = []
    for (dim, ctx), group in groups.items():
        for a, b in combinations(group, 2):
            if a.human == b.human:
                continue
            hi, lo = (a, b) if a.human > b.human else (b, a)
            pairs.append(DerivedPair(dim, ctx, hi.id, lo.id, hi.score > lo.score))
    return pairs


def dimensions(outcomes: Sequence[CBOutcome]) -> list[str]:
    present = {o.dimension for o in outcomes}
    return [d for d in PUBLISHED if d in present] + sorted(present - set(PUBLISHED))


def _mean(values: list[float | None]) -> float | None:
    have = [v for v in values if v is not None]
    return sum(have) / len(have) if have else None


def summarize(
    outcomes: Sequence[CBOutcome], resamples: int = BOOTSTRAP, seed: int = 0, language: str = "zh"
) -> dict[str, Any]:
    """Per dimension: items, human score range, the three correlations of RM score with human score, the
    derived pairs and their accuracy (%), the CharacterJudge reference correlations; ``columns``: the
    averages over dimensions (unweighted) and the accuracy over all derived pairs. With ``resamples``
    > 0, 95 % percentile bootstrap intervals (``lo``/``hi``) on every figure."""
    dims = dimensions(outcomes)
    by_dim = {d: [o for o in outcomes if o.dimension == d] for d in dims}
    pairs = derived_pairs(outcomes)
    cats: dict[str, dict[str, Any]] = {}
    for d, outs in by_dim.items():
        human = [o.human for o in outs]
        score = [o.score for o in outs]
        dpairs = [p for p in pairs if p.dimension == d]
        cell: dict[str, Any] = {
            "n": len(outs),
            "scale": [min(human), max(human)],
            "contexts": len({o.context for o in outs}),
            **{c: {"value": f(score, human)} for c, f in CORRELATIONS.items()},
            "pairs": len(dpairs),
            PAIRS: {"value": 100.0 * sum(p.correct for p in dpairs) / len(dpairs) if dpairs else None},
        }
        if outs and all(o.reference is not None for o in outs):
            ref = [float(o.reference) for o in outs]  # type: ignore[arg-type]
            cell["reference"] = {c: f(ref, human) for c, f in CORRELATIONS.items()}
        cats[d] = cell
    columns: dict[str, dict[str, Any]] = {
        f"{c} Avg.": {"value": _mean([cats[d][c]["value"] for d in dims])} for c in CORRELATIONS
    }
    columns[PAIRS] = {"value": 100.0 * sum(p.correct for p in pairs) / len(pairs) if pairs else None}
    summary: dict[str, Any] = {
        "benchmark": NAME,
        "language": language,
        "n": len(outcomes),
        "pairs": len(pairs),
        "columns": columns,
        "dimensions": cats,
        "note": (
            "Correlation of the RM's score with the human annotation_score per dimension (Pearson r, Spearman "
            "rho, Kendall tau-b); Avg.: unweighted mean over the dimensions. "
            + (
                f"{PAIRS}: {len(pairs)} pairs of replies to one context with different human scores "
                "(correct when the RM scores the human-preferred reply higher)."
                if pairs
                else f"{PAIRS}: no two replies to one context differ in human score here, so no pairs."
            )
        ),
    }
    refs = [d for d in dims if "reference" in cats[d]]
    if refs:
        summary["reference"] = {
            "name": f"CharacterJudge (pred_{language} in the files)",
            "dimensions": refs,
            **{f"{c} Avg.": _mean([cats[d]["reference"][c] for d in refs]) for c in CORRELATIONS},
        }
    if resamples > 0 and outcomes:
        _add_intervals(summary, by_dim, pairs, resamples, seed)
    return summary


def _add_intervals(
    summary: dict[str, Any],
    by_dim: dict[str, list[CBOutcome]],
    pairs: Sequence[DerivedPair],
    resamples: int,
    seed: int,
) -> None:
    """Correlations: items resampled within each dimension with :func:`training.common.stats.resample_index`
    (the same resamples for all three coefficients and the averages); pairs: per dimension and pooled,
    with :func:`training.common.stats.cell_intervals`. An undefined resample (a constant side) is left out of
    a figure's interval; ``undefined`` counts them."""
    cats = summary["dimensions"]
    boot: dict[str, dict[str, np.ndarray]] = {c: {} for c in CORRELATIONS}
    for d, outs in by_dim.items():
        score = np.asarray([o.score for o in outs], dtype=np.float64)
        human = np.asarray([o.human for o in outs], dtype=np.float64)
        idx = resample_index(len(outs), resamples, seed, d)
        for c, rows in _ROWS.items():
            boot[c][d] = rows(score[idx], human[idx])
            _set_interval(cats[d][c], boot[c][d])
    for c in CORRELATIONS:
        have = [d for d in by_dim if cats[d][c]["value"] is not None]
        if have:
            # NaN in any dimension makes that resample's mean NaN: left out like the dimension's own
            _set_interval(summary["columns"][f"{c} Avg."], np.mean([boot[c][d] for d in have], axis=0))
    if pairs:
        items = [Item(p.dimension, f"{p.better}>{p.worse}", 100.0 * p.correct) for p in pairs]
        counts: dict[str, int] = {}
        for p in pairs:
            counts[p.dimension] = counts.get(p.dimension, 0) + 1
        weights = {d: {d: 1.0} for d in counts} | {PAIRS: weighted_weights([({d: 1.0}, n) for d, n in counts.items()])}
        found = cell_intervals(items, weights, resamples, seed)
        for d in counts:
            cats[d][PAIRS] |= {"lo": found[d].lo, "hi": found[d].hi}
        summary["columns"][PAIRS] |= {"lo": found[PAIRS].lo, "hi": found[PAIRS].hi}
    summary["bootstrap"] = {
        "resamples": resamples,
        "seed": seed,
        "level": LEVEL,
        "interval": "percentile",
        "resampling": "items within each dimension (its size fixed); derived pairs within each dimension",
        "strata": {d: len(outs) for d, outs in by_dim.items()},
    }


def _set_interval(cell: dict[str, Any], samples: np.ndarray) -> None:
    ok = samples[np.isfinite(samples)]
    if cell.get("value") is None or len(ok) == 0:
        return
    cell["lo"], cell["hi"] = percentile_interval(ok)
    if undefined := int(len(samples) - len(ok)):
        cell["undefined"] = undefined


# ------------------------------------------------------------------------------------------- report

HEADLINE = (*(f"{c} Avg." for c in CORRELATIONS), PAIRS)


def _num(cell: dict[str, Any], digits: int) -> str:
    return fmt_cell(cell.get("value"), cell if "lo" in cell else None, digits)


def _digits(col: str) -> int:
    return 1 if col == PAIRS else 3


def to_markdown(summary: dict[str, Any], method: str) -> str:
    """The headline row (averages and pair accuracy), then one row per dimension."""
    cols = summary["columns"]
    lines = [
        "| Model | " + " | ".join(f"{TITLE} {c}" for c in HEADLINE) + " |",
        "|---|" + "---:|" * len(HEADLINE),
        f"| {method} | " + " | ".join(_num(cols[c], _digits(c)) for c in HEADLINE) + " |",
        "",
    ]
    ref = summary.get("reference")
    if ref:
        lines += [
            f"Reference, {ref['name']}: "
            + ", ".join(f"{c} Avg. {ref[f'{c} Avg.']:.3f}" for c in CORRELATIONS if ref[f"{c} Avg."] is not None)
            + f" (over {len(ref['dimensions'])} dimensions).",
            "",
        ]
    lines += [
        f"{TITLE} ({summary['language']}): {summary['n']} responses from {summary.get('source', '?')}. "
        + summary["note"],
        "",
        "| Dimension | Responses | Human scale | Pearson | Spearman | Kendall | Pairs | Pair acc. (%) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for d, v in summary["dimensions"].items():
        lo, hi = v["scale"]
        lines.append(
            f"| {d} | {v['n']} | {lo:g}-{hi:g} | "
            + " | ".join(_num(v[c], 3) for c in CORRELATIONS)
            + f" | {v['pairs']} | {_num(v[PAIRS], 1)} |"
        )
    lines.append("")
    if b := summary.get("bootstrap"):
        lines += [
            f"± is half the width of the {100 * b['level']:g} % percentile bootstrap interval ({b['resamples']} "
            f"resamples, {b['resampling']}; seed {b['seed']}); the bounds are in summary.json (lo, hi) and "
            "results.csv.",
            "",
        ]
    return "\n".join(lines)


def table_rows(summary: dict[str, Any]) -> tuple[list[str], list[str]]:
    """results.csv: the headline columns, each dimension's correlations, then ``lo``/``hi`` bounds."""
    named = [(f"{TITLE} {c}", summary["columns"][c], _digits(c)) for c in HEADLINE]
    named += [(f"{TITLE} {d} {c}", v[c], 3) for d, v in summary["dimensions"].items() for c in CORRELATIONS]
    intervals = {name: cell for name, cell, _ in named if "lo" in cell}
    return table_row([(name, cell.get("value"), digits) for name, cell, digits in named], intervals)


def print_table(summary: dict[str, Any], method: str, console: Any | None = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    t = Table(title=f"{TITLE} ({summary['language']}): correlation with human scores")
    for col in ("Dimension", "Responses", "Pearson", "Spearman", "Kendall", "Pairs", "Pair acc. (%)"):
        t.add_column(col, justify="left" if col == "Dimension" else "right", no_wrap=col == "Dimension")
    for d, v in summary["dimensions"].items():
        t.add_row(d, str(v["n"]), *[_num(v[c], 3) for c in CORRELATIONS], str(v["pairs"]), _num(v[PAIRS], 1))
    cols = summary["columns"]
    t.add_row(
        f"Avg. ({method})",
        str(summary["n"]),
        *[_num(cols[f"{c} Avg."], 3) for c in CORRELATIONS],
        str(summary["pairs"]),
        _num(cols[PAIRS], 1),
    )
    console.print(t)
    console.print(summary["note"], highlight=False)


def write_report(out_dir: str | os.PathLike[str], summary: dict[str, Any], outcomes: Sequence[CBOutcome], method: str):
    """``results.md``, ``results.csv``, ``summary.json`` and ``responses.jsonl`` (every reply's human and
    RM score) plus ``pairs.jsonl`` when there are derived pairs, atomically."""

    def fill(tmp: Path) -> None:
        header, cells = table_rows(summary)
        write_table_files(tmp, to_markdown(summary, method), header, cells, method, {"benchmarks": {NAME: summary}})
        write_jsonl(tmp / "responses.jsonl", (asdict(o) for o in outcomes))
        if pairs := derived_pairs(outcomes):
            write_jsonl(tmp / "pairs.jsonl", (asdict(p) for p in pairs))

    return write_atomically(out_dir, fill)

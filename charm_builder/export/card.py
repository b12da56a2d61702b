"""Dataset cards (README.md with a YAML header) and manifests for an export."""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from charm_builder.store.stats import turns_line
from charm_kernel.errors import CharmError

MANIFEST = "manifest.json"
CARD = "README.md"
FORMAT_VERSION = 1

SUBSET_TEXT = {
    "roleReward": "Role-play reward-model benchmark (AAM paper, Table 2): a dialogue context, the character's "
    "system prompt and two replies; `chosen` is the annotators' majority best of six candidates and `rejected` "
    "their majority worst. Accuracy = share of items where the reward model scores `chosen` higher. A set whose "
    "majority best or worst reply was flagged `empty` or `duplicate` is left out (no other candidate is put in its "
    "place). Without `--size`: 4,000 items, or 20% of each dimension x language cell when fewer than 4,000 are "
    "usable, so a small pool still leaves pairs for preferenceTraining.",
    "preferenceTraining": "`train`: conversational preference pairs in TRL's format (`prompt` = system + "
    "context messages, `chosen`/`rejected` = one assistant message) for reward-model training, with "
    "`margin_agreement` (annotator agreement), annotator vote counts (`n_annotators`, `chosen_best_votes`, "
    "`rejected_worst_votes`), `margin_bws` (best-worst scaling gap) and `margin_judge` (an LLM judge's 1-10 score of "
    "`chosen` minus that of `rejected`, in [-9, 9]: the paper's GPT-Margin). `grpo`: prompt-only contexts from "
    "other dialogues for GRPO, disjoint from `train` and from roleReward. A pair whose `chosen` or `rejected` "
    "reply was flagged `empty` or `duplicate` is dropped (counted under Excluded as `flagged candidate`); no "
    "other candidate is put in its place.",
    "dialogueQuality": "Role-play dialogue quality evaluation (AAM paper, appendix A.1): a dialogue context, a "
    "human-written user query probing one of six dimensions and evaluation criteria for an LLM judge that "
    "scores the model's reply 1-5. Selection: at most `--dq-per-language` (default 400) hand-written items per "
    "language, in a seeded order taking the six dimensions in turn, plus their translations (`charm-build "
    "translate`): 400 zh + 400 en in the paper.",
}


def package_version() -> str:
    try:
        return metadata.version("charm-builder")
    except metadata.PackageNotFoundError:
        return "0+unknown"


def settings_hash(settings: list[str]) -> str:
    """sha256 (16 hex digits) over the sorted distinct simulator settings."""
    return hashlib.sha256("\n".join(sorted(settings)).encode()).hexdigest()[:16]


def _by(frame: pl.DataFrame, column: str) -> dict[str, int]:
    if frame.is_empty() or column not in frame.columns:
        return {}
    counts = frame.group_by(pl.col(column).fill_null("none")).len().sort(column)
    return {str(k): int(v) for k, v in counts.iter_rows()}


def split_counts(frame: pl.DataFrame, characters: pl.DataFrame | None = None) -> dict[str, Any]:
    """total, by_language, by_dimension (and by_category when character categories are given)."""
    out: dict[str, Any] = {
        "total": frame.height,
        "by_language": _by(frame, "language"),
        "by_dimension": _by(frame, "dimension"),
    }
    if characters is not None:
        cats = frame.select("character_id").join(
            characters.select("character_id", "sub_category"), on="character_id", how="left"
        )
        out["by_category"] = _by(cats.with_columns(pl.col("sub_category").fill_null("unknown")), "sub_category")
    return out


def render_card(header: dict[str, Any], title: str, body: str) -> str:
    """README.md text: YAML front matter, then Markdown."""
    front = yaml.safe_dump(header, sort_keys=False, allow_unicode=True, default_flow_style=False, width=1000)
    return f"---\n{front}---\n\n# {title}\n\n{body.strip()}\n"


def parse_card(path: Path) -> dict[str, Any]:
    """The YAML header of a card; CharmError when missing or malformed."""
    if not path.exists():
        raise CharmError(f"{path}: dataset card is missing")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise CharmError(f"{path}: dataset card is not UTF-8 text") from None
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        raise CharmError(f"{path}: dataset card has no YAML header")
    try:
        header = yaml.safe_load(text[4 : text.index("\n---\n", 4)])
    except yaml.YAMLError as exc:
        raise CharmError(f"{path}: dataset card YAML header is invalid: {str(exc).splitlines()[0]}") from None
    if not isinstance(header, dict):
        raise CharmError(f"{path}: dataset card YAML header is not a mapping")
    return header


def read_manifest(path: Path) -> dict[str, Any]:
    file = path / MANIFEST
    if not file.exists():
        raise CharmError(f"{path}: no {MANIFEST}; not a charm-builder export")
    try:
        data = json.loads(file.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise CharmError(f"{file}: not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise CharmError(f"{file}: invalid JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(data, dict):
        raise CharmError(f"{file}: expected a JSON object, got {type(data).__name__}")
    if data.get("format_version") != FORMAT_VERSION:
        raise CharmError(f"{file}: unsupported manifest (format_version {data.get('format_version')!r})")
    return data


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def subset_body(subset: str, charm: dict[str, Any], fmt: str, files: list[str]) -> str:
    """The Markdown part of a subset card."""
    lines = [SUBSET_TEXT[subset], "", "## Counts", ""]
    for split, c in charm["counts"].items():
        langs = ", ".join(f"{k}={v}" for k, v in c["by_language"].items()) or "none"
        dims = ", ".join(f"{k}={v}" for k, v in c["by_dimension"].items()) or "none"
        lines.append(f"- `{split}`: {c['total']} rows (languages: {langs}; dimensions: {dims})")
    ann = charm.get("annotations")
    if ann:
        used = "included as annotators" if ann.get("synthetic_included") else "excluded (export --include-synthetic)"
        lines += [
            "",
            f"**Annotations:** {ann.get('human', 0)} human; {ann.get('synthetic', 0)} synthetic "
            f"(LLM-judge picks, annotator `judge:<model>`) {used}.",
        ]
    agg = charm.get("aggregate") or {}
    if agg.get("method") == "dawid-skene":
        ranked = ", ".join(f"{a['annotator']} {a['accuracy']:.2f}" for a in agg.get("annotators", []))
        lines += [
            "",
            "**Verdicts:** the most probable best/worst under a one-coin Dawid-Skene model of annotator "
            f"reliability (EM, {agg.get('iterations')} iterations); accuracy per annotator: {ranked or 'none'}. "
            "`label_confidence` is the posterior probability that chosen beats rejected.",
        ]
    pp = charm.get("pairs")
    if pp:
        how = (
            "the nine pairs each best/worst pick implies (best over every other reply, every middle reply over worst)"
            if pp["policy"] == "maxdiff"
            else "one pair per candidate set, best over worst (the paper's)"
        )
        lines += [
            "",
            f"**Pairs:** `{pp['policy']}`: {how}; {pp['pairs']} pairs from {pp['candidate_sets']} candidate sets. "
            "A set's pairs stay in one split, and `charm-train rm` keeps them together (one micro-batch with "
            "`--batch-size 9` or more).",
        ]
    mj = charm.get("margin_judge")
    if mj and mj.get("judge"):
        lines += [
            "",
            f"**margin_judge:** judge `{mj['judge']}` (prompt {mj['prompt_version']}), "
            f"{mj['pairs_with_margin']} pairs with a margin, {mj['pairs_without_margin']} without.",
        ]
    if charm.get("shortfall"):
        short = ", ".join(f"{k} short by {v}" for k, v in charm["shortfall"].items())
        lines += [
            "",
            (
                f"**Shortfall:** target size {charm['target_size']} not reached: {short} "
                "(every usable item of those cells is included)."
            ),
        ]
    if charm.get("size_mode") == "share":
        usable = sum(charm.get("available", {}).values())
        lines += [
            "",
            (
                f"**Small pool:** only {usable} usable items (fewer than 4,000) and no `--size`: roleReward "
                "took 20% of each dimension x language cell; the rest is left to preferenceTraining."
            ),
        ]
    if charm.get("turns"):
        lines += ["", f"Turns per dialogue: {turns_line(charm['turns'])}."]
    if charm.get("shift"):
        lines += ["", *shift_lines(charm["shift"])]
    excl = {k: v for k, v in charm.get("exclusions", {}).items() if v}
    if excl:
        lines += ["", "## Excluded", "", *(f"- {k.replace('_', ' ')}: {v}" for k, v in excl.items())]
    load = {
        "hf": "from datasets import load_from_disk\nds = load_from_disk(PATH)",
        "parquet": "from datasets import load_dataset\nds = load_dataset('parquet', data_dir=PATH)",
        "jsonl": "from datasets import load_dataset\nds = load_dataset('json', data_dir=PATH)",
    }[fmt]
    lines += [
        "",
        "## Loading",
        "",
        "```python",
        load,
        "```",
        "",
        (
            f"Files: {', '.join(files)}. "
            f"`{MANIFEST}` lists every row id per split. Built by charm-builder {package_version()}."
        ),
    ]
    return "\n".join(lines)


def shift_lines(shift: dict[str, Any]) -> list[str]:
    """Markdown for a shift export: what is held out, and the JS divergences as one table."""
    held = ", ".join(shift.get("holdout") or [])
    sets = ", ".join(f"{k}={v}" for k, v in (shift.get("candidate_sets") or {}).items())
    lines = [
        "## Distribution shift",
        "",
        f"**{shift['kind']} shift**: held out {held} "
        f"(candidate sets: {sets}). `test_id` is in distribution, `test_ood` holds the held-out part.",
        "",
        "| aspect | marginal | JS(train, test_id) | JS(train, test_ood) |",
        "|---|---|---|---|",
    ]
    fmt = lambda v: "-" if v is None else f"{v:.4f}"  # noqa: E731
    for aspect, marginals in (shift.get("divergence") or {}).items():
        for marginal, values in marginals.items():
            lines.append(f"| {aspect} | {marginal} | {fmt(values.get('test_id'))} | {fmt(values.get('test_ood'))} |")
    if shift.get("ood_turns_seen_in_train") is not None:
        lines += [
            "",
            f"Share of `test_ood` context turns that occur in training contexts: "
            f"{shift['ood_turns_seen_in_train']:.2%}.",
        ]
    lines += ["", f"Estimator: {shift.get('estimator', '')} Embedding model: {shift.get('embedding_model')}."]
    return lines


def hub_header(subset: str, charm: dict[str, Any], fmt: str, license_: str) -> dict[str, Any]:
    """Hugging Face card metadata plus our `charm` block."""
    langs = sorted({lang for c in charm["counts"].values() for lang in c["by_language"]}) or ["zh", "en"]
    total = sum(c["total"] for c in charm["counts"].values())
    size = (
        "n<1K" if total < 1_000 else "1K<n<10K" if total < 10_000 else "10K<n<100K" if total < 100_000 else "100K<n<1M"
    )
    header: dict[str, Any] = {
        "pretty_name": f"Charm {subset}",
        "license": license_,
        "language": langs,
        "size_categories": [size],
        "tags": ["role-play", "reward-modeling", "preference", "charm"],
    }
    if fmt in ("parquet", "jsonl"):
        header["configs"] = [
            {"config_name": subset, "data_files": [{"split": s, "path": f"{s}.{fmt}"} for s in charm["counts"]]}
        ]
    header["charm"] = charm
    return header

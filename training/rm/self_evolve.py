"""Self-evolution (ChARM): the reward model pseudo-labels unannotated candidate sets, then retrains.

Details: docs/design.md#self-evolve.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas import Annotation, CandidateSet, Character, Dialogue, to_chat

KEEP_COLUMNS: tuple[str, ...] = (
    "id",
    "prompt",
    "chosen",
    "rejected",
    "dialogue_id",
    "character_id",
    "candidate_set_id",
    "language",
    "dimension",
)


class SelfEvolveError(ValueError):
    """A user-caused problem (bad option, empty workspace ...); the message names it."""


@dataclass
class UnlabelledSet:
    """An unannotated candidate set as a TRL prompt plus its candidate replies."""

    candidate_set_id: str
    dialogue_id: str
    character_id: str
    language: str
    dimension: str | None
    prompt: list[dict[str, str]]
    candidates: list[tuple[str, str, str]]  # (label, model_id, text)


@dataclass
class RoundResult:
    round: int
    model: str
    labelled: int
    scored_sets: int
    pseudo_pairs: int
    summary: dict[str, Any] = field(default_factory=dict)  # training.rm.evaluate.summarize output


# ------------------------------------------------------------------------------ workspace side


def unlabelled_sets(ws: Any, exclude_dialogues: Collection[str] = (), limit: int | None = None) -> list[UnlabelledSet]:
    """Candidate sets with no submitted annotation, outside ``exclude_dialogues``, with >= 2 distinct replies."""
    annotated = set(ws.distinct(Annotation, "candidate_set_id", status="submitted"))
    excluded = set(exclude_dialogues)
    dialogues: dict[str, Dialogue | None] = {}
    characters: dict[str, Character | None] = {}
    out: list[UnlabelledSet] = []
    for cset in ws.iter(CandidateSet):
        if cset.id in annotated or cset.dialogue_id in excluded:
            continue
        if cset.dialogue_id not in dialogues:
            dialogues[cset.dialogue_id] = ws.get(Dialogue, cset.dialogue_id)
        dlg = dialogues[cset.dialogue_id]
        if dlg is None:
            continue
        if dlg.character_id not in characters:
            characters[dlg.character_id] = ws.get(Character, dlg.character_id)
        char = characters[dlg.character_id]
        system = char.system_prompt.get(dlg.language) if char is not None else ""
        cands = [(c.label, c.model_id, c.text) for c in cset.candidates if c.text.strip() and "empty" not in c.flags]
        if len({text for _, _, text in cands}) < 2:
            continue
        prompt = to_chat(cset.context, system)
        out.append(UnlabelledSet(cset.id, dlg.id, dlg.character_id, dlg.language, dlg.target_dimension, prompt, cands))
        if limit is not None and len(out) >= limit:
            break
    return out


# ----------------------------------------------------------------------------- pure selection


def select_pseudo_pairs(
    sets: Sequence[UnlabelledSet], scores: Sequence[Sequence[float]], threshold: float, round_: int, model: str = ""
) -> list[dict[str, Any]]:
    """Best-vs-worst pseudo pairs whose reward gap is at least ``threshold`` (see module doc).

    ``scores[i][j]`` is the reward of ``sets[i].candidates[j]``. Ties for best/worst go to the first
    label; a set whose best and worst texts are equal is skipped.
    """
    if len(sets) != len(scores):
        raise ValueError(f"{len(sets)} sets but {len(scores)} score lists")
    rows = []
    for s, sc in zip(sets, scores, strict=True):
        if len(sc) != len(s.candidates):
            raise ValueError(f"{s.candidate_set_id}: {len(s.candidates)} candidates but {len(sc)} scores")
        best = max(range(len(sc)), key=lambda j: (sc[j], -j))
        worst = min(range(len(sc)), key=lambda j: (sc[j], j))
        gap = float(sc[best] - sc[worst])
        (b_label, b_model, b_text), (w_label, w_model, w_text) = s.candidates[best], s.candidates[worst]
        if not math.isfinite(gap) or gap < threshold or b_text == w_text:
            continue
        rows.append(
            {
                "id": f"pseudo_{s.candidate_set_id}_{b_label}{w_label}",
                "prompt": s.prompt,
                "chosen": [{"role": "assistant", "content": b_text}],
                "rejected": [{"role": "assistant", "content": w_text}],
                "dialogue_id": s.dialogue_id,
                "character_id": s.character_id,
                "candidate_set_id": s.candidate_set_id,
                "language": s.language,
                "dimension": s.dimension,
                "chosen_model": b_model,
                "rejected_model": w_model,
                "pseudo_label": True,
                "pseudo_round": round_,
                "pseudo_margin": gap,
                "pseudo_model": model,
            }
        )
    return rows


def labelled_rows(rows: Any) -> list[dict[str, Any]]:
    """Labelled training rows reduced to the shared columns and marked ``pseudo_label = False``."""
    out = []
    for i, r in enumerate(rows):
        row = {k: r.get(k) for k in KEEP_COLUMNS}
        row["id"] = row["id"] or f"labelled_{i}"
        row |= {
            "chosen_model": r.get("chosen_model"),
            "rejected_model": r.get("rejected_model"),
            "pseudo_label": False,
            "pseudo_round": None,
            "pseudo_margin": None,
            "pseudo_model": None,
        }
        out.append(row)
    return out


# ------------------------------------------------------------------------------------ the loop


@dataclass
class SelfEvolveConfig:
    workspace: Path
    data: Path  # labelled preferenceTraining (split train)
    eval_data: Path  # roleReward export
    output_dir: Path
    rounds: int = 2
    threshold: float = 1.0
    init_rm: Path | None = None
    model: str = "offline"
    loss: str = "bt"
    beta: float | None = None
    epochs: float = 1.0
    max_steps: int | None = None
    batch_size: int = 4
    lr: float = 1e-5
    max_length: int = 1024
    seed: int = 42
    max_unlabelled: int | None = None


def _validate(cfg: SelfEvolveConfig) -> None:
    from training.rm.trainer import LOSSES

    if cfg.rounds < 1:
        raise SelfEvolveError(f"--rounds must be >= 1, got {cfg.rounds}")
    if cfg.loss not in LOSSES or cfg.loss == "margin":
        raise SelfEvolveError(f"--loss {cfg.loss!r}: choose bt, aam-pr or aam-ld (pseudo pairs carry no human margin)")
    if not math.isfinite(cfg.threshold):
        raise SelfEvolveError("--threshold must be a finite number")
    out = cfg.output_dir
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise SelfEvolveError(f"--out {out}: exists and is not an empty folder; choose a new one")
    if cfg.init_rm is not None and not (cfg.init_rm / "charm_rm.json").exists():
        raise SelfEvolveError(f"--init-rm {cfg.init_rm}: not a charm reward model (no charm_rm.json)")


def _ids(rows: Any, column: str) -> set[str]:
    return {str(v) for v in rows[column] if v} if column in rows.column_names else set()


def _train(cfg: SelfEvolveConfig, data: Path, out: Path, model: str, progress: bool) -> Path:
    from training.rm.trainer import RMTrainConfig, train_reward_model

    tcfg = RMTrainConfig(
        data=data,
        output_dir=out,
        model=model,
        loss=cfg.loss,
        beta=cfg.beta,
        epochs=cfg.epochs,
        max_steps=cfg.max_steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        max_length=cfg.max_length,
        seed=cfg.seed,
        logging_steps=10**9,
    )
    return train_reward_model(tcfg, progress=progress).output_dir


def _evaluate(rm_dir: Path, eval_rows: Any, cfg: SelfEvolveConfig) -> dict[str, Any]:
    from training.rm.evaluate import evaluate_reward_model, summarize
    from training.rm.model import load_reward_model

    model = load_reward_model(rm_dir)
    return summarize(evaluate_reward_model(model, eval_rows, batch_size=cfg.batch_size, max_length=cfg.max_length))


def score_sets(
    rm_dir: Path,
    sets: Sequence[UnlabelledSet],
    batch_size: int = 8,
    max_length: int = 1024,
    on_progress: Callable[[int], None] | None = None,
) -> list[list[float]]:
    """Reward of every candidate of every set under the RM in ``rm_dir``."""
    from training.rm.model import load_reward_model

    model = load_reward_model(rm_dir)
    out = []
    for s in sets:
        out.append(
            model.score([(s.prompt, text) for _, _, text in s.candidates], batch_size=batch_size, max_length=max_length)
        )
        if on_progress:
            on_progress(1)
    return out


def self_evolve(
    cfg: SelfEvolveConfig, progress: bool = True, on_round: Callable[[RoundResult], None] | None = None
) -> list[RoundResult]:
    """Run round 0 (starting RM) and ``cfg.rounds`` self-evolution rounds; write the table. See module doc."""
    from datasets import Dataset

    from charm_builder.store import Workspace
    from charm_kernel.progress import count_bar
    from training.rm.data import load_rows, require_columns
    from training.rm.evaluate import load_role_reward

    _validate(cfg)
    labelled, source = load_rows(cfg.data, "train")
    require_columns(labelled, ["prompt", "chosen", "rejected"], source)
    eval_rows, _ = load_role_reward(cfg.eval_data, None)
    exclude = _ids(labelled, "dialogue_id") | _ids(eval_rows, "dialogue_id")
    ws = Workspace.open(cfg.workspace)
    try:
        pool = unlabelled_sets(ws, exclude, cfg.max_unlabelled)
    finally:
        ws.close()
    if not pool:
        raise SelfEvolveError(
            f"{cfg.workspace}: no unannotated candidate sets outside the labelled and "
            "evaluation dialogues; nothing to pseudo-label"
        )
    out = cfg.output_dir
    out.mkdir(parents=True, exist_ok=True)
    base_rows = labelled_rows(labelled)
    results: list[RoundResult] = []

    current = cfg.init_rm
    if current is None:
        Dataset.from_list(base_rows).to_parquet(str(out / "round-0-train.parquet"))
        current = _train(cfg, out / "round-0-train.parquet", out / "round-0" / "model", cfg.model, progress)
    results.append(RoundResult(0, str(current), len(base_rows), 0, 0, _evaluate(current, eval_rows, cfg)))
    if on_round:
        on_round(results[-1])
    for r in range(1, cfg.rounds + 1):
        with count_bar(f"round {r}: scoring", disable=not progress) as bar:
            task = bar.add_task("sets", total=len(pool))
            scores = score_sets(
                current, pool, cfg.batch_size, cfg.max_length, lambda k, bar=bar, task=task: bar.advance(task, k)
            )
        pseudo = select_pseudo_pairs(pool, scores, cfg.threshold, r, str(current))
        folder = out / f"round-{r}"
        folder.mkdir(parents=True, exist_ok=True)
        Dataset.from_list(base_rows + pseudo).to_parquet(str(folder / "train.parquet"))
        current = _train(cfg, folder / "train.parquet", folder / "model", str(current), progress)
        results.append(
            RoundResult(r, str(current), len(base_rows), len(pool), len(pseudo), _evaluate(current, eval_rows, cfg))
        )
        if on_round:
            on_round(results[-1])
    write_rounds(out, results, cfg)
    return results


# ------------------------------------------------------------------------------------ reports


def round_rows(results: Sequence[RoundResult]) -> tuple[list[str], list[list[str]]]:
    from training.rm.evaluate import table_rows

    header = ["Round", "labelled", "pseudo pairs", "scored sets"]
    rows = []
    for res in results:
        cols, cells = table_rows(res.summary)
        rows.append([str(res.round), str(res.labelled), str(res.pseudo_pairs), str(res.scored_sets), *cells])
    return header + (cols if results else []), rows


def round_line(res: RoundResult) -> str:
    """The one-line progress note after a round: pseudo pairs kept and the roleReward average."""
    acc = res.summary.get("avg")
    return (
        f"round {res.round}: {res.pseudo_pairs} pseudo pair(s), roleReward Avg. {'-' if acc is None else f'{acc:.1f}'}"
    )


def print_rounds(results: Sequence[RoundResult]) -> None:
    """The ``charm-train self-evolve`` table: roleReward accuracy (%) after each round."""
    from rich.console import Console
    from rich.table import Table

    header, rows = round_rows(results)
    table = Table(title="self-evolution: roleReward accuracy (%) per round")
    for i, col in enumerate(header):
        table.add_column(col, justify="left" if i == 0 else "right")
    for r in rows:
        table.add_row(*r)
    Console().print(table)


def write_rounds(out: str | os.PathLike[str], results: Sequence[RoundResult], cfg: SelfEvolveConfig) -> None:
    """``rounds.md``, ``rounds.csv`` and ``summary.json``: roleReward accuracy (%) after each round."""
    target = Path(out)
    header, rows = round_rows(results)
    md = [
        f"Self-evolution: roleReward pairwise accuracy (%) after each round (threshold {cfg.threshold}, "
        f"loss {cfg.loss}).",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
    ]
    md += ["| " + " | ".join(r) + " |" for r in rows]
    (target / "rounds.md").write_text("\n".join(md) + "\n", encoding="utf-8")
    with (target / "rounds.csv").open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(header)
        w.writerows(rows)
    summary = {
        "config": {k: str(v) if isinstance(v, Path) else v for k, v in vars(cfg).items()},
        "rounds": [vars(r) for r in results],
    }
    (target / "summary.json").write_text(json.dumps(summary, indent=2, default=str), encoding="utf-8")

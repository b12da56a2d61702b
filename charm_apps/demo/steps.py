"""The demo's steps, each a call into the library functions the commands use.

Every step returns a ``StepResult`` (status, seconds, the artefacts it left); a step whose input is
missing is *skipped* with the reason, so the summary always says what happened. Rerunning the demo
on the same workspace is cheap: simulation and judge calls are cached, the export and the demo
reward model are rebuilt.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from charm_kernel.errors import CharmError

if TYPE_CHECKING:  # the stages load lazily, inside each step
    from charm_builder.judge.picks import SyntheticReport
    from charm_builder.judge.runner import JudgeReport

EXPORT_DIR = Path("exports") / "demo"
RM_DIR = Path("runs") / "demo-rm"


@dataclass
class DemoConfig:
    workspace: Path
    roster: str = "offline"
    dialogues: int = 4
    turns: str = "3"  # user, character, user: the candidates answer the second user turn
    max_tokens: int = 48  # per turn / candidate
    judge: str | None = None  # roster entry standing in for the annotators [default: the roster's first]
    rm_model: str = "offline"  # backbone of the demo reward model
    rm_steps: int = 2
    role_reward_size: int = 2  # roleReward items; the other sets become training pairs
    seed: int = 0

    @property
    def export_dir(self) -> Path:
        return self.workspace / EXPORT_DIR

    @property
    def rm_dir(self) -> Path:
        return self.workspace / RM_DIR

    @property
    def eval_dir(self) -> Path:
        return self.rm_dir / "eval"


@dataclass
class StepResult:
    name: str
    status: str = "ok"  # ok | skipped | failed
    seconds: float = 0.0
    artefacts: list[Path] = field(default_factory=list)
    note: str = ""


def _timed(name: str, fn: Callable[[], StepResult]) -> StepResult:
    start = time.perf_counter()
    try:
        result = fn()
    except CharmError as exc:
        result = StepResult(name, "failed", note=str(exc))
    except typer.Exit as exc:  # a command function reported bad input (its error line is printed)
        result = StepResult(name, "failed" if exc.exit_code else "ok", note=f"exit code {exc.exit_code}")
    result.seconds = time.perf_counter() - start
    return result


def setup_workspace(cfg: DemoConfig) -> StepResult:
    """``charm-build init``: the workspace with the bundled bilingual starter library (idempotent)."""
    from charm_builder.importers import import_files
    from charm_builder.library import library_files
    from charm_builder.store import Workspace, workspace_stats

    with Workspace.create(cfg.workspace) as ws:
        import_files(ws, library_files())
        stats = workspace_stats(ws)
    return StepResult(
        "init",
        artefacts=[cfg.workspace / "charm.db"],
        note=f"{stats['characters']} characters, {stats['users']} personas, {stats['scenes']} scenes",
    )


def simulate_step(cfg: DemoConfig) -> StepResult:
    """``charm-build simulate``: dialogues and six candidates each (resumes; cached calls are free)."""
    from charm_builder.simulate import RunOptions, SimulateRequest, simulate_workspace
    from charm_builder.store import Workspace
    from schemas import CandidateSet, Dialogue

    params = {"max_tokens": cfg.max_tokens}
    request = SimulateRequest(
        roster=cfg.roster, limit=cfg.dialogues, seed=cfg.seed, turns=cfg.turns, max_tokens=cfg.max_tokens
    )
    simulate_workspace(cfg.workspace, RunOptions(params=params, candidate_params=params), request)
    with Workspace.open(cfg.workspace) as ws:
        note = f"{ws.count(Dialogue)} dialogues, {ws.count(CandidateSet)} candidate sets"
    return StepResult("simulate", artefacts=[cfg.workspace / "charm.db"], note=note)


# ----------------------------------------------------------------------------------------------
# THE ANNOTATION STEP. An LLM judge stands in for the annotators: it scores every candidate and its
# best/worst picks are stored as annotations marked `synthetic` (annotator "judge:<model>"), which the
# export only counts with include_synthetic. Built on charm_builder.judge (`charm-build judge` +
# `charm-build annotate synthetic`).
# ----------------------------------------------------------------------------------------------
def synthetic_annotation_step(cfg: DemoConfig) -> StepResult:
    import asyncio

    from charm_builder.judge import run_judge, synthetic_annotations
    from charm_builder.llm import LLMClient
    from charm_builder.llm.errors import LLMConfigError
    from charm_builder.store import Workspace

    with Workspace.open(cfg.workspace) as ws:
        try:
            client = LLMClient(cfg.roster, db=ws.db_path, run_id="demo-judge")
            judge = cfg.judge or client.roster.names[0]
            client.preflight([judge])
        except LLMConfigError as exc:
            raise CharmError(str(exc)) from None

        async def go():
            try:
                return await run_judge(ws, client, judge, all_sets=True)
            finally:
                await client.aclose()

        scored = asyncio.run(go())
        made = synthetic_annotations(ws, judge)
    return StepResult(
        f"annotate (LLM judge {judge}, synthetic)",
        artefacts=[cfg.workspace / "charm.db"],
        note=annotate_note(scored, made),
    )


def annotate_note(scored: JudgeReport, made: SyntheticReport) -> str:
    """The annotate step's summary line; it says how many picks are tie-breaks (a small offline judge
    often gives all six candidates one score, and such a pick carries no preference)."""
    note = (
        f"{scored.scored + scored.already_scored} candidates scored ({scored.unparseable} unparseable); "
        f"{made.written} synthetic best/worst annotation(s) over {made.sets_scored} scored set(s)"
    )
    if made.tied:
        note += f", {made.tied} of them tie-breaks (the judge gave every candidate the same score)"
    return note


def export_step(cfg: DemoConfig) -> StepResult:
    """``charm-build export --subset all --include-synthetic``: the three subsets as HF datasets."""
    from charm_builder.export import ExportOptions, export_workspace
    from charm_builder.store import Workspace
    from charm_kernel.console import err_console
    from schemas import Annotation

    opts = ExportOptions(min_annotators=1, size=cfg.role_reward_size, pairs="maxdiff", grpo_fraction=0.2, seed=cfg.seed)
    if "include_synthetic" in {f.name for f in fields(ExportOptions)}:
        opts.include_synthetic = True  # type: ignore[attr-defined]
    with Workspace.open(cfg.workspace) as ws:
        if not ws.count(Annotation):
            return StepResult("export", "skipped", note="no annotations yet, so nothing to export")
        summary = export_workspace(ws, cfg.export_dir, opts, overwrite=True, console=err_console)
    rows = "; ".join(
        f"{sub} " + ", ".join(f"{s}={n}" for s, n in splits.items()) for sub, splits in summary.rows.items()
    )
    skipped = "; ".join(f"{sub} skipped ({why})" for sub, why in summary.skipped.items())
    return StepResult("export", artefacts=[cfg.export_dir], note="; ".join(p for p in (rows, skipped) if p))


def _rows(cfg: DemoConfig, subset: str, split: str) -> int:
    import json

    manifest = cfg.export_dir / subset / "manifest.json"
    if not manifest.exists():
        return 0
    return len((json.loads(manifest.read_text(encoding="utf-8")).get("ids") or {}).get(split, []))


def train_step(cfg: DemoConfig) -> StepResult:
    """``charm-train rm --data EXPORT --loss aam-ld``: a few optimizer steps on the training pairs."""
    pairs = _rows(cfg, "preferenceTraining", "train")
    if cfg.rm_dir.exists():
        shutil.rmtree(cfg.rm_dir)  # the demo's own run folder: rebuilt each time, never stale
    if not pairs:
        return StepResult("charm-train rm", "skipped", note="no training pairs in the export (no annotations)")
    from charm_builder.export.locate import subset_path
    from charm_builder.llm.providers.local import unload_all
    from training.rm.cli import step_line
    from training.rm.cli_common import note, user_errors
    from training.rm.trainer import RMTrainConfig, train_reward_model

    unload_all()  # the simulator's and judge's models are not needed while training (peak RSS 6.88 -> 6.60 GB)
    config = RMTrainConfig.from_preset(
        None,
        data=[subset_path(cfg.export_dir, "preferenceTraining")],
        output_dir=cfg.rm_dir,
        model=str(cfg.rm_model),
        loss="aam-ld",
        max_steps=cfg.rm_steps,
        batch_size=2,
        max_length=384,
        logging_steps=1,
        sft_reg=0.01,
    )
    try:
        result = train_reward_model(config, on_log=lambda entry: typer.echo(step_line(entry), err=True), notify=note)
    except user_errors() as exc:
        raise CharmError(str(exc)) from None
    typer.echo(f"saved reward model to {result.output_dir} ({result.steps} steps)")
    return StepResult(
        "charm-train rm", artefacts=[cfg.rm_dir], note=f"AAM-LD, {cfg.rm_steps} step(s) on {pairs} pair(s)"
    )


def eval_step(cfg: DemoConfig) -> StepResult:
    """``charm-train eval-rm RM --data EXPORT --out RM/eval``: pairwise accuracy per dimension x language."""
    items = _rows(cfg, "roleReward", "test")
    if not items or not cfg.rm_dir.is_dir():
        return StepResult(
            "charm-train eval-rm",
            "skipped",
            note="no roleReward items" if not items else "no reward model (training was skipped)",
        )
    from training.rm.eval_run import evaluate_run, print_eval_run

    print_eval_run(evaluate_run(cfg.rm_dir, cfg.export_dir, out=cfg.eval_dir, max_length=512))
    return StepResult(
        "charm-train eval-rm", artefacts=[cfg.eval_dir / "results.md"], note=f"{items} roleReward item(s)"
    )


STEPS: tuple[tuple[str, Callable[[DemoConfig], StepResult]], ...] = (
    ("init", setup_workspace),
    ("simulate", simulate_step),
    ("annotate", synthetic_annotation_step),
    ("export", export_step),
    ("charm-train rm", train_step),
    ("charm-train eval-rm", eval_step),
)


def run_demo(cfg: DemoConfig, on_step: Callable[[str], None] | None = None) -> list[StepResult]:
    """Run every step in order; stop after a failed one (later ones depend on it)."""
    results = []
    for name, step in STEPS:
        if on_step:
            on_step(name)
        result = _timed(name, lambda step=step: step(cfg))
        results.append(result)
        if result.status == "failed":
            break
    return results


def size_of(path: Path) -> int:
    """Bytes under ``path`` (a file or a folder)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) if path.is_dir() else 0

"""Run a simulation: plan -> dialogues -> candidates, concurrently, resumably, within a budget.

Each task (one planned dialogue) stores its dialogue, then its candidate set, each in one
transaction together with the task's state and the calls it made. Rerunning the same command
after a crash or Ctrl-C skips finished work; LLM calls already made are cache hits and cost
nothing, so nothing is double-counted.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

from charm_builder.llm.errors import LLMCallError
from charm_builder.simulate.candidates import candidate_messages, first_attempt_seeds, generate_candidates
from charm_builder.simulate.loop import (
    CallTally,
    ChatClient,
    DegenerateDialogue,
    LoopSettings,
    retry_params,
    simulate_dialogue,
)
from charm_builder.simulate.plan import DialogueSpec
from charm_builder.simulate.refine import generate_scene, refine_dialogue
from charm_builder.store import Workspace, sim_tasks
from charm_kernel.errors import CharmError
from schemas import CandidateSet, Character, Dialogue, Scene, UserPersona, content_id

NO_REFINE = "none"  # --refine none: no refine pass even where the roster has one


@pydantic_dataclass
class RunOptions:
    """How a simulation runs. Each field with a description is a ``charm-build simulate`` option and its
    description that option's help (charm_builder/simulate/cli.py reads it; tests/charm_builder/simulate/test_options.py
    checks names and defaults); its constraints are the option's validation. The three model fields
    may be left None and filled from the roster by :meth:`for_roster`."""

    user_model: str | None = Field(None, description="Roster entry that plays the user (default: first entry).")
    character_model: str | None = Field(
        None, description="Roster entry that plays the character (default: second entry)."
    )
    candidate_models: list[str] | None = Field(
        None, description="Comma-separated candidate models (default: first six roster entries)."
    )
    stage: Literal["all", "dialogues", "candidates"] = Field(
        "all", description="all | dialogues | candidates (candidates also serves imported dialogues)."
    )
    concurrency: int = Field(8, ge=1, description="Dialogues in flight (the roster's per-model limits still apply).")
    budget_usd: float | None = Field(None, description="Stop cleanly once this run has spent this much.")
    max_retries: int = 2
    refine_model: str | None = Field(
        None,
        description="Roster entry that reviews each dialogue and rewrites turns that break character "
        "(default: the roster's simulate.refine_model: claude-3.5-sonnet in the paper roster, none in the "
        "offline one; --refine none skips the pass).",
    )
    scene_model: str | None = Field(
        None, description="Roster entry that writes a new scene per dialogue (instead of a library scene)."
    )
    params: dict[str, Any] = field(default_factory=dict)
    candidate_params: dict[str, Any] = field(default_factory=dict)
    batch: bool = Field(
        False,
        description="With --stage candidates: send the work through the OpenAI Batch API / Anthropic Message "
        "Batches (about half the price; resumable by batch id).",
    )
    batch_poll_s: float = 30.0

    @field_validator("candidate_models", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        """``"a, b"`` (the option's text) -> ``["a", "b"]``."""
        return [v.strip() for v in value.split(",") if v.strip()] if isinstance(value, str) else value

    @model_validator(mode="after")
    def _batch_needs_candidates(self) -> RunOptions:
        if self.batch and self.stage != "candidates":
            raise ValueError(
                "--batch works with --stage candidates (dialogue turns depend on each other, so they "
                "cannot be batched): run --stage dialogues first, then --stage candidates --batch"
            )
        return self

    def for_roster(self, names: list[str], refine_model: str | None = None) -> RunOptions:
        """The models left None filled from the roster: user = first entry, character = second (or the
        first), candidates = the first six, refine = ``refine_model`` (the roster's
        ``simulate.refine_model``); a refine model of ``none`` means no refine pass."""
        refine = self.refine_model if self.refine_model is not None else refine_model
        return dataclasses.replace(
            self,
            user_model=self.user_model or names[0],
            character_model=self.character_model or (names[1] if len(names) > 1 else names[0]),
            candidate_models=self.candidate_models or names[:6],
            refine_model=None if refine == NO_REFINE else refine,
        )


@dataclass
class RunReport:
    planned: int = 0
    skipped: int = 0
    dialogues: int = 0
    candidate_sets: int = 0
    failed: int = 0
    errors: int = 0
    finished: int = 0  # tasks of this run that reached their end (done for the stage, or failed)
    budget_stopped: bool = False
    tally: CallTally = field(default_factory=CallTally)
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)

    @property
    def dialogues_per_min(self) -> float:
        return 60 * self.dialogues / self.seconds if self.seconds else 0.0

    @property
    def tokens_per_s(self) -> float:
        return (self.tally.input_tokens + self.tally.output_tokens) / self.seconds if self.seconds else 0.0


Progress = Callable[[RunReport], None]


class Simulation:
    """Holds the workspace, the client and the options; ``run(specs)`` does the work."""

    def __init__(
        self,
        ws: Workspace,
        client: ChatClient,
        options: RunOptions,
        *,
        spent: Callable[[], float] | None = None,
        flush: Callable[[], None] | None = None,
    ):
        self.ws, self.client, self.opts = ws, client, options
        self.spent = spent or (lambda: 0.0)  # actual USD spent by this run (from the LLM ledger)
        self.flush = flush or (lambda: None)  # persist LLM cache/ledger before committing results
        self.report = RunReport()
        self._lock = asyncio.Lock()
        sim_tasks.ensure_table(ws)

    def _over_budget(self) -> bool:
        return self.opts.budget_usd is not None and self.spent() >= self.opts.budget_usd

    async def _commit(self, fn: Callable[[], None]) -> None:
        async with self._lock:  # one writer; SQLite calls are short
            self.flush()
            with self.ws.transaction():
                fn()

    async def _candidates_for(self, key: str, spec: dict, dialogue: Dialogue, seed: int) -> None:
        character = self.ws.get(Character, dialogue.character_id)
        if character is None:
            raise CharmError(f"dialogue {dialogue.id}: character {dialogue.character_id} is not in the workspace")
        scene = self.ws.get(Scene, dialogue.scene_id) if dialogue.scene_id else None
        cset, tally = await generate_candidates(
            self.client,
            dialogue,
            character,
            scene,
            self.opts.candidate_models,
            seed=seed,
            retries=self.opts.max_retries,
            params=self.opts.candidate_params,
        )

        def write() -> None:
            self.ws.upsert(cset)
            sim_tasks.mark(self.ws, key, spec, "done", tally, dialogue_id=dialogue.id, candidate_set_id=cset.id)

        await self._commit(write)
        self.report.tally.merge(tally)
        self.report.candidate_sets += 1
        self.report.finished += 1

    async def _dialogue_task(self, spec: DialogueSpec, state: dict | None) -> None:
        spec_d = spec.__dict__
        dialogue = self.ws.get(Dialogue, state["dialogue_id"]) if state and state["dialogue_id"] else None
        if dialogue is None:
            character = self.ws.get(Character, spec.character_id)
            user = self.ws.get(UserPersona, spec.user_id)
            scene = self.ws.get(Scene, spec.scene_id) if spec.scene_id else None
            settings = LoopSettings(
                self.opts.user_model, self.opts.character_model, self.opts.max_retries, self.opts.params
            )
            extra = CallTally()
            if self.opts.scene_model:
                made = await generate_scene(
                    self.client, self.opts.scene_model, character, user, spec.language, spec.seed, extra
                )
                if made is not None:
                    await self._commit(lambda: self.ws.upsert(made))
                    scene = made
            try:
                dialogue, tally = await simulate_dialogue(self.client, spec, character, user, scene, settings)
                if self.opts.refine_model:
                    dialogue = await refine_dialogue(
                        self.client, self.opts.refine_model, dialogue, character, spec.seed, tally
                    )
                tally.merge(extra)
            except DegenerateDialogue as exc:
                exc.tally.merge(extra)
                reason, spent = str(exc), exc.tally
                await self._commit(lambda: sim_tasks.mark(self.ws, spec.key, spec_d, "failed", spent, problem=reason))
                self.report.tally.merge(spent)
                self.report.failed += 1
                self.report.finished += 1
                self.report.problems.append(f"task {spec.index}: {reason}")
                return

            def write() -> None:
                self.ws.upsert(dialogue)
                sim_tasks.mark(self.ws, spec.key, spec_d, "dialogue", tally, dialogue_id=dialogue.id)

            await self._commit(write)
            self.report.tally.merge(tally)
            self.report.dialogues += 1
            if self.opts.stage == "dialogues":
                self.report.finished += 1
        if self.opts.stage == "all":
            await self._candidates_for(spec.key, spec_d, dialogue, spec.seed + 1_000_003)

    async def _guarded(self, sem: asyncio.Semaphore, job: Callable[[], Any], progress: Progress | None) -> None:
        async with sem:
            if self._over_budget():
                self.report.budget_stopped = True
                return
            try:
                await job()
            except LLMCallError as exc:  # failed for good after retries: leave the task for a rerun
                self.report.errors += 1
                self.report.problems.append(f"LLM call failed, task left for a rerun: {exc}")
            if progress:
                progress(self.report)

    async def run(self, specs: list[DialogueSpec], progress: Progress | None = None) -> RunReport:
        """Simulate the planned dialogues (and their candidates unless stage == 'dialogues')."""
        start = time.perf_counter()
        states = sim_tasks.task_states(self.ws)
        jobs = []
        for spec in specs:
            state = states.get(spec.key)
            finished = state and (
                state["status"] in ("done", "failed")
                or (state["status"] == "dialogue" and self.opts.stage == "dialogues")
            )
            if finished:
                self.report.skipped += 1
                continue
            jobs.append(lambda spec=spec, state=state: self._dialogue_task(spec, state))
        self.report.planned = len(specs)
        if progress:
            progress(self.report)  # what is left to do is known: a bar can start its clock (and rate) here
        await self._run_jobs(jobs, progress)
        self.report.seconds = time.perf_counter() - start
        return self.report

    async def run_candidates(self, dialogues: list[Dialogue], progress: Progress | None = None) -> RunReport:
        """Candidates for existing (e.g. imported) dialogues that have none yet."""
        start = time.perf_counter()
        have = set(self.ws.distinct(CandidateSet, "dialogue_id"))
        jobs = []
        contexts: list[Dialogue] = []
        for dlg in dialogues:
            if dlg.id in have:
                self.report.skipped += 1
                continue
            turns = list(dlg.turns)
            while turns and turns[-1].role != "user":  # answer the last user turn
                turns.pop()
            if not turns:
                self.report.problems.append(f"dialogue {dlg.id}: no user turn to answer")
                continue
            context = dlg.model_copy(update={"turns": turns})
            contexts.append(context)
            key = content_id("task", {"candidates_for": dlg.id})
            seed = int(key[-8:], 16)
            # model_copy keeps the original id, so the set points at the stored dialogue
            jobs.append(
                lambda key=key, d=dlg, c=context, s=seed: self._candidates_for(key, {"candidates_for": d.id}, c, s)
            )
        self.report.planned = len(dialogues)
        if progress:
            progress(self.report)
        if self.opts.batch:
            await self._prefetch_batches(
                [(c, int(content_id("task", {"candidates_for": c.id})[-8:], 16)) for c in contexts]
            )
        await self._run_jobs(jobs, progress)
        self.report.seconds = time.perf_counter() - start
        return self.report

    async def _prefetch_batches(self, items: list[tuple[Dialogue, int]]) -> None:
        """Send every candidate model's first attempt through its provider's batch API (about half
        the price); the answers land in the LLM cache, so the normal pipeline then reads them for
        free and only retries go out live. Local models fall back to ordinary calls."""
        from charm_builder.llm import BatchRequest, BatchRunner

        runner = BatchRunner(self.client, poll_interval=self.opts.batch_poll_s)
        params = retry_params(self.opts.candidate_params, 0)
        for model in self.opts.candidate_models:
            requests = []
            for dialogue, seed in items:
                character = self.ws.get(Character, dialogue.character_id)
                scene = self.ws.get(Scene, dialogue.scene_id) if dialogue.scene_id else None
                if character is None:
                    continue
                requests.append(
                    BatchRequest(
                        custom_id=dialogue.id,
                        messages=candidate_messages(dialogue, character, scene),
                        params=params,
                        seed=first_attempt_seeds(self.opts.candidate_models, seed)[model],
                    )
                )
            if requests:
                await runner.run(model, requests)
        self.flush()

    def run_sync(
        self,
        specs: list[DialogueSpec] | None = None,
        *,
        dialogues: list[Dialogue] | None = None,
        progress: Progress | None = None,
        close: Callable[[], Any] | None = None,
    ) -> RunReport:
        """Run ``run(specs)`` (or ``run_candidates(dialogues)``) in a fresh event loop, then await ``close``
        (e.g. the LLM client's ``aclose``) in that same loop."""

        async def go() -> RunReport:
            try:
                if dialogues is not None:
                    return await self.run_candidates(dialogues, progress)
                return await self.run(specs or [], progress)
            finally:
                if close is not None:
                    await close()

        return asyncio.run(go())

    async def _run_jobs(self, jobs: list[Callable[[], Any]], progress: Progress | None) -> None:
        sem = asyncio.Semaphore(max(1, self.opts.concurrency))
        await asyncio.gather(*(self._guarded(sem, job, progress) for job in jobs))

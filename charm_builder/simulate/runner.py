"""Run a simulation: plan -> dialogues -> candidates, concurrently, resumably, within a budget.

Each task (one planned dialogue) stores its dialogue, then its candidate set, each in one
transaction together with the task's state and the calls it made. Rerunning the same command
after a crash or Ctrl-C skips finished work; LLM calls already made are cache hits and cost
nothing, so nothing is double-counted.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from charm_builder.errors import CharmError
from charm_builder.llm.errors import LLMCallError
from charm_builder.simulate import tasks
from charm_builder.simulate.candidates import generate_candidates
from charm_builder.simulate.loop import CallTally, ChatClient, DegenerateDialogue, LoopSettings, simulate_dialogue
from charm_builder.simulate.plan import DialogueSpec
from charm_builder.simulate.refine import generate_scene, refine_dialogue
from charm_builder.store import Workspace
from schemas import Character, Dialogue, Scene, UserPersona, content_id


@dataclass
class RunOptions:
    user_model: str
    character_model: str
    candidate_models: list[str]
    stage: str = "all"  # all | dialogues | candidates
    concurrency: int = 8
    budget_usd: float | None = None
    max_retries: int = 2
    refine_model: str | None = None
    scene_model: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    candidate_params: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunReport:
    planned: int = 0
    skipped: int = 0
    dialogues: int = 0
    candidate_sets: int = 0
    failed: int = 0
    errors: int = 0
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


def _merge(total: CallTally, part: CallTally) -> None:
    total.calls += part.calls
    total.input_tokens += part.input_tokens
    total.output_tokens += part.output_tokens
    total.cost_usd += part.cost_usd


class Simulation:
    """Holds the workspace, the client and the options; ``run(specs)`` does the work."""

    def __init__(self, ws: Workspace, client: ChatClient, options: RunOptions, *,
                 spent: Callable[[], float] | None = None, flush: Callable[[], None] | None = None):
        self.ws, self.client, self.opts = ws, client, options
        self.spent = spent or (lambda: 0.0)  # actual USD spent by this run (from the LLM ledger)
        self.flush = flush or (lambda: None)  # persist LLM cache/ledger before committing results
        self.report = RunReport()
        self._lock = asyncio.Lock()
        tasks.ensure_table(ws)

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
            self.client, dialogue, character, scene, self.opts.candidate_models, seed=seed,
            retries=self.opts.max_retries, params=self.opts.candidate_params,
        )  # fmt: skip

        def write() -> None:
            self.ws.upsert(cset)
            tasks.mark(self.ws, key, spec, "done", tally, dialogue_id=dialogue.id, candidate_set_id=cset.id)

        await self._commit(write)
        _merge(self.report.tally, tally)
        self.report.candidate_sets += 1

    async def _dialogue_task(self, spec: DialogueSpec, state: dict | None) -> None:
        spec_d = spec.__dict__
        dialogue = self.ws.get(Dialogue, state["dialogue_id"]) if state and state["dialogue_id"] else None
        if dialogue is None:
            character = self.ws.get(Character, spec.character_id)
            user = self.ws.get(UserPersona, spec.user_id)
            scene = self.ws.get(Scene, spec.scene_id) if spec.scene_id else None
            settings = LoopSettings(self.opts.user_model, self.opts.character_model, self.opts.max_retries,
                                    self.opts.params)  # fmt: skip
            extra = CallTally()
            if self.opts.scene_model:
                made = await generate_scene(self.client, self.opts.scene_model, character, user, spec.language,
                                            spec.seed, extra)  # fmt: skip
                if made is not None:
                    await self._commit(lambda: self.ws.upsert(made))
                    scene = made
            try:
                dialogue, tally = await simulate_dialogue(self.client, spec, character, user, scene, settings)
                if self.opts.refine_model:
                    dialogue = await refine_dialogue(self.client, self.opts.refine_model, dialogue, character,
                                                     spec.seed, tally)  # fmt: skip
                _merge(tally, extra)
            except DegenerateDialogue as exc:
                _merge(exc.tally, extra)
                reason, spent = str(exc), exc.tally
                await self._commit(lambda: tasks.mark(self.ws, spec.key, spec_d, "failed", spent, problem=reason))
                _merge(self.report.tally, spent)
                self.report.failed += 1
                self.report.problems.append(f"task {spec.index}: {reason}")
                return

            def write() -> None:
                self.ws.upsert(dialogue)
                tasks.mark(self.ws, spec.key, spec_d, "dialogue", tally, dialogue_id=dialogue.id)

            await self._commit(write)
            _merge(self.report.tally, tally)
            self.report.dialogues += 1
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
        states = tasks.task_states(self.ws)
        jobs = []
        for spec in specs:
            state = states.get(spec.key)
            finished = state and (state["status"] in ("done", "failed") or
                                  (state["status"] == "dialogue" and self.opts.stage == "dialogues"))
            if finished:
                self.report.skipped += 1
                continue
            jobs.append(lambda spec=spec, state=state: self._dialogue_task(spec, state))
        self.report.planned = len(specs)
        await self._run_jobs(jobs, progress)
        self.report.seconds = time.perf_counter() - start
        return self.report

    async def run_candidates(self, dialogues: list[Dialogue], progress: Progress | None = None) -> RunReport:
        """Candidates for existing (e.g. imported) dialogues that have none yet."""
        start = time.perf_counter()
        have = {row[0] for row in self.ws.conn.execute("SELECT dialogue_id FROM candidate_sets")}
        jobs = []
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
            key = content_id("task", {"candidates_for": dlg.id})
            seed = int(key[-8:], 16)
            # model_copy keeps the original id, so the set points at the stored dialogue
            jobs.append(lambda key=key, d=dlg, c=context, s=seed: self._candidates_for(key, {"candidates_for": d.id}, c, s))
        self.report.planned = len(dialogues)
        await self._run_jobs(jobs, progress)
        self.report.seconds = time.perf_counter() - start
        return self.report

    async def _run_jobs(self, jobs: list[Callable[[], Any]], progress: Progress | None) -> None:
        sem = asyncio.Semaphore(max(1, self.opts.concurrency))
        await asyncio.gather(*(self._guarded(sem, job, progress) for job in jobs))


"""What a simulation will cost, before it runs: calls, tokens and dollars per model.

Pure: reads the plan, the workspace (characters, personas, scenes, finished tasks) and the
roster; no model is loaded and nothing goes over the network. Prompts are the real ones (system
prompts, kick-off, the model entry's own system prompt); the replies are not known yet, so each
is assumed to be ``reply_tokens`` long (capped by the model's ``max_tokens``), and the history a
turn sees grows by that much per turn. Tokens are counted with the LLM layer's heuristic
(``prompt_tokens``). Dollars come from the roster's list prices (``ModelSpec.cost``, batch
discount included). Retries of degenerate turns are not planned, so they come on top.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from typing import Any

from rich.console import Console
from rich.table import Table

from charm_builder.llm.limits import prompt_tokens
from charm_builder.llm.roster import Roster
from charm_builder.simulate.candidates import candidate_messages
from charm_builder.simulate.loop import CallTally
from charm_builder.simulate.plan import DialogueSpec, TurnPlan
from charm_builder.simulate.prompts import as_chat, character_system_prompt, user_system_prompt
from charm_builder.store import Workspace, sim_tasks
from charm_builder.store.stats import PAPER_MEAN_TURNS
from schemas import CandidateSet, Character, Dialogue, Scene, UserPersona

# The simulator's prompts ask for 1-4 sentences: a typical reply is well under 100 tokens.
TYPICAL_REPLY_TOKENS = 80
DEFAULT_MAX_TOKENS = 256  # what estimate_tokens assumes when a model sets no max_tokens
MESSAGE_OVERHEAD = 4  # tokens per chat message (role markers), as in estimate_tokens


@dataclass
class Estimate:
    """The plan (dialogues per sub-category x dimension x language, turns) and its cost per model."""

    per_model: dict[str, CallTally] = field(default_factory=dict)
    cells: Counter = field(default_factory=Counter)  # (sub_category, dimension, language) -> dialogues
    dialogues: int = 0  # dialogues still to simulate
    candidate_sets: int = 0  # candidate sets still to collect
    turns: int = 0  # planned turns over the dialogues still to simulate
    already_done: int = 0  # planned work finished by an earlier run (skipped)
    ceiling: CallTally | None = None  # the same work with every reply at its max_tokens

    @property
    def total(self) -> CallTally:
        out = CallTally()
        for tally in self.per_model.values():
            out.merge(tally)
        return out


@dataclass
class EstimateOptions:
    """The part of the run options an estimate needs (see ``RunOptions``)."""

    user_model: str
    character_model: str
    candidate_models: list[str]
    stage: str = "all"
    refine_model: str | None = None
    scene_model: str | None = None
    max_tokens: int | None = None  # --max-tokens (over the roster's)
    batch: bool = False
    reply_tokens: int | None = TYPICAL_REPLY_TOKENS  # None: every reply fills its max_tokens (a ceiling)


class _Costing:
    def __init__(self, roster: Roster, opts: EstimateOptions, est: Estimate):
        self.roster, self.opts, self.est = roster, opts, est

    def reply(self, model: str) -> int:
        spec = self.roster.get(model)
        cap = self.opts.max_tokens or spec.params.max_tokens or DEFAULT_MAX_TOKENS
        return cap if self.opts.reply_tokens is None else min(cap, self.opts.reply_tokens)

    def call(
        self,
        model: str,
        messages: list[dict[str, str]],
        history_tokens: int = 0,
        *,
        output: int | None = None,
        batch: bool = False,
    ) -> None:
        spec = self.roster.get(model)
        system = prompt_tokens([{"role": "system", "content": spec.system_prompt}]) if spec.system_prompt else 0
        n_in = prompt_tokens(messages) + system + history_tokens
        n_out = self.reply(model) if output is None else output
        self.est.per_model.setdefault(model, CallTally()).add_call(
            model, n_in, n_out, spec.cost(n_in, n_out, batch=batch)
        )


def estimate_simulation(
    ws: Workspace,
    roster: Roster,
    opts: EstimateOptions,
    *,
    specs: list[DialogueSpec] | None = None,
    dialogues: list[Dialogue] | None = None,
) -> Estimate:
    """Estimate ``specs`` (stage all/dialogues) or candidates for ``dialogues`` (stage candidates)."""
    for name in (opts.user_model, opts.character_model, *opts.candidate_models, opts.refine_model, opts.scene_model):
        if name:
            roster.get(name)  # unknown model: the roster's one-line error
    est, ceiling = Estimate(), Estimate()
    for target, reply in ((est, opts.reply_tokens), (ceiling, None)):
        costing = _Costing(roster, replace(opts, reply_tokens=reply), target)
        if dialogues is not None:
            _candidates_stage(ws, costing, dialogues)
        else:
            _dialogue_stage(ws, costing, specs or [])
    est.per_model = dict(sorted(est.per_model.items()))
    est.ceiling = ceiling.total
    return est


def _dialogue_stage(ws: Workspace, costing: _Costing, specs: list[DialogueSpec]) -> None:
    opts, est = costing.opts, costing.est
    states = sim_tasks.task_states(ws)
    chars: dict[str, Any] = {}
    for spec in specs:
        state = states.get(spec.key) or {}
        status = state.get("status")
        if status in ("done", "failed") or (status == "dialogue" and opts.stage == "dialogues"):
            est.already_done += 1
            continue
        character = chars.setdefault(spec.character_id, ws.get(Character, spec.character_id))
        user = ws.get(UserPersona, spec.user_id)
        scene = ws.get(Scene, spec.scene_id) if spec.scene_id else None
        if character is None or user is None:
            continue  # the run reports it; nothing to estimate
        lang = spec.language
        turn_tokens = {
            "user": costing.reply(opts.user_model) + MESSAGE_OVERHEAD,
            "character": costing.reply(opts.character_model) + MESSAGE_OVERHEAD,
        }
        if status != "dialogue":  # the dialogue itself is still to simulate
            est.dialogues += 1
            est.turns += spec.turns
            est.cells[(character.sub_category, spec.dimension, lang)] += 1
            if opts.scene_model:
                costing.call(
                    opts.scene_model,
                    [{"role": "user", "content": character.profile.get(lang)[:300] + user.prompt.get(lang)[:300]}],
                    60,
                )
            systems = {
                "user": user_system_prompt(user, character, scene, lang, spec.steered_dimension),
                "character": character_system_prompt(character, scene, lang),
            }
            history = 0
            for i in range(spec.turns):
                role = "user" if i % 2 == 0 else "character"
                model = opts.user_model if role == "user" else opts.character_model
                costing.call(model, as_chat(systems[role], [], role, lang), history)
                history += turn_tokens[role]
            if opts.refine_model:
                costing.call(
                    opts.refine_model, [{"role": "user", "content": character.profile.get(lang)[:800]}], history + 100
                )
        if opts.stage == "all":
            est.candidate_sets += 1
            user_turns = (spec.turns + 1) // 2
            context = user_turns * turn_tokens["user"] + (spec.turns - user_turns) * turn_tokens["character"]
            messages = [{"role": "system", "content": character_system_prompt(character, scene, lang)}]
            for model in opts.candidate_models:
                costing.call(model, messages, context)


def _candidates_stage(ws: Workspace, costing: _Costing, dialogues: list[Dialogue]) -> None:
    opts, est = costing.opts, costing.est
    have = set(ws.distinct(CandidateSet, "dialogue_id"))
    for dialogue in dialogues:
        if dialogue.id in have:
            est.already_done += 1
            continue
        character = ws.get(Character, dialogue.character_id)
        turns = list(dialogue.turns)
        while turns and turns[-1].role != "user":
            turns.pop()
        if character is None or not turns:
            continue
        scene = ws.get(Scene, dialogue.scene_id) if dialogue.scene_id else None
        messages = candidate_messages(dialogue.model_copy(update={"turns": turns}), character, scene)
        est.candidate_sets += 1
        for model in opts.candidate_models:
            costing.call(model, messages, batch=opts.batch)


def human_tokens(n: float) -> str:
    """1234 -> '1.2k', 456789 -> '457k', 1234567 -> '1.23M'."""
    if n >= 1e6:
        return f"{n / 1e6:.2f}M"
    if n >= 1e4:
        return f"{n / 1e3:.0f}k"
    if n >= 1e3:
        return f"{n / 1e3:.1f}k"
    return f"{int(n)}"


def human_usd(x: float) -> str:
    """Dollars with cents, or four decimals under a dollar (so small runs do not read as $0.00)."""
    return f"${x:,.2f}" if x >= 1 or x == 0 else f"${x:.4f}"


def spent_vs_estimate(calls: int, tokens: int, cost: float, est: CallTally) -> str:
    """The closing comparison: 'spent 1,234 calls / 456k tokens / $1.20 (estimate: 1,200 / 430k / $1.10)'."""
    return (
        f"spent {calls:,} calls / {human_tokens(tokens)} tokens / {human_usd(cost)} "
        f"(estimate: {est.calls:,} / {human_tokens(est.tokens)} / {human_usd(est.cost_usd)})"
    )


def turns_note(est: Estimate, turns: TurnPlan) -> str:
    """'turns per dialogue (one message each): 9..17, mean 12.8 planned; these 20: 13.40; paper 12.8'."""
    these = f"; these {est.dialogues}: {est.turns / est.dialogues:.2f}" if est.dialogues else ""
    return f"turns per dialogue (one message each): {turns.describe()} planned{these}; paper {PAPER_MEAN_TURNS}"


def print_plan(console: Console, est: Estimate, roster: Roster, opts: EstimateOptions, turns: TurnPlan | None) -> None:
    """The dry-run report: the plan per sub-category x dimension x language (``turns``: the turn plan,
    None for --stage candidates), then the cost per model."""
    if est.cells:
        plan = Table(title=f"plan: {est.dialogues} dialogue(s), {est.turns} turns")
        for col in ("sub-category", "dimension", "language", "dialogues"):
            plan.add_column(col, justify="right" if col == "dialogues" else "left")
        for (category, dimension, language), n in sorted(est.cells.items()):
            plan.add_row(category, dimension, language, str(n))
        console.print(plan)
        if turns is not None:
            console.print(turns_note(est, turns), highlight=False)
    if est.candidate_sets:
        console.print(
            f"candidate sets: {est.candidate_sets} x {len(opts.candidate_models)} models"
            + (" (batch APIs: batch prices)" if opts.batch else ""),
            highlight=False,
        )
    if est.already_done:
        console.print(f"already done by an earlier run (skipped): {est.already_done}", highlight=False)
    costs = Table(title=f"estimate (roster {roster.name}; replies ~{opts.reply_tokens} tokens, capped by max_tokens)")
    costs.add_column("model", no_wrap=True)
    for col in ("$/1M in/out", "calls", "tokens in", "tokens out", "USD"):
        costs.add_column(col, justify="right", no_wrap=True)
    for name, u in est.per_model.items():
        spec = roster.get(name)
        costs.add_row(
            name,
            f"{spec.price_input:g}/{spec.price_output:g}",
            f"{u.calls:,}",
            human_tokens(u.input_tokens),
            human_tokens(u.output_tokens),
            human_usd(u.cost_usd),
        )
    total = est.total
    costs.add_row(
        "total",
        "",
        f"{total.calls:,}",
        human_tokens(total.input_tokens),
        human_tokens(total.output_tokens),
        human_usd(total.cost_usd),
        style="bold",
    )
    console.print(costs)
    if est.ceiling is not None:
        console.print(
            f"ceiling (every reply at its max_tokens): {human_tokens(est.ceiling.tokens)} tokens, "
            f"{human_usd(est.ceiling.cost_usd)}; retries of degenerate turns come on top. "
            "Nothing was called: drop --dry-run to run it.",
            highlight=False,
        )

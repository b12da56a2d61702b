"""The Scene-Character-User loop: two chat models alternate for a planned number of turns.

Stop rules: the planned turn count, the user's end marker, or a turn that stays degenerate after
retries (empty, repeated, off-language, speaking as the other side). Degenerate turns are retried
with a new seed; cleaned fixes and retries are written to provenance. A dialogue always ends on a
user turn (the query the candidates answer).
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from charm_builder.llm.roster import list_price
from charm_builder.simulate.cleaning import Cleaned, clean_turn
from charm_builder.simulate.plan import DialogueSpec
from charm_builder.simulate.prompts import as_chat, character_system_prompt, user_system_prompt
from schemas import Character, Dialogue, Message, Provenance, Scene, UserPersona


class ChatClient(Protocol):
    """What the simulator needs from the LLM layer (``charm_builder.llm.LLMClient`` fits)."""

    async def chat(self, model: str, messages: Any, params: Any = None, *, seed: int | None = None) -> Any: ...


@dataclass
class CallTally:
    """Tokens and list-price cost of every call a unit of work made (cache hits included at list price)."""

    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    per_model: dict[str, int] = field(default_factory=dict)

    def add(self, model: str, completion: Any, price_in: float, price_out: float) -> float:
        """Count one answered call; returns its list-price cost in USD."""
        cost = list_price(completion.input_tokens, completion.output_tokens, price_in, price_out)
        self.add_call(model, completion.input_tokens, completion.output_tokens, cost)
        return cost

    def add_call(self, model: str, input_tokens: int, output_tokens: int, cost_usd: float) -> None:
        """Count one call of ``model`` (also used for planned calls by ``simulate.estimate``)."""
        self.calls += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cost_usd += cost_usd
        self.per_model[model] = self.per_model.get(model, 0) + 1

    @property
    def tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    def merge(self, other: CallTally) -> None:
        """Add another tally's calls to this one."""
        self.calls += other.calls
        self.input_tokens += other.input_tokens
        self.output_tokens += other.output_tokens
        self.cost_usd += other.cost_usd
        for model, n in other.per_model.items():
            self.per_model[model] = self.per_model.get(model, 0) + n

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "input_tokens": self.input_tokens,
            "output_tokens": self.output_tokens,
            "cost_usd": round(self.cost_usd, 8),
        }


class DegenerateDialogue(Exception):
    """The dialogue could not reach a usable length; the task is marked failed with this reason.

    ``tally`` holds the calls it made anyway, so the task's cost is still accounted for."""

    def __init__(self, reason: str, tally: CallTally):
        super().__init__(reason)
        self.tally = tally


@dataclass
class LoopSettings:
    user_model: str
    character_model: str
    max_retries: int = 2
    params: dict[str, Any] = field(default_factory=dict)


RETRY_TEMPERATURE = 0.8


def retry_params(params: dict[str, Any], attempt: int) -> dict[str, Any] | None:
    """Retries sample at temperature >= 0.8 (unless the caller fixed one), so a greedy model can
    escape a degenerate turn instead of repeating it."""
    if attempt and "temperature" not in params:
        return {**params, "temperature": RETRY_TEMPERATURE}
    return params or None


def prices(client: Any, model: str) -> tuple[float, float]:
    """List prices (USD per million input / output tokens) of ``model``; zero when the client has no roster."""
    spec = client.spec(model) if hasattr(client, "spec") else None
    return (spec.price_input, spec.price_output) if spec else (0.0, 0.0)


class Attempt(NamedTuple):
    """One try at a reply: its number (0 first), the completion, its cleaned text, its list-price
    cost in USD and the seconds the call took."""

    number: int
    completion: Any
    cleaned: Cleaned
    cost_usd: float
    seconds: float


@dataclass
class ReplyRequest:
    """One reply asked of ``model``: the chat, the seed its attempts derive from, how many retries,
    the cleaning arguments and sampling params, and the tally every call is counted in."""

    client: ChatClient
    model: str
    messages: list[dict]
    seed: int
    retries: int
    clean_args: dict[str, Any]
    params: dict[str, Any]
    tally: CallTally


async def cleaned_attempts(request: ReplyRequest) -> AsyncIterator[Attempt]:
    """Ask ``model`` up to ``retries + 1`` times, each try with its own seed (``seed * 100 + n``) and
    retry sampling (``retry_params``); every call is tallied and its text cleaned. The caller stops
    iterating at the first attempt it accepts (turns and candidates accept different problems)."""
    r = request
    price_in, price_out = prices(r.client, r.model)
    for number in range(r.retries + 1):
        start = time.perf_counter()
        completion = await r.client.chat(
            r.model, r.messages, retry_params(r.params, number), seed=r.seed * 100 + number
        )
        seconds = time.perf_counter() - start
        cost = r.tally.add(r.model, completion, price_in, price_out)
        yield Attempt(number, completion, clean_turn(completion.text, **r.clean_args), cost, seconds)


async def generate_turn(request: ReplyRequest, *, notes: list[str], label: str):
    """Ask ``model`` for one turn, retrying degenerate output with new seeds. Returns Cleaned, or None
    when every attempt had a problem."""
    async for attempt in cleaned_attempts(request):
        cleaned = attempt.cleaned
        if cleaned.fixes:
            notes.append(f"{label}: cleaned {','.join(cleaned.fixes)}")
        if cleaned.problem is None:
            return cleaned
        notes.append(f"{label}: attempt {attempt.number + 1} rejected ({cleaned.problem})")
    return None


async def simulate_dialogue(
    client: ChatClient,
    spec: DialogueSpec,
    character: Character,
    user: UserPersona,
    scene: Scene | None,
    settings: LoopSettings,
) -> tuple[Dialogue, CallTally]:
    """Run one dialogue to its planned length (or an earlier clean stop)."""
    lang = spec.language
    char_name, user_name = character.name.get(lang), user.name
    char_names = [n for n in (character.name.zh, character.name.en) if n]
    systems = {
        "user": user_system_prompt(user, character, scene, lang, spec.steered_dimension),
        "character": character_system_prompt(character, scene, lang),
    }
    models = {"user": settings.user_model, "character": settings.character_model}
    turns: list[Message] = []
    notes: list[str] = []
    tally = CallTally()
    for i in range(spec.turns):
        role = "user" if i % 2 == 0 else "character"
        own, other = ([user_name], char_names) if role == "user" else (char_names, [user_name])
        request = ReplyRequest(
            client,
            models[role],
            as_chat(systems[role], turns, role, lang),
            seed=spec.seed + i,
            retries=settings.max_retries,
            params=settings.params,
            tally=tally,
            clean_args={
                "own_names": own,
                "other_names": other,
                "language": lang,
                "history": [t.text for t in turns],
                "prompt": systems[role],
            },
        )
        cleaned = await generate_turn(request, notes=notes, label=f"turn {i + 1}")
        if cleaned is None:
            notes.append(f"turn {i + 1}: stopped, still degenerate after {settings.max_retries} retries")
            break
        if cleaned.text:
            turns.append(Message(role=role, speaker=user_name if role == "user" else char_name, text=cleaned.text))
        if cleaned.ended and role == "user":
            notes.append(f"turn {i + 1}: user ended the conversation")
            break
    while turns and turns[-1].role != "user":  # the candidates answer the last user turn
        turns.pop()
    if not turns:
        raise DegenerateDialogue("; ".join(notes[-3:]) or "no usable turns", tally)
    provenance = Provenance(
        source="simulated",
        models=models,
        seed=spec.seed,
        notes=notes,
        params={
            "task": spec.key,
            "planned_turns": spec.turns,
            "steer_user": spec.steer_user,
            "sampling": settings.params,
            "max_retries": settings.max_retries,
            "usage": tally.as_dict(),
        },
    )
    dialogue = Dialogue(
        character_id=character.id,
        user_id=user.id,
        scene_id=scene.id if scene else None,
        language=lang,
        target_dimension=spec.dimension,
        turns=turns,
        provenance=provenance,
    )
    return dialogue, tally

"""Which dialogues to simulate: a balanced, seeded sample of (character, user, scene, language, dimension).

The plan is a pure function of the workspace contents and the options, so re-running the same
command yields the same task keys and a resumed run skips what is already done.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass
from fractions import Fraction

from charm_builder.store import Workspace
from charm_kernel.errors import CharmError
from schemas import ROLE_REWARD_DIMENSIONS, Character, Scene, UserPersona, content_id


@dataclass(frozen=True)
class TurnPlan:
    """How many turns each planned dialogue gets. A turn is one message (a user message or a character
    message), the unit ``charm-build stats`` measures; lengths are odd because the user speaks first and
    last. A dialogue's length is one entry of ``bag`` drawn uniformly (one ``rng.randrange(len(bag))``),
    so a length listed k times has weight k."""

    bag: tuple[int, ...]

    @classmethod
    def weighted(cls, weights: dict[int, int]) -> TurnPlan:
        """``{9: 4, 11: 4}``: length 9 and 11, four times each."""
        return cls(tuple(n for n, w in sorted(weights.items()) for _ in range(w)))

    @classmethod
    def between(cls, lo: int, hi: int) -> TurnPlan:
        """``--turns lo..hi``: a whole number drawn uniformly from lo..hi, an even one moved up to the next
        odd length (down when that passes ``hi``)."""
        return cls(tuple(n if n % 2 else (n + 1 if n + 1 <= hi else max(1, n - 1)) for n in range(lo, hi + 1)))

    @property
    def mean(self) -> Fraction:
        """The exact expected length."""
        return Fraction(sum(self.bag), len(self.bag))

    @property
    def bounds(self) -> tuple[int, int]:
        return min(self.bag), max(self.bag)

    def sample(self, rng: random.Random) -> int:
        return self.bag[rng.randrange(len(self.bag))]

    def describe(self) -> str:
        """'9..17, mean 12.8'."""
        lo, hi = self.bounds
        return f"{lo}..{hi}, mean {float(self.mean):.2f}".rstrip("0").rstrip(".")


# The paper's Charm dialogues average 12.8 turns (Table 5, "#Avg.Turns"; the paper does not define a
# turn, so this tool counts messages, as it has since the first plan and as `stats` measures). The default
# plan keeps the odd lengths 9..17 and weights them 4:4:5:4:3 (out of 20): uniform weights (4 each)
# average 13, and moving one twentieth of the mass from 17 to 13 lowers that by 4/20 = 0.2, so
# (9*4 + 11*4 + 13*5 + 15*4 + 17*3) / 20 = 256 / 20 = 12.8 exactly.
PAPER_TURN_WEIGHTS = {9: 4, 11: 4, 13: 5, 15: 4, 17: 3}
PAPER_TURNS = TurnPlan.weighted(PAPER_TURN_WEIGHTS)


@dataclass(frozen=True)
class DialogueSpec:
    """One dialogue to simulate. ``turns`` is odd: the user speaks first and last. ``steer_user``: the
    user simulator is given an intent that probes ``dimension`` (beyond the paper; see
    ``prompts.user_system_prompt``); part of the key, so steered and free dialogues are separate tasks."""

    index: int
    character_id: str
    user_id: str
    scene_id: str | None
    language: str
    dimension: str
    turns: int
    seed: int
    steer_user: bool = False

    @property
    def key(self) -> str:
        return content_id("task", asdict(self))

    @property
    def steered_dimension(self) -> str | None:
        """The dimension the user simulator is steered toward, or None when it talks freely."""
        return self.dimension if self.steer_user else None


def parse_turns(value: str | None, default: TurnPlan = PAPER_TURNS) -> TurnPlan:
    """'13' -> always 13; '5..9' -> ``TurnPlan.between(5, 9)``; None -> default. Bounds must be >= 1."""
    if not value:
        return default
    try:
        lo, _, hi = value.partition("..")
        bounds = (int(lo), int(hi or lo))
    except ValueError:
        raise CharmError(f"--turns {value!r}: expected a number like 13 or a range like 5..9") from None
    if bounds[0] < 1 or bounds[1] < bounds[0]:
        raise CharmError(f"--turns {value!r}: need 1 <= min <= max")
    return TurnPlan.between(*bounds)


_LANGUAGE_NAMES = {"zh": "Chinese", "en": "English"}


def fit_languages(
    roster: str, spoken: list[str] | None, asked: tuple[str, ...], *, explicit: bool
) -> tuple[tuple[str, ...], str | None]:
    """(languages to simulate, a one-line note or None). ``spoken``: what the roster's models write
    well (``Roster.languages_of``; None = anything). By default only spoken languages are kept;
    languages asked for explicitly are kept anyway, with a warning."""
    missing = [lang for lang in asked if spoken is not None and lang not in spoken]
    kept = tuple(lang for lang in asked if lang not in missing)
    if not missing or (not explicit and not kept):
        return asked, None
    names = " and ".join(_LANGUAGE_NAMES[lang] for lang in missing)
    if explicit:
        return (
            asked,
            f"[yellow]warning:[/] the models of roster {roster} do not speak {names}; expect poor {names} text",
        )
    speaks = ", ".join(_LANGUAGE_NAMES.get(lang, lang) for lang in spoken or [])
    return kept, (
        f"roster {roster}: its models speak {speaks} only, so simulating "
        f"{' and '.join(_LANGUAGE_NAMES[k] for k in kept)} (--language {','.join(missing)} to force {names})"
    )


def plan_dialogues(
    ws: Workspace,
    *,
    limit: int,
    seed: int,
    turns: TurnPlan | tuple[int, int] = PAPER_TURNS,
    steer_user: bool = False,
    languages: tuple[str, ...] = ("zh", "en"),
    dimensions: tuple[str, ...] = ROLE_REWARD_DIMENSIONS,
    character_ids: list[str] | None = None,
) -> list[DialogueSpec]:
    """A balanced sample: round-robin over sub-category x language x dimension, random picks inside.
    ``turns``: a plan, or (lo, hi) for ``TurnPlan.between``."""
    plan = TurnPlan.between(*turns) if isinstance(turns, tuple) else turns
    characters = [c for c in ws.iter(Character) if not character_ids or c.id in character_ids]
    users = list(ws.iter(UserPersona))
    scenes = list(ws.iter(Scene))
    if not characters:
        raise CharmError(f"{ws.root}: no characters to simulate; run `charm-build init` or `charm-build import`")
    if not users:
        raise CharmError(f"{ws.root}: no user personas; import some (`charm-build import users.json`)")
    rng = random.Random(seed)
    by_category: dict[str, list[Character]] = {}
    for char in characters:
        by_category.setdefault(char.sub_category, []).append(char)
    categories = sorted(by_category)
    rng.shuffle(categories)
    cells = itertools.cycle(itertools.product(categories, dimensions, languages))  # language varies fastest
    specs = []
    suitable_for: dict[str, list[Scene]] = {}  # per character, once: the plan stays linear in --limit
    for index in range(limit):
        category, dimension, language = next(cells)
        char = rng.choice(by_category[category])
        suitable = suitable_for.get(char.id)
        if suitable is None:
            suitable = [s for s in scenes if not s.character_ids or char.id in s.character_ids]
            suitable_for[char.id] = suitable
        scene = rng.choice(suitable) if suitable else None
        specs.append(
            DialogueSpec(
                index=index,
                character_id=char.id,
                user_id=rng.choice(users).id,
                scene_id=scene.id if scene else None,
                language=language,
                dimension=dimension,
                turns=plan.sample(rng),
                seed=rng.randrange(2**31),
                steer_user=steer_user,
            )
        )
    return specs

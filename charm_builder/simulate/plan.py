"""Which dialogues to simulate: a balanced, seeded sample of (character, user, scene, language, dimension).

The plan is a pure function of the workspace contents and the options, so re-running the same
command yields the same task keys and a resumed run skips what is already done.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import asdict, dataclass

from charm_builder.errors import CharmError
from charm_builder.store import Workspace
from schemas import ROLE_REWARD_DIMENSIONS, Character, Scene, UserPersona, content_id

# The paper's dialogues average 12.8 turns (messages); 9..17 odd lengths average ~13.
PAPER_TURNS = (9, 17)


@dataclass(frozen=True)
class DialogueSpec:
    """One dialogue to simulate. ``turns`` is odd: the user speaks first and last."""

    index: int
    character_id: str
    user_id: str
    scene_id: str | None
    language: str
    dimension: str
    turns: int
    seed: int

    @property
    def key(self) -> str:
        return content_id("task", asdict(self))


def parse_turns(value: str | None, default: tuple[int, int] = PAPER_TURNS) -> tuple[int, int]:
    """'13' -> (13, 13); '5..9' -> (5, 9); None -> default. Bounds must be >= 1."""
    if not value:
        return default
    try:
        lo, _, hi = value.partition("..")
        bounds = (int(lo), int(hi or lo))
    except ValueError:
        raise CharmError(f"--turns {value!r}: expected a number like 13 or a range like 5..9") from None
    if bounds[0] < 1 or bounds[1] < bounds[0]:
        raise CharmError(f"--turns {value!r}: need 1 <= min <= max")
    return bounds


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


def _odd_turns(rng: random.Random, bounds: tuple[int, int]) -> int:
    n = rng.randint(*bounds)
    return n if n % 2 else (n + 1 if n + 1 <= bounds[1] else max(1, n - 1))


def plan_dialogues(
    ws: Workspace,
    *,
    limit: int,
    seed: int,
    turns: tuple[int, int],
    languages: tuple[str, ...] = ("zh", "en"),
    dimensions: tuple[str, ...] = ROLE_REWARD_DIMENSIONS,
    character_ids: list[str] | None = None,
) -> list[DialogueSpec]:
    """A balanced sample: round-robin over sub-category x language x dimension, random picks inside."""
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
    for index in range(limit):
        category, dimension, language = next(cells)
        char = rng.choice(by_category[category])
        suitable = [s for s in scenes if not s.character_ids or char.id in s.character_ids]
        scene = rng.choice(suitable) if suitable else None
        specs.append(
            DialogueSpec(
                index=index,
                character_id=char.id,
                user_id=rng.choice(users).id,
                scene_id=scene.id if scene else None,
                language=language,
                dimension=dimension,
                turns=_odd_turns(rng, turns),
                seed=rng.randrange(2**31),
            )
        )
    return specs

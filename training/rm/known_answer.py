"""A role-play preference set whose right answers are known, to check that a reward model learns.

Built from the bundled character library (real profile text, English and Chinese). Every pair has a
character system prompt, one user question and two replies; the *chosen* reply is written from the
character's own card, the *rejected* one breaks it in one known way:

* ``other-name``: the same reply, but introducing itself by another character's name;
* ``contradicted-fact``: the character's name, but another character's origin and description;
* ``wrong-language``: the same reply in Chinese although the conversation is English;
* ``off-topic``: the character's name, then a turn that ignores the question.

A share of pairs is *ambiguous*: both replies are in character and true to the card, the chosen one
only answers more of the question (origin as well as name). Their training labels are flipped with a
known rate (``noise``), as annotators who disagree would; held-out pairs always carry the true label.

Characters are split into train and held-out sets, so evaluation is on characters never seen in
training. Everything is drawn from one ``random.Random(seed)``: the same seed gives the same pairs.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

KINDS = ("other-name", "contradicted-fact", "wrong-language", "off-topic")
AMBIGUOUS = "ambiguous"

QUESTIONS = (
    "Who are you, and where do you come from?",
    "Sorry, I didn't catch it: what's your name, and what's your story?",
    "Tell me about yourself. Who are you?",
    "We have never met. Introduce yourself, please?",
    "I keep wondering who you really are. Where are you from?",
)
OPENERS = ("", "Ha, fair question. ", "Of course. ", "Well, since you ask: ")
OFF_TOPIC = (
    "Anyway, the best way to keep rice from sticking is to rinse it three times before cooking.",
    "By the way, the train to the airport leaves every twenty minutes on weekdays.",
    "Did you know that a group of crows is called a murder? Strange word, isn't it?",
    "Honestly, I think the printer on the third floor needs new toner again.",
    "My favourite way to spend a Sunday is reorganising the spice rack alphabetically.",
)


@dataclass(frozen=True)
class Card:
    """The parts of a library character that the replies are written from."""

    name: str
    source: str
    description: str
    name_zh: str
    source_zh: str
    description_zh: str

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> Card:
        return cls(
            rec["name"]["en"],
            rec["source"]["en"],
            rec["description"]["en"],
            rec["name"]["zh"],
            rec["source"]["zh"],
            rec["description"]["zh"],
        )

    def system_prompt(self) -> str:
        return f"You are {self.name}, from {self.source}. {self.description} Stay in character and reply in English."


def library_cards() -> list[Card]:
    """Every character of the bundled starter library."""
    text = resources.files("charm_builder.library").joinpath("data/characters.jsonl").read_text(encoding="utf-8")
    return [Card.from_record(json.loads(line)) for line in text.splitlines() if line.strip()]


def _full_reply(opener: str, name: str, source: str, description: str) -> str:
    return f"{opener}I'm {name}, from {source}. {description}"


def _pair(card: Card, kind: str, others: Sequence[Card], rng: random.Random) -> dict[str, Any]:
    """One known-answer pair for ``card`` (``kind`` in :data:`KINDS` or :data:`AMBIGUOUS`)."""
    opener = rng.choice(OPENERS)
    chosen = _full_reply(opener, card.name, card.source, card.description)
    other = rng.choice(others)
    if kind == "other-name":
        rejected = _full_reply(opener, other.name, card.source, card.description)
    elif kind == "contradicted-fact":
        rejected = _full_reply(opener, card.name, other.source, other.description)
    elif kind == "wrong-language":
        rejected = f"我是{card.name_zh}，来自《{card.source_zh}》。{card.description_zh}"
    elif kind == "off-topic":
        rejected = f"{opener}I'm {card.name}. {rng.choice(OFF_TOPIC)}"
    elif kind == AMBIGUOUS:
        rejected = f"{opener}I'm {card.name}. {card.description}"  # true to the card, but says less
    else:
        raise ValueError(f"unknown pair kind {kind!r}")
    return {
        "prompt": [
            {"role": "system", "content": card.system_prompt()},
            {"role": "user", "content": rng.choice(QUESTIONS)},
        ],
        "chosen": [{"role": "assistant", "content": chosen}],
        "rejected": [{"role": "assistant", "content": rejected}],
        "kind": kind,
        "character": card.name,
        "flipped": False,
    }


def build_pairs(
    cards: Sequence[Card],
    pool: Sequence[Card],
    per_kind: int,
    ambiguous: int,
    noise: float,
    rng: random.Random,
) -> list[dict[str, Any]]:
    """``per_kind`` pairs of every kind and ``ambiguous`` ambiguous pairs for each card; the others
    (names, facts) come from ``pool``. Ambiguous pairs swap chosen/rejected with probability ``noise``."""
    rows = []
    for card in cards:
        others = [c for c in pool if c.name != card.name]
        for kind in KINDS:
            rows += [_pair(card, kind, others, rng) for _ in range(per_kind)]
        for _ in range(ambiguous):
            row = _pair(card, AMBIGUOUS, others, rng)
            if rng.random() < noise:
                row["chosen"], row["rejected"], row["flipped"] = row["rejected"], row["chosen"], True
            rows.append(row)
    rng.shuffle(rows)
    return rows


def split_cards(cards: Sequence[Card], heldout: int, rng: random.Random) -> tuple[list[Card], list[Card]]:
    """``(train, held_out)`` characters: ``heldout`` of them drawn at random for evaluation only."""
    if not 0 < heldout < len(cards):
        raise ValueError(f"heldout must be between 1 and {len(cards) - 1}, got {heldout}")
    order = list(cards)
    rng.shuffle(order)
    return order[heldout:], order[:heldout]


def known_answer_sets(
    seed: int = 0,
    heldout: int = 8,
    per_kind: int = 4,
    ambiguous: int = 4,
    noise: float = 0.3,
    cards: Sequence[Card] | None = None,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """``(train, test)`` rows in TRL's conversational preference format plus ``kind``/``character``/
    ``flipped``. Test rows are on held-out characters and never flipped."""
    rng = random.Random(seed)
    cards = list(cards) if cards is not None else library_cards()
    train_cards, test_cards = split_cards(cards, heldout, rng)
    train = build_pairs(train_cards, train_cards, per_kind, ambiguous, noise, rng)
    test = build_pairs(test_cards, cards, per_kind, ambiguous, 0.0, rng)
    return train, test

"""The known-answer preference set and the bootstrap interval the learning benchmark reports."""

from __future__ import annotations

import random

import pytest

from training.common.stats import bootstrap_ci
from training.rm.known_answer import AMBIGUOUS, KINDS, build_pairs, known_answer_sets, library_cards


def test_sets_are_reproducible_and_split_by_character() -> None:
    train, test = known_answer_sets(seed=5)
    again, _ = known_answer_sets(seed=5)
    assert train == again
    assert known_answer_sets(seed=6)[0] != train
    assert not {r["character"] for r in train} & {r["character"] for r in test}
    assert len({r["character"] for r in test}) == 8 and len({r["character"] for r in train}) == 28
    assert not any(r["flipped"] for r in test)  # held-out pairs always carry the true label


def test_every_rejected_reply_breaks_the_card_in_its_kind() -> None:
    cards = library_cards()
    rows = build_pairs(cards[:3], cards, per_kind=3, ambiguous=2, noise=0.0, rng=random.Random(0))
    by_name = {c.name: c for c in cards}
    assert {r["kind"] for r in rows} == {*KINDS, AMBIGUOUS}
    for row in rows:
        card = by_name[row["character"]]
        chosen, rejected = row["chosen"][0]["content"], row["rejected"][0]["content"]
        assert row["prompt"][0]["content"] == card.system_prompt()
        assert f"I'm {card.name}, from {card.source}. {card.description}" in chosen
        if row["kind"] == "other-name":
            assert card.name not in rejected.split(",")[0] and card.description in rejected
        elif row["kind"] == "contradicted-fact":
            assert card.name in rejected and card.description not in rejected
        elif row["kind"] == "wrong-language":
            assert card.name_zh in rejected and not any("a" <= ch <= "z" for ch in rejected)
        elif row["kind"] == "off-topic":
            assert card.source not in rejected and card.description not in rejected
        else:  # ambiguous: true to the card, says less
            assert card.description in rejected and card.source not in rejected


def test_ambiguous_labels_flip_at_the_noise_rate() -> None:
    cards = library_cards()
    rows = build_pairs(cards, cards, per_kind=0, ambiguous=30, noise=0.3, rng=random.Random(1))
    share = sum(r["flipped"] for r in rows) / len(rows)
    assert len(rows) == 36 * 30 and 0.26 < share < 0.34  # 1,080 draws: 4 standard errors either side
    by_name = {c.name: c for c in cards}
    for row in rows:  # a flipped pair has the fuller reply (name and origin) as its rejected one
        source = by_name[row["character"]].source
        assert (f"from {source}." in row["rejected"][0]["content"]) == row["flipped"]


def test_bootstrap_interval() -> None:
    assert bootstrap_ci([1.0] * 20) == (1.0, 1.0)
    values = [1.0] * 75 + [0.0] * 25
    lo, hi = bootstrap_ci(values, seed=0)
    assert bootstrap_ci(values, seed=0) == (lo, hi)
    # the normal approximation: 0.75 +- 1.96 * sqrt(0.75 * 0.25 / 100) = 0.75 +- 0.085
    assert lo == pytest.approx(0.665, abs=0.02) and hi == pytest.approx(0.835, abs=0.02)
    with pytest.raises(ValueError):
        bootstrap_ci([])

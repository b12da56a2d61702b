import random
from fractions import Fraction
from statistics import fmean

import pytest

from charm_builder.importers import import_files
from charm_builder.library import library_files
from charm_builder.simulate.plan import PAPER_TURN_WEIGHTS, PAPER_TURNS, TurnPlan, parse_turns, plan_dialogues
from charm_builder.store.stats import PAPER_MEAN_TURNS
from charm_kernel.errors import CharmError
from schemas import Character


def test_parse_turns():
    assert parse_turns("13").bag == (13,) and parse_turns("5..9").bounds == (5, 9)
    assert parse_turns(None) is PAPER_TURNS
    for bad in ("x", "9..5", "0"):
        with pytest.raises(CharmError, match="--turns"):
            parse_turns(bad)


def test_default_plan_mean_is_the_papers_12_8_exactly():
    # odd lengths 9..17 weighted 4:4:5:4:3 (a turn = one message; odd: the user speaks first and last)
    assert PAPER_TURN_WEIGHTS == {9: 4, 11: 4, 13: 5, 15: 4, 17: 3}
    assert sum(n * w for n, w in PAPER_TURN_WEIGHTS.items()) == 256 and sum(PAPER_TURN_WEIGHTS.values()) == 20
    assert PAPER_TURNS.mean == Fraction(256, 20) == Fraction("12.8") == Fraction(str(PAPER_MEAN_TURNS))
    assert PAPER_TURNS.bounds == (9, 17) and all(n % 2 for n in PAPER_TURNS.bag)
    assert PAPER_TURNS.describe() == "9..17, mean 12.8"
    # the old default, uniform 9..17 with even draws rounded up, planned 13.44 on average
    assert (
        TurnPlan.between(9, 17).mean == Fraction(121, 9) and TurnPlan.between(9, 17).describe() == "9..17, mean 13.44"
    )
    # a large sample of the sampler itself: standard deviation of one length is 2.68 (variance 171 - 12.8^2 = 7.16), of the mean of
    # 20,000 about 0.019, so 0.06 is over 3 sigma
    rng = random.Random(0)
    lengths = [PAPER_TURNS.sample(rng) for _ in range(20_000)]
    assert abs(fmean(lengths) - 12.8) < 0.06
    assert set(lengths) == {9, 11, 13, 15, 17}


def test_planned_dialogues_follow_the_default_plan(workspace):
    import_files(workspace, library_files())
    specs = plan_dialogues(workspace, limit=2000, seed=11)
    assert {s.turns for s in specs} == {9, 11, 13, 15, 17}
    assert abs(fmean(s.turns for s in specs) - 12.8) < 0.2  # sd of the mean of 2,000: 0.059
    assert not any(s.steer_user for s in specs)


def test_ranges_keep_their_old_draws():
    """``--turns lo..hi`` draws what it drew before the paper plan, so explicit ranges keep their task
    keys: one randint(lo, hi) per dialogue, even numbers moved to the next odd length."""
    for lo, hi in ((4, 10), (3, 5), (9, 17), (4, 4)):
        old, new = random.Random(5), random.Random(5)
        for _ in range(200):
            n = old.randint(lo, hi)
            expected = n if n % 2 else (n + 1 if n + 1 <= hi else max(1, n - 1))
            assert TurnPlan.between(lo, hi).sample(new) == expected


def test_plan_is_balanced_deterministic_and_odd(workspace):
    import_files(workspace, library_files())
    specs = plan_dialogues(workspace, limit=52, seed=3, turns=(4, 10))
    again = plan_dialogues(workspace, limit=52, seed=3, turns=(4, 10))
    assert [s.key for s in specs] == [s.key for s in again]
    assert len({s.key for s in specs}) == 52
    assert all(s.turns % 2 == 1 and 3 <= s.turns <= 10 for s in specs)
    cats = {workspace.get(Character, s.character_id).sub_category for s in specs}
    assert len(cats) == 13  # 52 = 13 categories x 2 languages x 2 dimensions
    assert {s.language for s in specs} == {"zh", "en"}
    assert sum(s.language == "zh" for s in specs) == 26
    assert {s.dimension for s in specs} == {"knowledge_consistency", "attractiveness"}
    assert plan_dialogues(workspace, limit=5, seed=4, turns=(5, 5))[0].key != specs[0].key


def test_steering_is_part_of_the_task_key(workspace):
    import_files(workspace, library_files())
    free = plan_dialogues(workspace, limit=6, seed=2)
    steered = plan_dialogues(workspace, limit=6, seed=2, steer_user=True)
    # the same dialogues (character, user, scene, length, seed) ...
    assert [(s.character_id, s.turns, s.seed) for s in free] == [(s.character_id, s.turns, s.seed) for s in steered]
    # ... but separate tasks, so a run of one setting never skips the other's as done
    assert not {s.key for s in free} & {s.key for s in steered}
    assert [s.steered_dimension for s in free] == [None] * 6
    assert [s.steered_dimension for s in steered] == [s.dimension for s in steered]


def test_plan_needs_characters_and_users(workspace):
    with pytest.raises(CharmError, match="no characters to simulate"):
        plan_dialogues(workspace, limit=1, seed=0, turns=(3, 3))

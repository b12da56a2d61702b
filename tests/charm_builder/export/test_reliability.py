"""Issue 23.1: the one-coin Dawid-Skene model of annotator reliability on best/worst picks."""

from __future__ import annotations

import itertools
import random

import numpy as np
import polars as pl
import pytest

from charm_builder.export.reliability import fit_reliability, pair_win_probability, set_posterior
from charm_builder.export.votes import aggregate_votes

LABELS = "ABCDEF"


def simulated_picks(accuracy: dict[str, float | None], sets: int, per_set: int, seed: int = 0):
    """Each set has a true (best, worst); ``per_set`` annotators drawn per set answer each question right
    with their accuracy, otherwise another label at random (None: a random clicker)."""
    rng = random.Random(seed)
    truth, rows = {}, []
    for i in range(sets):
        cs = f"cs{i:05d}"
        truth[cs] = tuple(rng.sample(LABELS, 2))
        for name in rng.sample(sorted(accuracy), per_set):
            p = accuracy[name]

            def answer(right: str, p: float | None = p) -> str:
                if p is not None and rng.random() < p:
                    return right
                return rng.choice([x for x in LABELS if x != right]) if p is not None else rng.choice(LABELS)

            best = answer(truth[cs][0])
            worst = answer(truth[cs][1])
            while worst == best:  # the page refuses best == worst
                worst = rng.choice([x for x in LABELS if x != best])
            rows.append((cs, name, best, worst))
    frame = pl.DataFrame(rows, schema=["candidate_set_id", "annotator", "best", "worst"], orient="row")
    return frame, truth


def test_posterior_matches_the_product_of_annotator_likelihoods():
    """E-step against a brute-force product over annotators, for one set and two annotators."""
    acc = np.array([0.9, 0.5])
    picks = [(0, 0, 1), (1, 2, 1)]  # (annotator, best label, worst label)
    obs = tuple(
        np.array(x) for x in ([0, 0], [a for a, _, _ in picks], [b for _, b, _ in picks], [w for _, _, w in picks])
    )
    joint = set_posterior(np.ones((1, 6), dtype=bool), obs, acc)[0]
    expected = np.zeros((6, 6))
    for b, w in itertools.permutations(range(6), 2):
        like = 1.0
        for a, xb, xw in picks:
            p = acc[a]
            like *= (p if xb == b else (1 - p) / 5) * (p if xw == w else (1 - p) / 5)
        expected[b, w] = like
    expected /= expected.sum()
    assert np.allclose(joint, expected) and np.all(np.diag(joint) == 0)


def test_pair_win_probability_by_hand():
    joint = np.zeros((3, 3))
    joint[0, 2], joint[1, 2], joint[0, 1] = 0.5, 0.3, 0.2  # (best, worst)
    # chosen 0 over rejected 2: 0 best (0.7) or 2 worst (0.8), together 0.5 + 0.3 + 0.2 = 1.0
    assert pair_win_probability(joint, 0, 2) == pytest.approx(1.0)
    # chosen 1 over rejected 2: 1 best (0.3) or 2 worst (0.8) -> 0.8; 2 never best, 1 worst 0.2 -> loses 0.2
    assert pair_win_probability(joint, 1, 2) == pytest.approx(0.8)
    # chosen 1 over rejected 0: wins when 1 best (0.3); loses when 0 best (0.7): nothing undecided
    assert pair_win_probability(joint, 1, 0) == pytest.approx(0.3)


def test_reliable_annotators_rank_first_and_random_clickers_are_flagged():
    accuracy = {"good1": 0.9, "good2": 0.9, "good3": 0.9, "rand1": None, "rand2": None}
    picks, truth = simulated_picks(accuracy, sets=300, per_set=3, seed=1)
    fit = fit_reliability(picks, resamples=100, seed=0)
    table = fit.annotators
    assert set(table["annotator"].to_list()[:3]) == {"good1", "good2", "good3"}
    assert set(table["annotator"].to_list()[3:]) == {"rand1", "rand2"}
    flagged = dict(zip(table["annotator"], table["likely_random"], strict=True))
    assert flagged == {"good1": False, "good2": False, "good3": False, "rand1": True, "rand2": True}
    for row in table.iter_rows(named=True):
        assert row["lo"] <= row["accuracy"] <= row["hi"]
        if row["annotator"].startswith("good"):  # true accuracy 0.9
            assert row["lo"] > 0.7
        else:  # a random clicker is right on a question 1/6 of the time
            assert row["hi"] < 0.35
    assert fit.converged

    # against the known truth: the posterior's verdict beats majority vote (ties count as misses)
    post = fit.posterior.select("candidate_set_id", "best", "worst").iter_rows()
    model_right = sum(truth[cs] == (b, w) for cs, b, w in post)
    verdicts = aggregate_votes(picks, 1).verdicts.filter(pl.col("reason") == "ok")
    majority_right = sum(
        truth[cs] == (b, w) for cs, b, w in verdicts.select("candidate_set_id", "best", "worst").iter_rows()
    )
    assert model_right > majority_right + 30  # about 0.84 against 0.55 of 300 sets


def test_sets_seen_once_do_not_inform_accuracy():
    picks, _ = simulated_picks({"solo": 0.9, "other": None}, sets=20, per_set=1, seed=2)
    fit = fit_reliability(picks, resamples=20)
    assert fit.annotators["shared_sets"].to_list() == [0, 0]
    assert fit.annotators["accuracy"].to_list() == [pytest.approx(2 / 3, abs=1e-4)] * 2  # the prior mean
    # a lone pick is still the most probable verdict of its set
    merged = fit.posterior.join(picks, on="candidate_set_id", suffix="_pick")
    assert (merged["best"] == merged["best_pick"]).all() and (merged["worst"] == merged["worst_pick"]).all()


def test_labels_a_set_lacks_get_no_probability():
    picks = pl.DataFrame(
        {"candidate_set_id": ["s", "s"], "annotator": ["a", "b"], "best": ["A", "B"], "worst": ["C", "C"]}
    )
    candidates = pl.DataFrame({"candidate_set_id": ["s"] * 3, "label": ["A", "B", "C"]})
    fit = fit_reliability(picks, candidates, resamples=0)
    assert fit.labels == ("A", "B", "C")
    assert fit.joint[0].sum() == pytest.approx(1.0) and fit.posterior["worst"].to_list() == ["C"]

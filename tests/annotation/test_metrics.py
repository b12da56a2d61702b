"""Metric functions against hand-computed numbers."""

from __future__ import annotations

import krippendorff
import numpy as np
import pytest

from annotation.metrics import (
    agreement_units,
    ambiguous_records,
    best_worst_scaling,
    krippendorff_alpha_nominal,
)
from schemas import Annotation, Candidate, CandidateSet, Message


def test_alpha_hand_computed() -> None:
    # o_AA = 2, o_BB = 2, o_AB = o_BA = 1; n_A = n_B = 3, n = 6
    # alpha = 1 - (n-1) * 2 / (2 * 3 * 3) = 1 - 10/18 = 4/9
    units = {"u1": {"a": "A", "b": "A"}, "u2": {"a": "B", "b": "B"}, "u3": {"a": "A", "b": "B"}}
    assert krippendorff_alpha_nominal(units) == pytest.approx(4 / 9)


def test_alpha_three_coders_and_unpairable_unit() -> None:
    # u1: A,A,B -> o_AA = 2/2 = 1, o_AB = o_BA = 2/2 = 1 ; u2: C,C -> o_CC = 2 ; u3 has one value: ignored
    # n_A = 2, n_B = 1, n_C = 2, n = 5; disagreement sum = 2
    # expected sum = 2*(2*1 + 2*2 + 1*2) = 16 ; alpha = 1 - 4 * 2 / 16 = 0.5
    units = {"u1": {"a": "A", "b": "A", "c": "B"}, "u2": {"a": "C", "c": "C"}, "u3": {"b": "D"}}
    assert krippendorff_alpha_nominal(units) == pytest.approx(0.5)
    # the reference implementation agrees
    coders, items = ["a", "b", "c"], ["u1", "u2", "u3"]
    codes = {"A": 1, "B": 2, "C": 3, "D": 4}
    matrix = np.array([[codes[units[u][c]] if c in units[u] else np.nan for u in items] for c in coders])
    assert krippendorff.alpha(reliability_data=matrix, level_of_measurement="nominal") == pytest.approx(0.5)


def test_alpha_perfect_and_undefined() -> None:
    assert krippendorff_alpha_nominal({"u1": {"a": "A", "b": "A"}, "u2": {"a": "B", "b": "B"}}) == 1.0
    assert krippendorff_alpha_nominal({"u1": {"a": "A", "b": "A"}}) is None  # no expected disagreement
    assert krippendorff_alpha_nominal({"u1": {"a": "A"}}) is None  # nothing pairable
    assert krippendorff_alpha_nominal({}) is None


def _cset(models: list[str]) -> CandidateSet:
    labels = "ABCDEF"
    return CandidateSet(
        dialogue_id="dlg_1",
        context=[Message(role="user", speaker="U", text=f"hi {'-'.join(models)}")],
        candidates=[Candidate(label=labels[i], model_id=m, text=f"reply {i}") for i, m in enumerate(models)],
    )


def _ann(cset: CandidateSet, who: str, best: str, worst: str) -> Annotation:
    return Annotation(candidate_set_id=cset.id, annotator=who, best=best, worst=worst)


def test_best_worst_scaling_hand_computed() -> None:
    s1 = _cset(["m1", "m2", "m3"])
    s2 = _cset(["m1", "m2"])
    anns = [
        _ann(s1, "a", "A", "C"),  # m1 best, m3 worst
        _ann(s1, "b", "A", "B"),  # m1 best, m2 worst
        _ann(s2, "a", "B", "A"),  # m2 best, m1 worst
    ]
    scores = {s.model_id: s for s in best_worst_scaling(anns, {s1.id: s1, s2.id: s2})}
    # appearances: m1 3, m2 3, m3 2
    assert (scores["m1"].best, scores["m1"].worst, scores["m1"].appearances) == (2, 1, 3)
    assert scores["m1"].score == pytest.approx(1 / 3)
    assert scores["m2"].score == pytest.approx(0.0)  # 1 best, 1 worst
    assert scores["m3"].score == pytest.approx(-0.5)  # 0 best, 1 worst, 2 appearances
    assert [s.model_id for s in best_worst_scaling(anns, {s1.id: s1, s2.id: s2})] == ["m1", "m2", "m3"]


def test_agreement_units_and_ambiguous() -> None:
    s1, s2, s3 = _cset(["m1", "m2", "m3"]), _cset(["m4", "m5", "m6"]), _cset(["m7", "m8"])
    anns = [
        _ann(s1, "a", "A", "C"),
        _ann(s1, "b", "B", "C"),  # best tie A/B
        _ann(s2, "a", "A", "B"),
        _ann(s2, "b", "B", "C"),  # best tie, worst tie, B both best and worst
        _ann(s3, "a", "A", "B"),
        _ann(s3, "b", "A", "B"),  # clear
        Annotation(candidate_set_id=s3.id, annotator="c", status="draft"),
    ]
    units = agreement_units(anns, "best")
    assert units[s1.id] == {"a": "A", "b": "B"} and units[s3.id] == {"a": "A", "b": "A"}
    found = {a.candidate_set_id: a for a in ambiguous_records(anns)}
    assert set(found) == {s1.id, s2.id}
    assert found[s1.id].reasons == ("best tie: A, B",)
    assert found[s2.id].reasons == ("best tie: A, B", "worst tie: B, C", "chosen both best and worst: B")

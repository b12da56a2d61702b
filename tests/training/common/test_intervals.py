"""Bootstrap intervals of the evaluation tables (training/common/stats.py): checked against a direct numpy
computation, the normal approximation, the published RewardBench/JudgeBench averaging, and paired
p-values of identical and clearly different runs."""

from __future__ import annotations

import zlib

import numpy as np
import pytest

from training.common.stats import (
    Item,
    cell_intervals,
    combine,
    group_items,
    paired_deltas,
    resample_index,
    resampled_means,
    two_sided_p,
)
from training.rm import judgebench, rewardbench
from training.rm.benchmarks import BenchOutcome


def bernoulli_items(stratum: str, hits: list[int]) -> list[Item]:
    return [Item(stratum, f"{stratum}-{i}", 100.0 * h) for i, h in enumerate(hits)]


def test_interval_matches_a_direct_numpy_computation_and_the_normal_approximation() -> None:
    rng = np.random.default_rng(11)
    hits = (rng.random(400) < 0.7).astype(int).tolist()
    items = bernoulli_items("s", hits)
    iv = cell_intervals(items, {"cell": {"s": 1.0}}, resamples=4000, seed=5)["cell"]
    # the same resamples written out: generator seeded by (seed, crc32 of the stratum), (B, n) indices
    values = 100.0 * np.asarray(hits, dtype=float)
    direct = np.random.default_rng([5, zlib.crc32(b"s")]).integers(0, 400, size=(4000, 400))
    lo, hi = np.quantile(values[direct].mean(axis=1), [0.025, 0.975])
    assert (iv.lo, iv.hi) == (pytest.approx(lo), pytest.approx(hi))
    assert iv.value == pytest.approx(values.mean())
    # normal approximation of a proportion: half-width 1.96 * sqrt(p (1 - p) / n)
    p = values.mean() / 100
    assert iv.half_width == pytest.approx(100 * 1.96 * np.sqrt(p * (1 - p) / 400), rel=0.1)


def test_a_seed_reproduces_the_intervals_and_another_seed_moves_them() -> None:
    items = bernoulli_items("a", [1, 0, 1, 1, 0, 1, 0, 1, 1, 1]) + bernoulli_items("b", [0, 0, 1, 0, 1])
    weights = {"a": {"a": 1.0}, "mean": {"a": 0.5, "b": 0.5}}
    first = cell_intervals(items, weights, resamples=200, seed=1)
    assert cell_intervals(items, weights, resamples=200, seed=1) == first
    assert cell_intervals(items, weights, resamples=200, seed=2) != first
    # a stratum's resamples depend on the seed, its name and size only: adding a stratum changes nothing
    more = cell_intervals(items + bernoulli_items("c", [1, 1]), weights, resamples=200, seed=1)
    assert more == first


def test_stratified_resampling_keeps_subset_sizes() -> None:
    for n in (1, 7, 447):
        idx = resample_index(n, 50, seed=0, stratum="math-prm")
        assert idx.shape == (50, n) and idx.min() >= 0 and idx.max() < n
    # means drawn block by block equal those of the whole (resamples, n) index matrix
    values = np.random.default_rng(2).random(5000)
    whole = values[resample_index(5000, 700, seed=9, stratum="big")].mean(axis=1)
    assert np.array_equal(resampled_means({"big": values}, 700, seed=9)["big"], whole)
    strata = group_items(bernoulli_items("x", [1] * 3) + bernoulli_items("y", [0, 1]))
    assert {s: len(v) for s, v in strata.items()} == {"x": 3, "y": 2}
    means = resampled_means(strata, 100, seed=0)
    assert set(np.unique(means["x"])) == {100.0}  # a resample of x has its 3 items, all right
    assert set(np.unique(means["y"])) <= {0.0, 50.0, 100.0}  # 2 items per resample of y


def rb_outcomes() -> list[BenchOutcome]:
    rng = np.random.default_rng(0)
    subsets = {"alpacaeval-easy": 20, "mt-bench-med": 8, "llmbar-natural": 12, "donotanswer": 9, "math-prm": 15}
    subsets |= {"hep-python": 6, "xstest-should-refuse": 10}
    return [
        BenchOutcome(f"{s}-{i}", s, "A", float(rng.random() < 0.6), 0.5) for s, n in subsets.items() for i in range(n)
    ]


def test_rewardbench_resamples_are_weighted_as_published() -> None:
    """Each resample's sections equal RewardBench's own section_scores on that resample's subset accuracies."""
    from training.rm.benchmarks import items, summarize

    outcomes = rb_outcomes()
    summary = summarize(rewardbench.BENCHMARK, outcomes, resamples=300, seed=4)
    weights = rewardbench.weights(summary)
    strata = group_items(items(rewardbench.BENCHMARK, outcomes))
    boot = resampled_means(strata, 300, seed=4)
    for k in (0, 17, 299):
        sections = rewardbench.section_scores({s: float(m[k]) for s, m in boot.items()})
        for section, title in rewardbench.SECTION_TITLES.items():
            assert combine(boot, weights[title])[k] == pytest.approx(sections[section])
        assert combine(boot, weights["Avg."])[k] == pytest.approx(sum(sections.values()) / 4)
    for title in (*rewardbench.SECTION_TITLES.values(), "Avg."):
        iv = summary["intervals"][f"RewardBench {title}"]
        assert iv["value"] == pytest.approx(summary["columns"][title])
        assert (iv["lo"], iv["hi"]) == pytest.approx(tuple(np.quantile(combine(boot, weights[title]), [0.025, 0.975])))
    assert summary["bootstrap"]["strata"]["math-prm"] == 15


def test_judgebench_both_averages_come_from_the_same_resamples() -> None:
    from training.rm.benchmarks import items, summarize

    sources = ["mmlu-pro-law"] * 12 + ["livebench-reasoning"] * 6 + ["livebench-math"] * 4 + ["livecodebench"] * 3
    sources += ["arena-hard"] * 2
    rng = np.random.default_rng(3)
    outcomes = [BenchOutcome(str(i), s, "A", float(rng.random() < 0.5), 0.5) for i, s in enumerate(sources)]
    summary = summarize(judgebench.BENCHMARK, outcomes, resamples=500, seed=0)
    weights = judgebench.weights(summary)
    strata = group_items(items(judgebench.BENCHMARK, outcomes))
    idx = {s: resample_index(len(v), 500, 0, s) for s, v in strata.items()}
    # pair-weighted: the accuracy over all resampled pairs; category mean: the mean of the four categories
    pairs = np.concatenate([strata[s][idx[s]] for s in strata], axis=1).mean(axis=1)
    cats = np.mean([strata[c][idx[c]].mean(axis=1) for c in judgebench.CATEGORIES.values()], axis=0)
    boot = resampled_means(strata, 500, 0)
    assert combine(boot, weights["Avg. (pairs)"]) == pytest.approx(pairs)
    assert combine(boot, weights["Avg. (categories)"]) == pytest.approx(cats)
    for col, samples in (("Avg. (pairs)", pairs), ("Avg. (categories)", cats)):
        iv = summary["intervals"][f"JudgeBench {col}"]
        assert (iv["lo"], iv["hi"]) == pytest.approx(tuple(np.quantile(samples, [0.025, 0.975])))
        assert iv["value"] == pytest.approx(summary["columns"][col])


def test_paired_p_value_of_identical_and_of_clearly_different_runs() -> None:
    rng = np.random.default_rng(8)
    a = bernoulli_items("s", (rng.random(200) < 0.6).astype(int).tolist())
    weights = {"acc": {"s": 1.0}}
    same = paired_deltas(a, list(a), weights, resamples=1000, seed=0)["acc"]
    assert same.p == 1.0 and same.delta == 0.0 and same.lo <= 0.0 <= same.hi and same.n == 200
    # B gets 30 of A's wrong pairs right and nothing else changes: a clear, paired improvement
    flips = [i for i, it in enumerate(a) if it.value == 0][:30]
    b = [Item(it.stratum, it.id, 100.0 if i in flips else it.value) for i, it in enumerate(a)]
    better = paired_deltas(a, b, weights, resamples=1000, seed=0)["acc"]
    assert better.delta == pytest.approx(15.0) and better.p < 0.05 and better.lo > 0
    # pairing: shuffled ids no longer match A's, so only shared ids count
    c = [Item(it.stratum, f"other-{i}", it.value) for i, it in enumerate(a[:50])] + b[50:]
    assert paired_deltas(a, c, weights, resamples=100, seed=0)["acc"].n == 150
    assert two_sided_p(np.zeros(10)) == 1.0 and two_sided_p(np.ones(999)) == pytest.approx(2 / 1000)

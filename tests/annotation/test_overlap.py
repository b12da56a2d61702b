"""Overlap campaigns (most records by one annotator, a share by several) and the simulated annotators' picks:
pure parts, no server (the server side is in test_queue_distribution.py)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from annotation.datasets import in_overlap
from benchmarks.annotators import AnnotatorStats, percentile_ms, pick
from charm_builder.store.workspace import Workspace


def test_overlap_share_is_stable_and_close_to_the_fraction() -> None:
    ids = [f"cset_{i:016x}" for i in range(20_000)]
    chosen = [i for i in ids if in_overlap(i, 0.1)]
    assert 0.09 < len(chosen) / len(ids) < 0.11
    assert chosen == [i for i in ids if in_overlap(i, 0.1)]  # a rerun (a resumed push) chooses the same
    assert set(chosen) <= {i for i in ids if in_overlap(i, 0.2)}  # a larger share keeps the smaller one
    assert all(in_overlap(i, 1.0) for i in ids[:100]) and not any(in_overlap(i, 0.0) for i in ids[:100])


def test_simulated_picks_are_deterministic_distinct_and_agree_partly() -> None:
    records = [f"cset_{i}" for i in range(400)]
    users = ["ann-a", "ann-b"]
    picks = {u: [pick(r, u, seed=0) for r in records] for u in users}
    assert picks["ann-a"] == [pick(r, "ann-a", seed=0) for r in records]
    assert all(best != worst for p in picks.values() for best, worst in p)
    same_best = sum(a[0] == b[0] for a, b in zip(picks["ann-a"], picks["ann-b"], strict=True)) / len(records)
    assert 0.3 < same_best < 0.9  # annotators agree often, not always (the QA report needs both)
    assert [pick(r, "ann-a", seed=1) for r in records] != picks["ann-a"]


def test_stats_percentiles_and_per_record_counts() -> None:
    stats = AnnotatorStats(submit_s=[i / 1000 for i in range(1, 101)], acked={"a": ["r1", "r2"], "b": ["r1"]})
    assert round(stats.p95_ms("submit")) == 95
    assert percentile_ms([], 95) != percentile_ms([], 95)  # NaN when nothing was measured
    assert stats.per_record() == {"r1": 2, "r2": 1} and stats.submitted == 3
    other = AnnotatorStats(acked={"b": ["r2"]}, errors=["b: boom"], retries=1)
    stats.merge(other)
    assert stats.per_record() == {"r1": 2, "r2": 2} and stats.errors == ["b: boom"] and stats.retries == 1


def test_overlap_option_errors_are_one_line_exit_2(tmp_path: Path) -> None:
    Workspace.create(tmp_path / "ws").close()
    cli = [str(Path(sys.executable).parent / "charm-build"), "annotate", "push", "--workspace", str(tmp_path / "ws")]
    wrong_kind = subprocess.run(
        [*cli, "--kind", "dialogue-quality", "--overlap", "0.5"], capture_output=True, text=True
    )
    assert wrong_kind.returncode == 2
    assert "--overlap works with --kind preference only" in wrong_kind.stderr + wrong_kind.stdout
    out_of_range = subprocess.run([*cli, "--overlap", "1.5"], capture_output=True, text=True)
    assert out_of_range.returncode == 2 and "overlap" in out_of_range.stderr

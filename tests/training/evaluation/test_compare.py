"""`charm-train compare`: two eval tables side by side with deltas."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from training.evaluation.compare import CompareError, compare, read_results

runner = CliRunner()


def write_results(folder: Path, method: str, values: dict[str, str]) -> Path:
    folder.mkdir(parents=True)
    with (folder / "results.csv").open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["Method", *values])
        w.writerow([method, *values.values()])
    return folder


def test_compare_deltas_and_missing_cells(tmp_path: Path) -> None:
    a = write_results(tmp_path / "a", "base", {"Knowledge zh": "3.50", "Knowledge en": "-", "Avg. zh": "3.00"})
    b = write_results(
        tmp_path / "b",
        "grpo",
        {"Knowledge zh": "3.75", "Knowledge en": "4.00", "Avg. zh": "2.50", "Fluency zh": "4.00"},
    )
    rows = compare(read_results(a), read_results(b / "results.csv"))
    got = {r.column: (r.a, r.b, r.delta) for r in rows}
    assert got["Knowledge zh"] == (3.5, 3.75, pytest.approx(0.25))
    assert got["Knowledge en"] == (None, 4.0, None)
    assert got["Avg. zh"][2] == pytest.approx(-0.5)
    assert [r.column for r in rows] == ["Knowledge zh", "Knowledge en", "Avg. zh", "Fluency zh"]

    res = runner.invoke(app, ["compare", str(a), str(b)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "Knowledge zh" in ln)
    assert "3.50" in line and "3.75" in line and "+0.25" in line
    assert "-0.50" in next(ln for ln in res.output.splitlines() if "Avg. zh" in ln)


def test_compare_errors(tmp_path: Path) -> None:
    rm = write_results(tmp_path / "rm", "bt", {"Charm-Consistency zh": "66.0"})
    dq = write_results(tmp_path / "dq", "x", {"Knowledge zh": "3.0"})
    with pytest.raises(CompareError, match="share no columns"):
        compare(read_results(rm), read_results(dq))
    res = runner.invoke(app, ["compare", str(tmp_path / "nope"), str(dq)])
    assert res.exit_code == 2 and "nope: not found" in res.output
    (tmp_path / "junk.csv").write_text("a,b\n1,2\n")
    res = runner.invoke(app, ["compare", str(tmp_path / "junk.csv"), str(dq)])
    assert res.exit_code == 2 and "not an evaluation table" in res.output


def _rm_run(folder: Path, method: str, correct: list[float]) -> Path:
    """An eval-rm run folder written by eval-rm's own report writer (100 pairs per dimension x language)."""
    from training.rm.evaluate import PairResult, summarize, write_report

    cells = [(d, lang) for d in ("knowledge_consistency", "attractiveness") for lang in ("zh", "en")]
    results = [PairResult(f"p{i}", *cells[i % 4], c) for i, c in enumerate(correct)]
    return write_report(folder, summarize(results, resamples=500, seed=0), results, method)


def test_compare_paired_bootstrap_of_identical_and_of_clearly_different_runs(tmp_path: Path) -> None:
    import numpy as np

    base = (np.random.default_rng(1).random(400) < 0.6).astype(float).tolist()
    better = [1.0 if i % 3 == 0 else c for i, c in enumerate(base)]  # a third of the pairs now right
    a = _rm_run(tmp_path / "a", "bt", base)
    same = _rm_run(tmp_path / "same", "bt-again", base)
    b = _rm_run(tmp_path / "b", "aam", better)

    rows = {r.column: r for r in compare(read_results(a), read_results(same), resamples=1000, seed=0)}
    avg = rows["Avg."]
    assert avg.paired is not None and avg.paired.p == 1.0 and avg.paired.lo == 0.0 == avg.paired.hi
    assert avg.a_bounds is not None and avg.a_bounds[0] <= avg.a <= avg.a_bounds[1]  # A's bounds from its CSV

    rows = {r.column: r for r in compare(read_results(a), read_results(b), resamples=1000, seed=0)}
    avg = rows["Avg."]
    assert avg.paired is not None and avg.paired.p < 0.05 and avg.paired.lo > 0 and avg.paired.n == 400
    assert avg.paired.delta == pytest.approx(avg.delta, abs=0.06)  # the CSV rounds to 0.1
    assert rows["Charm-Consistency zh"].paired.n == 100

    res = runner.invoke(app, ["compare", str(a), str(b)], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    line = next(ln for ln in res.output.splitlines() if "Avg." in ln and "Charm" not in ln)
    # A and B with their intervals; no resample of 1000 reaches 0: p = 2 / 1001, the smallest possible
    assert line.count(" ± ") == 2 and line.split("│")[-2].strip() == "0.002"
    assert "paired bootstrap over the items both runs scored" in res.output
    res = runner.invoke(app, ["compare", str(a), str(b), "--bootstrap", "-1"])
    assert res.exit_code == 2 and "--bootstrap must be >= 0" in res.output

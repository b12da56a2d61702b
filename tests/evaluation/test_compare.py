"""`charm-train compare`: two eval tables side by side with deltas."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from typer.testing import CliRunner

from training.cli import app
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

"""`charm-train rm --loss margin`: pairs without their margin are found before training (exit 2, one
line with the count, first ids and the fill command, no --out folder) or dropped with --missing-margin
drop (tiny random Llama; fast)."""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from datasets import Dataset, DatasetDict
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import preference_rows

runner = CliRunner()


def _export(tmp_path: Path, missing: dict[str, list[int]]) -> tuple[Path, list[dict]]:
    """A preferenceTraining export (train + grpo) with ids; ``missing`` column -> rows set to None."""
    rows = [{"id": f"pair-{i}", **r} for i, r in enumerate(preference_rows(8))]
    for column, positions in missing.items():
        for i in positions:
            rows[i][column] = None
    path = tmp_path / "preferenceTraining"
    grpo = Dataset.from_list([{"prompt": rows[0]["prompt"]}])
    DatasetDict({"train": Dataset.from_list(rows), "grpo": grpo}).save_to_disk(str(path))
    return path, rows


def _rm(data: Path, out: Path, model: Path, *args: str):
    return runner.invoke(
        app, ["rm", "-d", str(data), "-o", str(out), "--model", str(model), "--max-steps", "1", "-q", *args]
    )


def _one_error_line(res) -> str:
    assert res.exit_code == 2, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def test_gpt_margin_preset_with_one_missing_score_stops_before_training(tiny_llama: Path, tmp_path: Path) -> None:
    data, _ = _export(tmp_path, {"margin_judge": [5]})
    out = tmp_path / "runs" / "gm"
    line = _one_error_line(_rm(data, out, tiny_llama, "--preset", "paper-gpt-margin"))
    assert "1 of 8 pairs have no margin_judge (first: pair-5)" in line
    assert f"charm-build judge --file {data} --out {data}-judged --judge MODEL" in line
    assert "--missing-margin drop" in line
    assert not out.exists() and not out.parent.exists()


def test_missing_margin_drop_trains_on_the_rest_and_says_how_many(tiny_llama: Path, tmp_path: Path) -> None:
    data, rows = _export(tmp_path, {"margin_judge": [1, 5]})
    out = tmp_path / "gm"
    res = _rm(
        data,
        out,
        tiny_llama,
        "--preset",
        "paper-gpt-margin",
        "--missing-margin",
        "drop",
        "--batch-size",
        "6",
        "--max-length",
        "64",
        "--logging-steps",
        "1",
        "--margin-scale",
        "0.5",
    )
    assert res.exit_code == 0, res.output
    assert "dropped 2 pairs without margin_judge; training on 6" in res.stderr
    meta = json.loads((out / "charm_rm.json").read_text())
    assert meta["dropped_pairs"] == 2 and meta["train_config"]["missing_margin"] == "drop"
    # the one logged step saw the six kept pairs only, each margin scaled by 0.5
    kept = [r["margin_judge"] for r in rows if r["margin_judge"] is not None]
    log = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert len(kept) == 6
    assert log[0]["margin_mean"] == pytest.approx(0.5 * sum(kept) / 6, abs=1e-6)


def test_any_margin_column_is_checked_nan_and_absent_included(tiny_llama: Path, tmp_path: Path) -> None:
    rows = preference_rows(4)  # no id column: rows are named by position
    rows[2]["margin_agreement"] = float("nan")
    path = tmp_path / "pairs.parquet"
    pq.write_table(pa.Table.from_pylist(rows), path)
    out = tmp_path / "never"
    line = _one_error_line(_rm(path, out, tiny_llama, "--loss", "margin", "--margin-source", "agreement"))
    assert "1 of 4 pairs have no margin_agreement (first: row 2)" in line and "annotate those pairs" in line
    line = _one_error_line(_rm(path, out, tiny_llama, "--loss", "margin", "--margin-column", "gpt_gap"))
    assert "4 of 4 pairs have no gpt_gap (no such column" in line and "fill column 'gpt_gap'" in line
    line = _one_error_line(
        _rm(path, out, tiny_llama, "--loss", "margin", "--margin-column", "gpt_gap", "--missing-margin", "drop")
    )
    assert "none of the 4 pairs has a gpt_gap" in line
    line = _one_error_line(_rm(path, out, tiny_llama, "--loss", "margin", "--missing-margin", "keep"))
    assert "--missing-margin" in line
    assert not out.exists()


def test_pair_weight_confidence_needs_label_confidence(tiny_llama: Path, tmp_path: Path) -> None:
    data, _ = _export(tmp_path, {})  # a majority-vote export: no label_confidence
    out = tmp_path / "w"
    line = _one_error_line(_rm(data, out, tiny_llama, "--pair-weight", "confidence"))
    assert "8 of 8 pairs have no label_confidence" in line and "--aggregate dawid-skene" in line
    line = _one_error_line(_rm(data, out, tiny_llama, "--loss", "margin", "--margin-source", "posterior"))
    assert "pairs have no label_confidence" in line
    assert not out.exists()


def test_pair_weight_confidence_weights_each_pair_loss(tiny_llama: Path, tmp_path: Path) -> None:
    """A pair of weight 0 leaves the loss untouched: training on [w=1, w=0] equals training on the first
    pair alone (same seed, one step, both pairs in one batch)."""
    rows = [{"id": f"pair-{i}", **r} for i, r in enumerate(preference_rows(2))]
    rows[0]["label_confidence"], rows[1]["label_confidence"] = 1.0, 0.0
    both = tmp_path / "both.parquet"
    pq.write_table(pa.Table.from_pylist(rows), both)
    alone = tmp_path / "alone.parquet"
    pq.write_table(pa.Table.from_pylist(rows[:1]), alone)
    logs = {}
    for name, path, extra in (("both", both, ["--pair-weight", "confidence"]), ("alone", alone, [])):
        res = _rm(path, tmp_path / name, tiny_llama, "--batch-size", "2", "--logging-steps", "1", *extra)
        assert res.exit_code == 0, res.output
        logs[name] = json.loads((tmp_path / name / "train_log.jsonl").read_text().splitlines()[0])
    assert logs["both"]["bt_loss"] == pytest.approx(logs["alone"]["bt_loss"], rel=1e-5)
    meta = json.loads((tmp_path / "both" / "charm_rm.json").read_text())
    assert meta["train_config"]["pair_weight"] == "confidence"

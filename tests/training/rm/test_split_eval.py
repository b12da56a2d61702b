"""`charm-train eval-rm` on a multi-split roleReward export: one row per split plus the OOD drop."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import role_reward_rows, train_rm
from training.rm.evaluate import PairResult, summarize
from training.rm.split_eval import list_splits, split_rows

runner = CliRunner()


def results(correct: list[float], dim: str = "knowledge_consistency", lang: str = "en") -> list[PairResult]:
    return [PairResult(f"p{i}", dim, lang, c) for i, c in enumerate(correct)]


def test_split_rows_and_drop_by_hand():
    summaries = {"test_id": summarize(results([1, 1, 1, 0])), "test_ood": summarize(results([1, 0, 0, 0]))}
    header, rows = split_rows(summaries)
    assert header[:2] == ["Split", "n"] and header[-1] == "Avg."
    col = header.index("Charm-Consistency en")
    assert rows[0][0] == "test_id" and rows[0][col] == "75.0" and rows[0][-1] == "75.0"
    assert rows[1][0] == "test_ood" and rows[1][col] == "25.0"
    assert rows[2][0] == "test_ood - test_id" and rows[2][col] == "-50.0" and rows[2][-1] == "-50.0"
    assert rows[2][header.index("Charm-Consistency zh")] == "-"  # no zh rows in either split


def test_list_splits(tmp_path: Path):
    from datasets import Dataset, DatasetDict

    rows = role_reward_rows()
    DatasetDict({"test_ood": Dataset.from_list(rows[:4]), "test_id": Dataset.from_list(rows[4:])}).save_to_disk(
        str(tmp_path / "hf")
    )
    assert list_splits(tmp_path / "hf") == ["test_id", "test_ood"]
    (tmp_path / "pq").mkdir()
    Dataset.from_list(rows).to_parquet(str(tmp_path / "pq" / "test_ood.parquet"))
    Dataset.from_list(rows).to_parquet(str(tmp_path / "pq" / "test_id.parquet"))
    assert list_splits(tmp_path / "pq") == ["test_id", "test_ood"]
    assert list_splits(tmp_path / "pq" / "test_id.parquet") == []


@pytest.mark.slow
def test_eval_rm_iterates_over_splits(pref_export: Path, tiny_llama: Path, tmp_path: Path):
    from datasets import Dataset, DatasetDict

    rm = tmp_path / "rm"
    train_rm(pref_export, rm, tiny_llama, "--max-steps", "1", "--max-length", "96")
    rows = role_reward_rows()
    data = tmp_path / "roleReward"
    DatasetDict({"test_id": Dataset.from_list(rows[:5]), "test_ood": Dataset.from_list(rows[5:])}).save_to_disk(
        str(data)
    )
    out = tmp_path / "eval"
    res = runner.invoke(app, ["eval-rm", str(rm), "--data", str(data), "--out", str(out), "--name", "BT", "-q"])
    assert res.exit_code == 0, res.output
    assert "and splits.md" in res.output  # the rich table itself wraps at the runner's 80 columns
    md = (out / "splits.md").read_text()
    assert "| test_id | 5 |" in md and "| test_ood | 3 |" in md and "| test_ood - test_id |" in md
    assert (out / "results.md").exists()  # the pooled table is still written

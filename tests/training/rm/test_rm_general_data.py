"""`charm-train rm --data` on general preference data in its published shapes (Skywork-Reward-Preference-80K,
UltraFeedback-binarized) and mixed with our own export (tiny random Llama; fast)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.rm.helpers import train_rm
from tests.training.rm.preference_shapes import skywork_rows, ultrafeedback_rows, write_jsonl, write_parquet
from training.rm.model import load_reward_model

FAST = ("--max-steps", "2", "--batch-size", "2", "--max-length", "96", "--lr", "1e-3", "--logging-steps", "1")


def test_trains_on_a_skywork_shaped_parquet(tmp_path: Path, tiny_llama: Path) -> None:
    sky = write_parquet(skywork_rows(), tmp_path / "skywork.parquet")
    out = tmp_path / "rm"
    meta = train_rm(sky, out, tiny_llama, "--loss", "aam-ld", "--sft-reg", "0.01", *FAST)
    assert meta["steps"] == 2
    (source,) = meta["data"]["sources"]
    assert source == {
        "path": str(sky),
        "split": "train",
        "rows": 4,
        "formats": {"conversational-implicit": 4},
        "weight": 1.0,
        "pairs": 4,
    }
    assert meta["train_config"]["data"] == [str(sky)] and meta["train_config"]["mix"] is None
    rm = load_reward_model(out)  # the saved model scores a Skywork prompt
    (score,) = rm.score([([{"role": "user", "content": "What is 2 + 2?"}], "4")])
    assert isinstance(score, float)


def test_trains_on_an_ultrafeedback_shaped_jsonl(tmp_path: Path, tiny_llama: Path) -> None:
    uf = write_jsonl(ultrafeedback_rows(), tmp_path / "ultrafeedback.jsonl")
    meta = train_rm(uf, tmp_path / "rm", tiny_llama, *FAST)
    (source,) = meta["data"]["sources"]
    assert (source["rows"], source["pairs"], source["formats"]) == (3, 3, {"conversational-implicit": 3})


def test_mixes_our_export_with_skywork_and_records_it(pref_export: Path, tmp_path: Path, tiny_llama: Path) -> None:
    sky = write_parquet(skywork_rows(), tmp_path / "skywork.parquet")
    out = tmp_path / "rm"
    meta = train_rm(pref_export, out, tiny_llama, "--data", str(sky), "--mix", "3,1", "--seed", "7", *FAST)
    data = meta["data"]
    assert data["mix"] == "weighted" and data["pairs"] == 12  # 8 + 4 pairs, split 3:1
    ours, theirs = data["sources"]
    assert (ours["path"], ours["split"], ours["rows"], ours["weight"], ours["pairs"]) == (
        str(pref_export),
        "train",
        8,
        0.75,
        9,
    )
    assert ours["formats"] == {"conversational": 8}
    assert (theirs["rows"], theirs["weight"], theirs["pairs"]) == (4, 0.25, 3)
    assert meta["train_config"]["mix"] == [3.0, 1.0]
    card = (out / "README.md").read_text()
    assert "Training data: 12 pairs from 2 source(s), sampled by --mix weights." in card
    assert f"| {sky} | train | 4 | conversational-implicit 4 | 0.25 | 3 |" in card


def test_margin_loss_needs_the_margin_column_in_every_source(
    pref_export: Path, tmp_path: Path, tiny_llama: Path
) -> None:
    sky = write_parquet(skywork_rows(), tmp_path / "skywork.parquet")
    out = tmp_path / "never"
    args = ["rm", "-d", str(pref_export), "-d", str(sky), "-o", str(out), "--model", str(tiny_llama), "-q"]
    res = CliRunner().invoke(app, [*args, "--loss", "margin", "--margin-column", "margin_agreement"])
    assert res.exit_code == 2
    line = res.stderr.strip()
    assert "\n" not in line
    assert line.startswith(f"error: {sky}: 4 of 4 pairs have no margin_agreement (no such column; found: chosen, ")
    assert line.endswith("or pass --missing-margin drop to train without them")
    assert not out.exists()


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        (["--mix", "1,1,1"], "--mix has 3 weight(s) for 2 --data source(s); give one per --data"),
        (["--mix", "1,-1"], "--mix weights must be positive numbers, got 1,-1"),
        (["--mix", "half,half"], "--mix: expected comma-separated weights such as 0.5,0.5, got 'half,half'"),
    ],
)
def test_bad_mix_is_one_line_exit_2(
    pref_export: Path, tmp_path: Path, tiny_llama: Path, extra: list[str], needle: str
) -> None:
    sky = write_parquet(skywork_rows(), tmp_path / "skywork.parquet")
    out = tmp_path / "never"
    args = ["rm", "-d", str(pref_export), "-d", str(sky), "-o", str(out), "--model", str(tiny_llama), "-q"]
    res = CliRunner().invoke(app, [*args, *extra])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert not out.exists()


def test_malformed_row_is_one_line_exit_2_and_writes_nothing(tmp_path: Path, tiny_llama: Path) -> None:
    rows = ultrafeedback_rows()
    del rows[1]["rejected"][0]["role"]
    uf = write_jsonl(rows, tmp_path / "ultrafeedback.jsonl")
    out = tmp_path / "never"
    res = CliRunner().invoke(app, ["rm", "-d", str(uf), "-o", str(out), "--model", str(tiny_llama), "-q"])
    assert res.exit_code == 2
    assert res.stderr.strip() == f"error: {uf}: row 1: field 'rejected': message 0 has no 'role'"
    assert not out.exists()

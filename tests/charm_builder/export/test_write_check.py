"""Writing exports (hf, parquet, jsonl), atomicity, and `export --check`."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from datasets import DatasetDict, load_from_disk

from charm_builder.export import ExportOptions, check_export, export_workspace
from charm_builder.export import write as write_mod
from charm_kernel.errors import CharmError
from tests.charm_builder.export.helpers import add_fluency_annotation


@pytest.fixture
def exported(workspace, built, tmp_path) -> Path:
    add_fluency_annotation(workspace, built)
    out = tmp_path / "out"
    export_workspace(workspace, out, ExportOptions(size=4000, grpo_fraction=0.5))
    return out


def card_header(path: Path) -> dict:
    text = path.read_text(encoding="utf-8")
    return yaml.safe_load(text[4 : text.index("\n---\n", 4)])


def test_hf_export_loads_and_has_card_and_manifest(exported):
    for subset, splits in {
        "roleReward": ["test"],
        "dialogueQuality": ["test"],
        "preferenceTraining": ["train", "grpo"],
    }.items():
        dd = load_from_disk(str(exported / subset))
        assert isinstance(dd, DatasetDict) and sorted(dd) == sorted(splits)
        manifest = json.loads((exported / subset / "manifest.json").read_text())
        header = card_header(exported / subset / "README.md")
        for split in splits:
            assert sorted(manifest["ids"][split]) == sorted(dd[split]["id"])
            assert header["charm"]["counts"][split]["total"] == dd[split].num_rows
        assert header["license"] == "other" and header["charm"]["simulator_settings_hash"]
        assert "gpt-4o" in header["charm"]["models"]["candidates"]
    rr = card_header(exported / "roleReward" / "README.md")["charm"]
    assert rr["exclusions"]["tie_best"] == 1 and rr["exclusions"]["best_equals_worst"] == 1
    assert rr["agreement"]["mean_agreement"] is not None and "fleiss_kappa_best" in rr["agreement"]
    assert "Shortfall" in (exported / "roleReward" / "README.md").read_text()
    assert check_export(exported).rows["roleReward"] == {"test": 4}
    assert not list(exported.parent.glob(".out.tmp-*"))


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_parquet_and_jsonl_exports_pass_check(workspace, built, tmp_path, fmt):
    out = tmp_path / fmt
    summary = export_workspace(
        workspace, out, ExportOptions(size=4000, fmt=fmt, subset="preferenceTraining", grpo_fraction=0.5)
    )
    assert (out / "preferenceTraining" / f"train.{fmt}").exists()
    result = check_export(out)
    assert result.rows == summary.rows and min(result.rows["preferenceTraining"].values()) > 0


def test_out_dir_not_empty_needs_overwrite(workspace, built, tmp_path):
    out = tmp_path / "busy"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    with pytest.raises(CharmError, match="not empty; pass --overwrite"):
        export_workspace(workspace, out, ExportOptions(size=4000, subset="roleReward"))
    assert (out / "keep.txt").exists()
    export_workspace(workspace, out, ExportOptions(size=4000, subset="roleReward"), overwrite=True)
    assert not (out / "keep.txt").exists() and (out / "roleReward" / "manifest.json").exists()


def test_failure_while_writing_leaves_nothing(workspace, built, tmp_path, monkeypatch):
    calls = []

    def boom(splits, directory, fmt):
        calls.append(directory)
        if len(calls) == 2:
            raise OSError("disk full")
        return real(splits, directory, fmt)

    real = write_mod.write_splits
    monkeypatch.setattr("charm_builder.export.pipeline.write_splits", boom)
    with pytest.raises(OSError, match="disk full"):
        export_workspace(workspace, tmp_path / "out", ExportOptions(size=4000, grpo_fraction=0.5))
    assert list(tmp_path.iterdir()) == [tmp_path / "ws"]


def test_single_empty_subset_is_an_error(workspace, built, tmp_path):
    with pytest.raises(CharmError, match=r"dialogueQuality: nothing to export .*no dialogueQuality annotations"):
        export_workspace(workspace, tmp_path / "dq", ExportOptions(size=4000, subset="dialogueQuality"))
    assert not (tmp_path / "dq").exists()


def _rewrite_card(path: Path, edit) -> None:
    text = path.read_text(encoding="utf-8")
    end = text.index("\n---\n", 4)
    header = yaml.safe_load(text[4:end])
    edit(header)
    path.write_text("---\n" + yaml.safe_dump(header, allow_unicode=True) + text[end + 1 :], encoding="utf-8")


def test_check_reports_count_mismatch(exported):
    _rewrite_card(
        exported / "roleReward" / "README.md", lambda h: h["charm"]["counts"]["test"]["by_language"].update(en=7)
    )
    with pytest.raises(CharmError, match=r"roleReward/test: card says by_language=\{.*'en': 7"):
        check_export(exported)


def test_check_reports_shared_context_and_ids(exported):
    # copy a training prompt into the grpo split, keeping the files consistent otherwise
    dd = load_from_disk(str(exported / "preferenceTraining"))
    train, grpo = dd["train"], dd["grpo"]
    leaked = grpo.select(range(1)).map(lambda r: {"prompt": train[0]["prompt"]})
    folder = exported / "preferenceTraining"
    _replace_splits(folder, DatasetDict({"train": train, "grpo": leaked}))
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["ids"]["grpo"] = list(leaked["id"])
    _rewrite_card(
        folder / "README.md",
        lambda h: h["charm"]["counts"]["grpo"].update(
            total=1,
            by_language={leaked[0]["language"]: 1},
            by_dimension={leaked[0]["dimension"] or "none": 1},
            by_category={"any": 1},
        ),
    )
    (folder / "manifest.json").write_text(json.dumps(manifest))
    top = json.loads((exported / "manifest.json").read_text())
    top["rows"]["preferenceTraining"]["grpo"] = 1
    (exported / "manifest.json").write_text(json.dumps(top))
    with pytest.raises(
        CharmError, match="preferenceTraining/train and preferenceTraining/grpo share a dialogue context"
    ):
        check_export(exported)


def _replace_splits(folder, splits: DatasetDict) -> None:
    """Swap the data of an exported subset folder for ``splits`` (card and manifest untouched)."""
    tmp = folder.parent / f"{folder.name}-new"
    splits.save_to_disk(str(tmp))
    for item in tmp.iterdir():
        target = folder / item.name
        if target.is_dir():
            shutil.rmtree(target)
        item.rename(target)


def test_check_validates_vote_counts_against_the_schema(exported):
    folder = exported / "preferenceTraining"
    dd = load_from_disk(str(folder))
    first = dd["train"][0]["id"]
    too_many = dd["train"].map(lambda r: {"chosen_best_votes": r["n_annotators"] + 1} if r["id"] == first else {})
    _replace_splits(folder, DatasetDict({"train": too_many, "grpo": dd["grpo"]}))
    with pytest.raises(CharmError, match=f"preferenceTraining/train: row {first}: .*votes but n_annotators is"):
        check_export(exported)


def test_check_reports_bad_rows_and_missing_files(exported, tmp_path):
    with pytest.raises(CharmError, match="no such export directory"):
        check_export(tmp_path / "nope")
    (exported / "dialogueQuality" / "manifest.json").unlink()
    with pytest.raises(CharmError, match=r"dialogueQuality: no manifest\.json"):
        check_export(exported)

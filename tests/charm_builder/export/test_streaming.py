"""The streamed export writes the same rows as the export did before it streamed, at any chunk size."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import polars as pl
import pytest
from rich.console import Console

from charm_builder.export import ExportOptions, build_export, documents, export_workspace
from charm_builder.export import pipeline as pipeline_mod
from charm_builder.export.documents import ANNOTATION, parse_documents
from charm_builder.export.write import read_splits, to_dataset, write_splits
from charm_builder.store import Workspace
from tests.charm_builder.export.streaming_fixture import GOLDEN, OPTION_SETS, build_streaming_workspace, export_rows

QUIET = Console(quiet=True)


@pytest.fixture(scope="module")
def stream_ws(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("stream") / "ws"
    with Workspace.create(root) as ws:
        build_streaming_workspace(ws)
    return root


@pytest.fixture(scope="module")
def golden() -> dict:
    return json.loads(GOLDEN.read_text(encoding="utf-8"))


def _normalised(result: dict) -> dict:
    return json.loads(json.dumps(result, sort_keys=True))


@pytest.mark.parametrize("chunk_rows", [pytest.param(1, marks=pytest.mark.slow), 7, None])
def test_rows_match_the_pre_streaming_export_at_any_chunk_size(stream_ws, golden, tmp_path, chunk_rows):
    kwargs = {"console": QUIET} | ({"chunk_rows": chunk_rows} if chunk_rows else {})
    for name, options in OPTION_SETS.items():
        got = _normalised(export_rows(stream_ws, tmp_path / name, options, **kwargs))
        for subset, expected in golden[name].items():
            if subset == "_skipped":
                assert got[subset] == expected, name
                continue
            for split, rows in expected["rows"].items():
                assert got[subset]["rows"][split] == rows, f"{name} {subset}/{split} (chunk_rows={chunk_rows})"
            assert got[subset]["ids"] == expected["ids"], f"{name} {subset}"
            charm = dict(got[subset]["charm"])
            assert charm.pop("aggregate") == {"method": "majority"}  # added after the golden was taken (issue 23.1)
            charm["options"] = dict(charm["options"])
            assert charm["options"].pop("aggregate") == "majority"
            pairs = charm.pop("pairs", None)  # added after the golden was taken (issue 23.4): checked on the rows
            if subset == "preferenceTraining":
                assert pairs["pairs"] == len(expected["rows"]["train"]), f"{name} card pairs"
                assert pairs["policy"] == (
                    "maxdiff" if options.get("pairs", "best-worst") != "best-worst" else "best-worst"
                )
            assert charm == expected["charm"], f"{name} {subset} card"
        assert set(got) == set(golden[name])


def test_every_format_holds_the_same_rows_and_build_export_agrees(stream_ws, tmp_path):
    by_format = {}
    with Workspace.open(stream_ws) as ws:
        for fmt in ("hf", "parquet", "jsonl"):
            out = tmp_path / fmt
            summary = export_workspace(ws, out, ExportOptions(fmt=fmt, size=10), console=QUIET, chunk_rows=5)
            by_format[fmt] = {
                subset: {
                    split: frame.to_dicts() for split, frame in read_splits(out / subset, fmt, list(splits)).items()
                }
                for subset, splits in summary.rows.items()
            }
        built = build_export(ws, ExportOptions(size=10), QUIET, chunk_rows=3)
    assert by_format["hf"] == by_format["parquet"]
    assert _rounded(by_format["jsonl"]) == _rounded(by_format["hf"])  # JSON Lines keep 10 digits (pandas)
    for subset, data in built.items():
        for split, frame in data.splits.items():
            assert frame.drop("context_key").to_dicts() == by_format["hf"][subset][split], f"{subset}/{split}"


def _rounded(value):
    if isinstance(value, float):
        return round(value, 9)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def test_training_rows_come_from_the_scan_not_a_second_read(stream_ws, tmp_path, monkeypatch):
    def no_second_read(*args, **kwargs):
        raise AssertionError("train rows were read again from the store")

    monkeypatch.setattr(pipeline_mod, "materialize", no_second_read)
    with Workspace.open(stream_ws) as ws:
        summary = export_workspace(ws, tmp_path / "out", ExportOptions(pairs="all"), console=QUIET, chunk_rows=4)
    assert summary.rows["preferenceTraining"]["train"] > 100


def test_hf_split_written_in_shards_loads_like_save_to_disk(tmp_path, monkeypatch):
    frame = pl.DataFrame(
        {
            "id": [f"r{i:03d}" for i in range(60)],
            "prompt": [[{"role": "user", "content": "x" * (i + 1)}] for i in range(60)],
            "margin": [None if i % 5 == 0 else i / 7 for i in range(60)],
        }
    )
    datasets.DatasetDict({"train": to_dataset(frame)}).save_to_disk(str(tmp_path / "reference"))
    monkeypatch.setattr(datasets.config, "MAX_SHARD_SIZE", "1KB")
    chunks = (frame.slice(i, 9) for i in range(0, 60, 9))
    files = write_splits({"train": chunks}, tmp_path / "streamed", "hf")
    assert files == ["dataset_dict.json", "train"]
    shards = sorted((tmp_path / "streamed" / "train").glob("data-*.arrow"))
    assert len(shards) > 1 and shards[-1].name.endswith(f"-of-{len(shards):05d}.arrow")
    loaded = datasets.load_from_disk(str(tmp_path / "streamed"))
    assert pl.from_arrow(loaded["train"].data.table).equals(frame)
    for name in ("dataset_info.json",):
        assert (tmp_path / "streamed" / "train" / name).read_text() == (
            tmp_path / "reference" / "train" / name
        ).read_text()
    assert (tmp_path / "streamed" / "dataset_dict.json").read_text() == (
        tmp_path / "reference" / "dataset_dict.json"
    ).read_text()


@pytest.mark.parametrize("block_bytes", [64, 4 << 20])
def test_documents_written_pretty_printed_by_another_tool_still_parse(monkeypatch, block_bytes):
    monkeypatch.setattr(documents, "BLOCK_BYTES", block_bytes)  # 64: every document is longer than a block
    docs = [
        json.dumps({"candidate_set_id": "a", "annotator": "x", "best": "A", "worst": "B"}).encode(),
        json.dumps({"candidate_set_id": "b", "annotator": "y", "best": "B", "worst": "C"}, indent=2).encode(),
        b'{"candidate_set_id": "c", "annotator": "z", "extra": {"nested": [1, 2]}}',
    ]
    frame = parse_documents(docs, ANNOTATION)
    assert frame.rows() == [("a", "x", "A", "B", None), ("b", "y", "B", "C", None), ("c", "z", None, None, None)]


def test_chunk_rows_below_one_is_refused(stream_ws, tmp_path):
    from charm_kernel.errors import CharmError

    with Workspace.open(stream_ws) as ws, pytest.raises(CharmError, match="chunk_rows must be at least 1"):
        export_workspace(ws, tmp_path / "out", ExportOptions(), console=QUIET, chunk_rows=0)
    assert not (tmp_path / "out").exists()

"""`export --check` on corrupted export folders (Hypothesis): a file truncated, overwritten with noise,
bit-flipped, deleted, or a JSON/YAML value swapped for another type. The only outcomes allowed are
"ok" or one CharmError line; never another exception, and the folder is only read."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from charm_builder.export import ExportOptions, check_export, export_workspace
from charm_builder.store import Workspace
from charm_kernel.errors import CharmError
from tests.charm_builder.export.helpers import add_fluency_annotation, build_workspace

FORMATS = ("hf", "parquet", "jsonl")
JUNK_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One valid export per format, built once for the module."""
    root = tmp_path_factory.mktemp("fuzz-export")
    with Workspace.create(root / "ws") as ws:
        built = build_workspace(ws)
        add_fluency_annotation(ws, built)
        out = {}
        for fmt in FORMATS:
            out[fmt] = root / f"export-{fmt}"
            export_workspace(ws, out[fmt], ExportOptions(size=4000, grpo_fraction=0.5, fmt=fmt))
            check_export(out[fmt])  # valid before we break it
    return out


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file())


def _digest(folder: Path) -> str:
    h = hashlib.sha256()
    for p in _files(folder):
        h.update(str(p.relative_to(folder)).encode() + p.read_bytes())
    return h.hexdigest()


def _swap_value(data: object, path: list[int], junk: object) -> object:
    """Replace one value (chosen by ``path`` indices) inside nested dicts/lists by ``junk``."""
    if not path or not isinstance(data, dict | list) or not data:
        return junk
    keys = list(data) if isinstance(data, dict) else list(range(len(data)))
    key = keys[path[0] % len(keys)]
    data[key] = _swap_value(data[key], path[1:], junk)  # type: ignore[index]
    return data


def corrupt(folder: Path, data: st.DataObject) -> str:
    """Damage one file of ``folder`` in one of several ways; returns what was done (for the failure report)."""
    files = _files(folder)
    target = data.draw(st.sampled_from(files), label="file")
    raw = target.read_bytes()
    how = data.draw(st.sampled_from(["truncate", "noise", "flip", "delete", "value", "empty"]), label="how")
    if how == "truncate":
        target.write_bytes(raw[: data.draw(st.integers(0, max(0, len(raw) - 1)))])
    elif how == "noise":
        target.write_bytes(data.draw(st.binary(max_size=200)))
    elif how == "flip" and raw:
        buf = bytearray(raw)
        for _ in range(data.draw(st.integers(1, 8))):
            i = data.draw(st.integers(0, len(buf) - 1))
            buf[i] ^= 1 << data.draw(st.integers(0, 7))
        target.write_bytes(bytes(buf))
    elif how == "delete":
        target.unlink()
    elif how == "empty":
        target.write_bytes(b"")
    elif how == "value":  # a structurally valid file with one value of the wrong type or content
        path = data.draw(st.lists(st.integers(0, 50), min_size=1, max_size=4))
        junk = data.draw(JUNK_VALUES)
        if target.suffix == ".json":
            target.write_text(json.dumps(_swap_value(json.loads(raw), path, junk)))
        elif target.suffix == ".jsonl" and raw.strip():
            lines = raw.decode().splitlines()
            i = path[0] % len(lines)
            lines[i] = json.dumps(_swap_value(json.loads(lines[i]), path[1:], junk))
            target.write_text("\n".join(lines) + "\n")
        elif target.name == "README.md":
            text = raw.decode()
            end = text.index("\n---\n", 4)
            header = _swap_value(yaml.safe_load(text[4:end]), path, junk)
            target.write_text("---\n" + yaml.safe_dump(header, allow_unicode=True) + text[end:])
        else:
            target.write_bytes(raw[::-1])
    return f"{how} {target.relative_to(folder)}"


@settings(
    max_examples=120, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.data())
def test_check_on_corrupted_export_ends_in_ok_or_one_line(pristine, tmp_path_factory, data) -> None:
    fmt = data.draw(st.sampled_from(FORMATS), label="format")
    folder = tmp_path_factory.mktemp("corrupt") / "export"
    shutil.copytree(pristine[fmt], folder)
    what = corrupt(folder, data)
    before = _digest(folder)
    try:
        check_export(folder)
    except CharmError as exc:
        message = str(exc)
        assert message and "\n" not in message, (what, message)
    assert _digest(folder) == before, f"{what}: --check modified the folder"


def test_cli_check_on_corrupted_export_exits_2_with_one_line(pristine, tmp_path) -> None:
    folder = tmp_path / "export"
    shutil.copytree(pristine["hf"], folder)
    arrow = next(p for p in _files(folder) if p.suffix == ".arrow")
    arrow.write_bytes(arrow.read_bytes()[:100])
    env = {**os.environ, "COLUMNS": "200"}
    res = subprocess.run(
        [sys.executable, "-m", "charm_builder", "export", "--check", str(folder)],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert res.returncode == 2, res.stderr
    assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert f"{arrow.parent.parent}: unreadable or malformed export (ArrowInvalid" in res.stderr  # the subset folder

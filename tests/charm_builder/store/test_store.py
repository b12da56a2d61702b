import json
import signal
import sqlite3
import subprocess
import sys
import time

import pytest

import schemas as s
from charm_builder.store import Workspace, workspace_stats
from tests.helpers import REPO


def _character(i: int) -> s.Character:
    return s.Character(
        name={"en": f"Hero {i}"},
        sub_category="games",
        profile={"en": f"Hero number {i}."},
        system_prompt={"en": f"You are Hero {i}."},
    )


def test_workspace_is_wal_and_upsert_is_idempotent(workspace):
    mode = workspace.conn.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"
    chars = [_character(i) for i in range(5)]
    workspace.upsert_many(chars)
    workspace.upsert_many(chars)
    assert workspace.count(s.Character) == 5
    edited = _character(0).model_copy(update={"profile": s.Localized(en="Changed.")})
    workspace.upsert(edited)
    assert workspace.count(s.Character) == 5
    assert workspace.get(s.Character, edited.id).profile.en == "Changed."


def test_transaction_rolls_back_whole_unit_of_work(workspace):
    with pytest.raises(RuntimeError), workspace.transaction():
        workspace.upsert(_character(1))
        workspace.upsert(_character(2))
        raise RuntimeError("boom")
    assert workspace.count(s.Character) == 0


def test_stats_counts_by_category_model_and_annotation_state(workspace):
    workspace.upsert_many([_character(1), _character(2)])
    cset = s.CandidateSet(
        dialogue_id="d",
        context=[{"role": "user", "text": "hi"}],
        candidates=[{"label": "A", "model_id": "gpt", "text": "a"}, {"label": "B", "model_id": "qwen", "text": "b"}],
    )
    workspace.upsert(cset)
    for who in ("x", "y"):
        workspace.upsert(s.Annotation(candidate_set_id=cset.id, annotator=who, best="A", worst="B"))
    stats = workspace_stats(workspace)
    assert stats["characters"] == 2 and stats["characters_by_sub_category"] == {"games": 2}
    assert stats["candidates_by_model"] == {"gpt": 1, "qwen": 1}
    assert stats["candidate_sets_by_annotation_state"]["annotated_2"] == 1
    assert stats["annotations_by_annotator"] == {"x": 1, "y": 1}


def test_stats_report_the_share_of_degenerate_candidates(workspace):
    assert workspace_stats(workspace)["candidate_quality"] == {
        "candidates": 0,
        "degenerate": 0,
        "degenerate_share": 0.0,
    }
    loop = "I have been meaning to talk to you. " * 5
    cset = s.CandidateSet(
        dialogue_id="d",
        context=[{"role": "user", "text": "hi"}],
        candidates=[
            {"label": "A", "model_id": "m", "text": loop, "flags": ["degenerate"]},
            {"label": "B", "model_id": "m", "text": "fine"},
            {"label": "C", "model_id": "m", "text": "fine too", "flags": ["duplicate"]},
            {"label": "D", "model_id": "m", "text": "ok"},
        ],
    )
    workspace.upsert(cset)
    quality = workspace_stats(workspace)["candidate_quality"]
    assert quality == {"candidates": 4, "degenerate": 1, "degenerate_share": 0.25}


def test_open_missing_workspace_is_a_clear_error(tmp_path):
    from charm_kernel.errors import CharmError

    with pytest.raises(CharmError, match="run `charm-build init"):
        Workspace.open(tmp_path / "nope")


def _roles_file(path, start: int, n: int) -> None:
    data = {
        f"角色{i}": {
            "name_cn": f"角色{i}",
            "name_en": f"Role {i}",
            "class": "小说",
            "source": "测试",
            "profile": "资料" * 50,
            "prompt": "你是角色。" * 20,
            "relatives": "[]",
        }
        for i in range(start, start + n)
    }
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def test_sigkill_mid_import_leaves_database_consistent(tmp_path):
    """Kill `charm-build import` while it writes; only whole files may be in the database."""
    per_file = 4000
    files = []
    for k in range(3):
        f = tmp_path / f"roles{k}.json"
        _roles_file(f, k * per_file, per_file)
        files.append(str(f))
    ws_dir = tmp_path / "ws"
    Workspace.create(ws_dir).close()
    env = {"CHARM_WORKSPACE": str(ws_dir), "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-m", "charm_builder", "import", *files],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    db = ws_dir / "charm.db"
    deadline = time.time() + 120
    seen = 0
    while time.time() < deadline and proc.poll() is None:  # wait for the first committed file
        with sqlite3.connect(db, timeout=30) as conn:
            seen = conn.execute("SELECT COUNT(*) FROM characters").fetchone()[0]
        if seen:
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        count = conn.execute("SELECT COUNT(*) FROM characters").fetchone()[0]
        distinct = conn.execute("SELECT COUNT(DISTINCT json_extract(data, '$.name.en')) FROM characters").fetchone()[0]
    assert count % per_file == 0, f"half-written file: {count} rows"
    assert count == distinct
    rerun = subprocess.run(
        [sys.executable, "-m", "charm_builder", "import", *files], env=env, cwd=REPO, capture_output=True, text=True
    )
    assert rerun.returncode == 0, rerun.stderr
    with Workspace.open(ws_dir) as ws:
        assert ws.count(s.Character) == 3 * per_file


def test_has_and_distinct_read_indexed_columns(workspace):
    chars = [_character(i) for i in range(3)]
    workspace.upsert_many(chars)
    assert workspace.has(s.Character, chars[0].id)
    assert not workspace.has(s.Character, "chr_missing")
    assert workspace.distinct(s.Character, "sub_category") == ["games"]
    assert workspace.distinct(s.Character, "sub_category", primary_category="nobody") == []
    with pytest.raises(ValueError, match="no indexed column"):
        workspace.distinct(s.Character, "name")

"""`charm-build judge --file`: a preference file (parquet, jsonl, save_to_disk) scored through the fake
OpenAI server, margin_judge written into a copy, the input untouched, reruns free, rubrics kept apart."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from charm_builder.judge.prompts import GENERAL_SYSTEM, SYSTEM
from tests.charm_builder.judge.helpers import JUDGE, judged_reply, serving, write_judge_roster
from tests.helpers import run_cli

# (prompt, chosen, rejected, expected margin_judge): a reply "answer N ..." is scored N, "answer ? ..." never
PAIRS = [
    ("What is 2+2?", "answer 9 four", "answer 3 five", 6.0),
    ("Say hi.", "answer 4 hello", "answer 7 hi there", -3.0),
    ("Name a colour.", "answer ? blue", "answer 5 red", None),
]


class Judge:
    """Scores 'answer N' N; answers prose for 'answer ?'. Records each request's system prompt."""

    def __init__(self) -> None:
        self.systems: list[str] = []

    def __call__(self, model: str, messages: list[dict]) -> str:
        self.systems.append(messages[0]["content"])
        mark = judged_reply(messages).split()[1]
        return "I cannot say." if mark == "?" else f"Score: {mark}"


@pytest.fixture
def server():
    with serving(Judge()) as srv:
        yield srv


def _rows(messages: bool) -> list[dict]:
    if not messages:
        return [{"id": f"p{i}", "prompt": q, "chosen": c, "rejected": r} for i, (q, c, r, _) in enumerate(PAIRS)]
    return [
        {
            "id": f"p{i}",
            "prompt": [{"role": "system", "content": "You are Mira."}, {"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": c}],
            "rejected": [{"role": "assistant", "content": r}],
            "margin_judge": None,  # an export's empty slot is replaced
        }
        for i, (q, c, r, _) in enumerate(PAIRS)
    ]


def _write(tmp_path: Path, fmt: str) -> Path:
    if fmt == "parquet":
        path = tmp_path / "pairs.parquet"
        pq.write_table(pa.Table.from_pylist(_rows(messages=False)), path)
    elif fmt == "jsonl":
        path = tmp_path / "pairs.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in _rows(messages=True)))
    else:
        from datasets import Dataset, DatasetDict

        path = tmp_path / "preferenceTraining"
        rows = _rows(messages=True)
        grpo = Dataset.from_list([{"prompt": rows[0]["prompt"]}])
        DatasetDict({"train": Dataset.from_list(rows), "grpo": grpo}).save_to_disk(str(path))
    return path


def _read(path: Path, fmt: str) -> list[dict]:
    if fmt == "parquet":
        return pq.read_table(path).to_pylist()
    if fmt == "jsonl":
        return [json.loads(line) for line in path.read_text().splitlines()]
    from datasets import load_from_disk

    dd = load_from_disk(str(path))
    assert dd["grpo"].column_names == ["prompt"]  # the prompt-only split is copied unchanged
    return dd["train"].to_list()


def _digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()


def _judge(roster: Path, *args: str, workspace: Path):
    return run_cli("judge", "--roster", str(roster), "--judge", JUDGE, *args, workspace=workspace)


@pytest.mark.parametrize("fmt", ["parquet", "jsonl", "disk"])
def test_judge_file_writes_margin_judge_into_a_copy(server, tmp_path: Path, fmt: str) -> None:
    roster = write_judge_roster(tmp_path / "judge.yaml", server.openai_base_url)
    src = _write(tmp_path, fmt)
    before = _digest(src)
    out = tmp_path / "judged" / (src.name if fmt != "disk" else "pt-judged")
    no_ws = tmp_path / "no-workspace"
    res = _judge(roster, "--rubric", "general", "--file", str(src), "--out", str(out), workspace=no_ws)
    assert res.returncode == 0, res.stderr
    rows = _read(out, fmt)
    assert [r["margin_judge"] for r in rows] == [m for *_, m in PAIRS]
    assert [r["id"] for r in rows] == ["p0", "p1", "p2"] and rows[0]["chosen"] == _rows(fmt != "parquet")[0]["chosen"]
    assert _digest(src) == before  # the input is never modified
    # 5 replies scored at once; the prose one: ask + re-ask for each of 3 seeds
    assert server.chat_count() == 5 + 6
    assert set(server.judge.systems) == {GENERAL_SYSTEM}
    assert "margin_judge for 2, missing 1" in res.stdout and "--missing-margin drop" in res.stdout
    assert (out.parent / f"{out.name}.llm-cache.db").exists() and not no_ws.exists()

    # rerun: every answer comes from the cache beside OUT
    res = _judge(roster, "--rubric", "general", "--file", str(src), "--out", str(out), workspace=no_ws)
    assert res.returncode == 0, res.stderr
    assert server.chat_count() == 11 and "new calls 0" in res.stdout
    assert [r["margin_judge"] for r in _read(out, fmt)] == [m for *_, m in PAIRS]


def test_rubrics_are_cached_apart_and_a_workspace_holds_the_cache(server, workspace, tmp_path: Path) -> None:
    roster = write_judge_roster(tmp_path / "judge.yaml", server.openai_base_url)
    src = _write(tmp_path, "jsonl")
    out = tmp_path / "rp.jsonl"
    res = _judge(roster, "--file", str(src), "--out", str(out), workspace=workspace.root)  # role-play: default
    assert res.returncode == 0, res.stderr
    assert server.chat_count() == 11 and set(server.judge.systems) == {SYSTEM}
    assert not (tmp_path / "rp.jsonl.llm-cache.db").exists()
    cached = workspace.conn.execute("SELECT COUNT(*) FROM llm_cache").fetchone()[0]
    assert cached > 0
    res = _judge(roster, "--rubric", "general", "--file", str(src), "--out", str(out), workspace=workspace.root)
    assert res.returncode == 0, res.stderr
    assert server.chat_count() == 22 and "prompt v2-general" in res.stdout  # nothing reused across rubrics
    res = _judge(roster, "--file", str(src), "--out", str(out), workspace=workspace.root)
    assert res.returncode == 0 and server.chat_count() == 22  # role-play again: all cached


@pytest.mark.parametrize(
    ("edit", "needle"),
    [
        ("same-out", "would overwrite the input"),
        ("no-column", "no preference pairs (need columns prompt, chosen, rejected"),
        ("empty-reply", "row 1: field 'rejected': expected a non-empty"),
        ("bad-rubric", "--rubric 'poetry': choose one of role-play, general"),
        ("no-out", "--file needs --out"),
        ("wrong-suffix", "end it with .jsonl"),
    ],
)
def test_judge_file_errors_are_one_line_and_write_nothing(server, tmp_path: Path, edit: str, needle: str) -> None:
    roster = write_judge_roster(tmp_path / "judge.yaml", server.openai_base_url)
    rows = _rows(messages=False)
    if edit == "no-column":
        rows = [{"question": r["prompt"], "answer": r["chosen"]} for r in rows]
    if edit == "empty-reply":
        rows[1]["rejected"] = " "
    src = tmp_path / "in" / "pairs.jsonl"
    src.parent.mkdir()
    src.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = {"same-out": src, "wrong-suffix": tmp_path / "out" / "x.parquet"}.get(edit, tmp_path / "out" / "x.jsonl")
    args = ["--file", str(src), *([] if edit == "no-out" else ["--out", str(out)])]
    if edit == "bad-rubric":
        args += ["--rubric", "poetry"]
    res = _judge(roster, *args, workspace=tmp_path / "no-ws")
    assert res.returncode == 2, res.stdout
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0], res.stderr
    assert server.chat_count() == 0 and not (tmp_path / "out").exists()
    assert sorted(p.name for p in src.parent.iterdir()) == ["pairs.jsonl"]

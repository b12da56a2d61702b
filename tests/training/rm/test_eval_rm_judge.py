"""`charm-train eval-rm --judge`: an LLM from a roster judges each roleReward pair in both orders.

The judge is the fake OpenAI server with a rule we can compute by hand (it prefers the longer
reply), so the expected Table-2 figures follow from the data alone.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from datasets import Dataset
from typer.testing import CliRunner

from charm_apps.train import app
from tests.fakes.openai_server import FakeLLMServer
from tests.training.rm.helpers import role_reward_rows
from training.rm.evaluate import PairResult, summarize

runner = CliRunner()
PAIR = re.compile(r"Reply A:\n(.*?)\n\nReply B:\n(.*?)\n\nAnswer", re.DOTALL)


def prefers_longer(model: str, messages: list[dict]) -> str:
    a, b = PAIR.search(messages[-1]["content"]).groups()
    return "Answer: A" if len(a) > len(b) else "B"


@pytest.fixture()
def rows() -> list[dict]:
    """roleReward rows where the longer reply is `chosen` in some pairs and `rejected` in others."""
    out = role_reward_rows()
    for i, row in enumerate(out):
        if i % 3 == 0:
            row["chosen"], row["rejected"] = row["rejected"], row["chosen"]
    return out


def expected_summary(rows: list[dict]) -> dict:
    def correct(r: dict) -> float:
        longer_first = 0.5 if len(r["chosen"]) > len(r["rejected"]) else 0.0  # chosen shown as A
        longer_second = 0.5 if len(r["chosen"]) >= len(r["rejected"]) else 0.0  # chosen as B: ties go to B
        return longer_first + longer_second

    return summarize([PairResult(r["id"], r["dimension"], r["language"], correct(r)) for r in rows])


def test_llm_judge_gets_the_hand_computed_table_and_a_rerun_is_free(rows, tmp_path: Path) -> None:
    data = tmp_path / "roleReward"
    Dataset.from_list(rows).save_to_disk(str(data))
    with FakeLLMServer(reply=prefers_longer) as srv:
        roster = tmp_path / "judges.yaml"
        roster.write_text(
            yaml.safe_dump(
                {
                    "name": "judges",
                    "models": {
                        "judge-llm": {
                            "provider": "openai",
                            "model": "judge-fake",
                            "base_url": srv.openai_base_url,
                            "concurrency": 4,
                        }
                    },
                }
            )
        )
        out = tmp_path / "eval"
        args = ["eval-rm", "--judge", "judge-llm", "--roster", str(roster), "-d", str(data), "-o", str(out), "-q"]
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        calls = srv.chat_count()
        assert calls == 2 * len(rows)  # every pair, both orders
        asked = [r.body for r in srv.requests if r.path == "/v1/chat/completions"]
        assert all(b["temperature"] == 0.0 and b["max_tokens"] == 8 for b in asked)
        res = runner.invoke(app, args)
        assert res.exit_code == 0, res.output
        assert srv.chat_count() == calls  # answered from OUT/llm_cache.db
    summary = json.loads((out / "summary.json").read_text())
    want = expected_summary(rows)
    assert 0 < want["avg"] < 100  # the rule gets some pairs wrong: the figures are not trivial
    for dim in ("knowledge_consistency", "attractiveness"):
        for lang in ("zh", "en"):
            assert summary[dim][lang] == pytest.approx(want[dim][lang]), (dim, lang)
    md = (out / "results.md").read_text()
    assert "| judge-llm |" in md and md.splitlines()[2].count(" ± ") == 7
    assert set(summary["intervals"]) >= {"Charm-Consistency zh", "Avg."}


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["--judge", "nope"], "unknown model 'nope'"),
        (["{rm}", "--judge", "smollm2-plain"], "exactly one"),
        ([], "exactly one"),
    ],
)
def test_eval_rm_judge_bad_input_is_one_line(args, needle, rows, tmp_path: Path) -> None:
    data = tmp_path / "roleReward"
    Dataset.from_list(rows).save_to_disk(str(data))
    args = [a.replace("{rm}", str(tmp_path)) for a in args]
    res = runner.invoke(app, ["eval-rm", *args, "-d", str(data), "-o", str(tmp_path / "ev"), "-q"])
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], res.stderr
    assert not (tmp_path / "ev").exists()

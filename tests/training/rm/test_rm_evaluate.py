"""roleReward evaluation: Table-2 layout, reward-model scorer and pairwise-judge scorer."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from datasets import Dataset

from tests.training.rm.helpers import role_reward_rows
from training.rm.data import DataError
from training.rm.evaluate import (
    PairResult,
    PairwiseJudge,
    PromptPairwiseJudge,
    context_messages,
    evaluate_judge,
    evaluate_reward_model,
    load_role_reward,
    summarize,
    to_markdown,
    write_report,
)
from training.rm.model import load_backbone


def test_summarize_by_hand() -> None:
    res = [
        PairResult("1", "knowledge_consistency", "zh", 1.0),
        PairResult("2", "knowledge_consistency", "zh", 0.0),
        PairResult("3", "knowledge_consistency", "en", 1.0),
        PairResult("4", "attractiveness", "en", 0.5),
    ]
    s = summarize(res)
    assert s["knowledge_consistency"]["zh"] == pytest.approx(50.0)
    assert s["knowledge_consistency"]["en"] == pytest.approx(100.0)
    assert s["knowledge_consistency"]["avg"] == pytest.approx(75.0)
    assert s["attractiveness"]["zh"] is None and s["attractiveness"]["avg"] == pytest.approx(50.0)
    assert s["avg"] == pytest.approx(62.5)
    md = to_markdown(summarize(res, resamples=0), "BT")
    assert "| BT | 50.0 | 100.0 | 75.0 | - | 50.0 | 50.0 | 62.5 |" in md and "±" not in md
    assert "Charm-Consistency zh" in md.splitlines()[0]


def test_intervals_by_hand() -> None:
    """Consistency zh holds one right and one wrong pair: a resample of it is 0, 50 or 100 % with
    probability 1/4, 1/2, 1/4, so its 95 % interval is [0, 100] (± 50); the one-pair cells never move
    (± 0); avg. = (zh + 100) / 2 spans [50, 100] (± 25) and Avg. = (avg. + 50) / 2 spans [50, 75]."""
    res = [
        PairResult("1", "knowledge_consistency", "zh", 1.0),
        PairResult("2", "knowledge_consistency", "zh", 0.0),
        PairResult("3", "knowledge_consistency", "en", 1.0),
        PairResult("4", "attractiveness", "en", 0.5),
    ]
    s = summarize(res, resamples=1000, seed=3)
    iv = s["intervals"]
    assert (iv["Charm-Consistency zh"]["lo"], iv["Charm-Consistency zh"]["hi"]) == (0.0, 100.0)
    assert (iv["Charm-Consistency avg."]["lo"], iv["Charm-Consistency avg."]["hi"]) == (50.0, 100.0)
    assert (iv["Avg."]["lo"], iv["Avg."]["hi"]) == (50.0, 75.0)
    assert "Charm-Attractiveness zh" not in iv  # no pairs, no interval
    md = to_markdown(s, "BT")
    assert "| BT | 50.0 ± 50.0 | 100.0 ± 0.0 | 75.0 ± 25.0 | - | 50.0 ± 0.0 | 50.0 ± 0.0 | 62.5 ± 12.5 |" in md
    assert "± is half the width of the 95 % percentile bootstrap interval (1000 resamples" in md
    assert summarize(res, resamples=1000, seed=3) == s  # the seed fixes them


def test_load_role_reward_validates(tmp_path: Path, role_reward_export: Path) -> None:
    rows, _ = load_role_reward(role_reward_export)
    assert len(rows) == 8
    bad = role_reward_rows()
    bad[2]["dimension"] = "fluency"
    Dataset.from_list(bad).save_to_disk(str(tmp_path / "bad"))
    with pytest.raises(DataError, match="row 2: dimension 'fluency'"):
        load_role_reward(tmp_path / "bad")
    no_lang = [{k: v for k, v in r.items() if k != "language"} for r in role_reward_rows()]
    Dataset.from_list(no_lang).save_to_disk(str(tmp_path / "nolang"))
    with pytest.raises(DataError, match="missing column 'language'"):
        load_role_reward(tmp_path / "nolang")


def test_context_messages_prepends_system_prompt_once() -> None:
    row = role_reward_rows()[0]
    msgs = context_messages(row)
    assert msgs[0] == {"role": "system", "content": row["system_prompt"]} and msgs[1]["role"] == "user"
    row["context"] = [{"role": "system", "content": "given"}, *row["context"]]
    assert [m["role"] for m in context_messages(row)] == ["system", "user"]


class KeywordJudge:
    """A deterministic judge: prefers the reply that does not sound like a generic assistant."""

    def prefer(self, context: list[dict[str, str]], a: str, b: str) -> str:
        assert context[0]["role"] == "system"
        return "B" if "AI language model" in a else "A"


def test_judge_scorer_both_orders(role_reward_export: Path, tmp_path: Path) -> None:
    rows, _ = load_role_reward(role_reward_export)
    assert isinstance(KeywordJudge(), PairwiseJudge)
    s = summarize(evaluate_judge(KeywordJudge(), rows))
    assert s["avg"] == pytest.approx(100.0)

    class AlwaysA:
        async def prefer(self, context: list[dict[str, str]], a: str, b: str) -> str:
            return "A"

    s2 = summarize(evaluate_judge(AlwaysA(), rows))  # position bias cancels out to exactly 50 %
    assert s2["avg"] == pytest.approx(50.0)


def test_prompt_judge_parses_letters(role_reward_export: Path) -> None:
    rows, _ = load_role_reward(role_reward_export)
    seen: list[str] = []

    def complete(messages: list[dict[str, str]]) -> str:
        text = messages[-1]["content"]
        seen.append(text)
        reply_a = text.split("Reply A:\n", 1)[1].split("\n\nReply B:", 1)[0]
        return "Answer: B" if "AI language model" in reply_a else "A."

    s = summarize(evaluate_judge(PromptPairwiseJudge(complete), rows))
    assert s["avg"] == pytest.approx(100.0)
    assert "Sherlock Holmes" in seen[0] and len(seen) == 2 * len(rows)


def test_reward_model_scorer_and_report(tiny_llama: Path, role_reward_export: Path, tmp_path: Path) -> None:
    rows, _ = load_role_reward(role_reward_export)
    model = load_backbone(tiny_llama, seed=0).eval()
    results = evaluate_reward_model(model, rows, batch_size=3)
    assert len(results) == 8
    for r, row in zip(results, rows, strict=True):
        ctx = context_messages(row)
        c, rj = model.score([(ctx, row["chosen"]), (ctx, row["rejected"])])
        assert r.chosen_score == pytest.approx(c, abs=1e-4) and r.correct == float(c > rj)
    s = summarize(results)
    out = write_report(tmp_path / "eval", s, results, "tiny")
    with (out / "results.csv").open() as fh:
        table = list(csv.reader(fh))
    assert table[0][0] == "Method" and table[1][0] == "tiny" and len(table[1]) == 8 + 2 * 7  # value, lo, hi
    assert table[0][8:10] == ["Charm-Consistency zh lo", "Charm-Consistency zh hi"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n"] == 8
    avg = summary["intervals"]["Avg."]
    assert avg["lo"] <= summary["avg"] == avg["value"] <= avg["hi"]
    assert f"{summary['avg']:.1f} ± {(avg['hi'] - avg['lo']) / 2:.1f}" in (out / "results.md").read_text()
    assert len((out / "pairs.jsonl").read_text().splitlines()) == 8
    assert len((out / "items.jsonl").read_text().splitlines()) == 8

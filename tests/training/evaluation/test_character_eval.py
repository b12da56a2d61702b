"""eval-ce: CharacterEval's published files, replies from a fake roster actor, scripted LLM-judge scores
-> the Table 4 Attr. / Conv. / Know. / Avg. cells, checked by hand."""

from __future__ import annotations

import asyncio
import csv
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from charm_builder.llm import LLMClient
from tests.fakes.openai_server import FakeLLMServer
from tests.training.evaluation.helpers import run_local_model_eval, write_roster
from training.evaluation.character_eval import (
    EvaluationInputError,
    evaluate_character_eval,
    load_character_eval,
    summarize,
)
from training.evaluation.dialogue_quality import resolve_responder

runner = CliRunner()

# the published shape: a JSON array in test_data.jsonl, "Name：utterance" lines
TEST_DATA = [
    {
        "id": 101,
        "role": "孙悟空",
        "novel_name": "西游记",
        "context": "唐僧：悟空，前面是什么地方？\n孙悟空：师父，前面是火焰山。\n猪八戒：猴哥，那咱们怎么过去？",
    },
    {"id": 102, "role": "林黛玉", "novel_name": "红楼梦", "context": "贾宝玉：妹妹今天可好？"},
    {"id": 103, "role": "孙悟空", "novel_name": "西游记", "context": "唐僧：悟空，你又闯祸了？"},
]
PROFILES = {
    "孙悟空": {"性别": "男", "身份": "齐天大圣", "性格": "机智勇敢"},
    "林黛玉": {"性别": "女", "身份": "贾府表小姐", "性格": "多愁善感"},
}
ID2METRIC = {
    "101": [["Accuracy", "知识准确率"], ["Humanlikeness", "类人程度"], ["Fluency", "对话流利度"]],
    "102": [
        ["Empathy", "共情度"],
        ["Behavior", "行为一致性"],
        ["Coherence", "对话连贯性"],
        ["Diversity", "表现多样性"],
    ],
    "103": [["Accuracy", "知识准确率"], ["Fluency", "对话流利度"], ["Utterance", "言语一致性"]],
}
QUERY = {"猪八戒：猴哥，那咱们怎么过去？": "101", "贾宝玉：妹妹今天可好？": "102", "唐僧：悟空，你又闯祸了？": "103"}
# (example, metric) -> score per judge; None: that judge never answers in valid JSON; unlisted: 3
SCORES: dict[str, dict[tuple[str, str], int | None]] = {
    "judge-a": {
        ("101", "Accuracy"): 4,
        ("101", "Humanlikeness"): 3,
        ("101", "Fluency"): 5,
        ("102", "Empathy"): 5,
        ("102", "Behavior"): 2,
        ("102", "Coherence"): 4,
        ("102", "Diversity"): 3,
        ("103", "Accuracy"): 2,
        ("103", "Fluency"): 4,
        ("103", "Utterance"): None,
    },
    "judge-b": {
        ("101", "Accuracy"): 5,
        ("101", "Humanlikeness"): 3,
        ("101", "Fluency"): 5,
        ("102", "Empathy"): 4,
        ("102", "Behavior"): 2,
        ("102", "Coherence"): 4,
        ("102", "Diversity"): 3,
        ("103", "Accuracy"): 2,
        ("103", "Fluency"): 4,
        ("103", "Utterance"): 4,
    },
}
ACTOR_SEEN: list[list[dict[str, Any]]] = []


def ce_reply(model: str, messages: list[dict[str, Any]]) -> str:
    if model == "actor-fake":
        ACTOR_SEEN.append(messages)
        return "\n（微笑）好的，交给我吧。\n这一行是继续生成的，应当被丢弃。"
    prompt = next(m["content"] for m in messages if m["role"] == "user")
    query = re.search(r"## User query\n(.*?)\n\n## Reply", prompt, re.S).group(1)  # type: ignore[union-attr]
    metric = re.search(r"（(\w+)）：", prompt).group(1)  # type: ignore[union-attr]
    score = SCORES[model].get((QUERY[query], metric), 3)
    if score is None:
        return "四分吧。"
    return json.dumps({"analysis": f"{metric} ok", "score": score}, ensure_ascii=False)


@pytest.fixture()
def ce_data(tmp_path: Path) -> Path:
    root = tmp_path / "CharacterEval" / "data"
    root.mkdir(parents=True)
    (root / "test_data.jsonl").write_text(json.dumps(TEST_DATA, ensure_ascii=False, indent=4), encoding="utf-8")
    (root / "character_profiles.json").write_text(json.dumps(PROFILES, ensure_ascii=False), encoding="utf-8")
    (root / "id2metric.jsonl").write_text(json.dumps(ID2METRIC, ensure_ascii=False, indent=4), encoding="utf-8")
    return root


@pytest.fixture()
def ce_roster(tmp_path: Path) -> Iterator[Path]:
    with FakeLLMServer(reply=ce_reply) as srv:
        yield write_roster(tmp_path / "roster.yaml", srv.openai_base_url)


def _run(data: Path, roster: Path, judges: list[str], all_metrics: bool = False):
    async def go():
        client = LLMClient(roster)
        try:
            examples, sparse = load_character_eval(data, all_metrics=all_metrics)
            return await evaluate_character_eval(
                examples, resolve_responder("actor-fake", client), judges, client, sparse=sparse
            )
        finally:
            await client.aclose()

    return asyncio.run(go())


def test_one_judge_grouped_averages(ce_data: Path, ce_roster: Path) -> None:
    ACTOR_SEEN.clear()
    run = _run(ce_data, ce_roster, ["judge-a"])
    s = summarize(run)
    m = {k: v["mean"] for k, v in s["metrics"].items()}
    assert m["Accuracy"] == pytest.approx((4 + 2) / 2) and m["Fluency"] == pytest.approx((5 + 4) / 2)
    assert m["Utterance"] is None and s["metrics"]["Utterance"]["failed"] == 1
    assert m["Exposure"] is None and s["metrics"]["Exposure"]["failed"] == 0  # never asked (sparse)
    attr = (3 + 5 + 3) / 3  # Humanlikeness, Empathy, Diversity (Communication_skills not asked)
    conv = (4.5 + 4) / 2  # Fluency, Coherence
    know = (3 + 2) / 2  # Accuracy, Behavior (Utterance failed, the rest not asked)
    assert s["columns"]["Attr."] == pytest.approx(attr)
    assert s["columns"]["Conv."] == pytest.approx(conv)
    assert s["columns"]["Know."] == pytest.approx(know)
    assert s["columns"]["Avg."] == pytest.approx((attr + conv + know) / 3)
    assert s["judgements"] == 10 and s["failed_judgements"] == 1 and s["sparse_metrics"] is True
    assert "CharacterRM" in s["note"] and "judge-a" in s["note"]
    # replies: one per example, first non-empty line only; the actor saw the profile and named speakers
    assert [r.text for r in run.replies] == ["（微笑）好的，交给我吧。"] * 3
    first = next(msgs for msgs in ACTOR_SEEN if msgs[-1]["content"] == "猪八戒：猴哥，那咱们怎么过去？")
    assert first[0]["role"] == "system" and "孙悟空" in first[0]["content"] and "齐天大圣" in first[0]["content"]
    assert [m["role"] for m in first[1:]] == ["user", "assistant", "user"]
    assert first[2]["content"] == "孙悟空：师父，前面是火焰山。"


def test_two_judges_average_per_item(ce_data: Path, ce_roster: Path) -> None:
    s = summarize(_run(ce_data, ce_roster, ["judge-a", "judge-b"]))
    attr = (3 + (5 + 4) / 2 + 3) / 3
    conv = (5 + 4) / 2 / 2 + 4 / 2  # Fluency 4.5, Coherence 4
    know = (((4 + 5) / 2 + 2) / 2 + 2 + 4) / 3  # Accuracy 3.25, Behavior 2, Utterance 4 (judge-b only)
    assert s["columns"]["Attr."] == pytest.approx(attr)
    assert s["columns"]["Conv."] == pytest.approx(conv)
    assert s["columns"]["Know."] == pytest.approx(know)
    assert s["columns"]["Avg."] == pytest.approx((attr + conv + know) / 3)
    assert s["agreement"]["judges"] == ["judge-a", "judge-b"]


def test_all_metrics_scores_every_example_on_twelve(ce_data: Path, ce_roster: Path) -> None:
    s = summarize(_run(ce_data, ce_roster, ["judge-b"], all_metrics=True))
    assert s["judgements"] == 3 * 12 and s["sparse_metrics"] is False
    assert s["metrics"]["Exposure"]["mean"] == pytest.approx(3.0)  # unlisted -> 3
    assert s["metrics"]["Accuracy"]["mean"] == pytest.approx((5 + 3 + 2) / 3)


def test_cli_writes_table4_files(ce_data: Path, ce_roster: Path, tmp_path: Path) -> None:
    out = tmp_path / "ce"
    args = [
        "eval-ce",
        "--model",
        "actor-fake",
        "--data",
        str(ce_data),
        "--judge",
        "judge-a",
        "--roster",
        str(ce_roster),
        "--out",
        str(out),
        "--name",
        "Actor",
        "-q",
    ]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "CharacterRM" in res.output and "Attr." in res.output
    md = (out / "results.md").read_text(encoding="utf-8")
    assert md.startswith("| Model | Attr. zh | Conv. zh | Know. zh | Avg. zh |")
    avg = ((3 + 5 + 3) / 3 + 4.25 + 2.5) / 3
    # intervals by hand: Attr.'s metrics have one example each (± 0); Conv. = (Fluency over {4, 5} + 4) / 2
    # spans [4, 4.5]; Know. = (Accuracy over {2, 4} + 2) / 2 spans [2, 3]; Avg. moves with both, and each
    # extreme has probability 1/16 > 2.5 %, so it spans (3.67 + 4 + 2) / 3 to (3.67 + 4.5 + 3) / 3: ± 0.25
    assert f"| Actor | 3.67 ± 0.00 | 4.25 ± 0.25 | 2.50 ± 0.50 | {avg:.2f} ± 0.25 |" in md
    assert "| Accuracy 知识准确率 | Know. | 3.00 ± 1.00 | 2 | 0 |" in md and "± is half the width" in md
    assert "Note: CharacterEval's own scorer is CharacterRM" in md
    rows = list(csv.reader((out / "results.csv").open(encoding="utf-8")))
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["Method"] == "Actor" and row["Know. zh"] == "2.50" and row["Utterance zh"] == "-"
    assert (row["Know. zh lo"], row["Know. zh hi"]) == ("2.00", "3.00") and "Utterance zh lo" not in row
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["failed_judgements"] == 1 and summary["judge_cost"] > 0
    assert len((out / "judgements.jsonl").read_text().splitlines()) == 10
    assert (out / "llm_cache.db").exists()
    res2 = runner.invoke(app, args)  # served from the cache: same table
    assert res2.exit_code == 0 and list(csv.reader((out / "results.csv").open(encoding="utf-8"))) == rows


def test_bad_inputs(ce_data: Path, ce_roster: Path, tmp_path: Path) -> None:
    data = json.loads((ce_data / "test_data.jsonl").read_text(encoding="utf-8"))
    data[1]["role"] = "薛宝钗"
    (ce_data / "test_data.jsonl").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    out = tmp_path / "never"
    res = runner.invoke(
        app,
        [
            "eval-ce",
            "-m",
            "actor-fake",
            "-d",
            str(ce_data),
            "-j",
            "judge-a",
            "--roster",
            str(ce_roster),
            "-o",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and "test_data.jsonl: record 2: field 'role'" in lines[0] and "薛宝钗" in lines[0]
    assert not out.exists()
    data[1]["role"] = "林黛玉"
    data[2]["context"] = "唐僧：悟空？\n孙悟空：师父，俺老孙在。"
    (ce_data / "test_data.jsonl").write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(EvaluationInputError, match="record 3: field 'context': the last line is by 孙悟空"):
        load_character_eval(ce_data)
    (ce_data / "id2metric.jsonl").write_text(json.dumps({"101": [["Charisma", "魅力"]]}), encoding="utf-8")
    with pytest.raises(EvaluationInputError, match=r"id2metric\.jsonl: id 101: unknown metric 'Charisma'"):
        load_character_eval(ce_data, limit=1)
    with pytest.raises(EvaluationInputError, match=r"test_data\.jsonl: not found"):
        load_character_eval(tmp_path)


def test_cli_local_model_and_limit(ce_data: Path, ce_roster: Path, tiny_llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "ce-local"
    replies = run_local_model_eval("eval-ce", tiny_llama, ce_data, ce_roster, out, "--limit", "2")
    assert [r["item_id"] for r in replies] == ["101", "102"]
    assert all(r["model"] == tiny_llama.name and r["error"] is None and "\n" not in r["text"] for r in replies)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["examples"] == 2 and summary["judgements"] == 2 * (3 + 4)
    assert "Krippendorff" in (out / "results.md").read_text(encoding="utf-8")

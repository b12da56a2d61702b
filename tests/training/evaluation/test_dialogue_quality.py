"""eval-dq against the local fake OpenAI server as actor and judges: known scores -> known table."""

from __future__ import annotations

import asyncio
import csv
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from charm_builder.llm import LLMClient
from tests.training.evaluation.helpers import run_local_model_eval
from training.evaluation.dialogue_quality import (
    EvaluationInputError,
    evaluate_dialogue_quality,
    load_dialogue_quality,
    reply_messages,
    resolve_responder,
)
from training.evaluation.judges import judge_messages, krippendorff_alpha_interval, spearman
from training.evaluation.tables import summarize, to_markdown

runner = CliRunner()


def _run(dq_export: Path, roster_file: Path, judges: list[str], model: str = "actor-fake"):
    async def go():
        client = LLMClient(roster_file)
        try:
            items = load_dialogue_quality(dq_export)
            return await evaluate_dialogue_quality(items, resolve_responder(model, client), judges, client)
        finally:
            await client.aclose()

    return asyncio.run(go())


def cell(summary: dict, dim: str, lang: str) -> float | None:
    return summary["cells"][dim][lang]["mean"]


def test_single_judge_table_values_and_malformed_output(dq_export: Path, roster_file: Path) -> None:
    run = _run(dq_export, roster_file, ["judge-a"])
    s = summarize(run)
    assert cell(s, "knowledge", "en") == pytest.approx(3.0)  # (4 + 2) / 2
    assert cell(s, "fluency", "en") == pytest.approx(5.0)
    assert cell(s, "empathy", "en") == pytest.approx(3.0)
    assert cell(s, "Avg.", "en") == pytest.approx(11 / 3)
    assert cell(s, "knowledge", "zh") == pytest.approx(3.0)
    assert cell(s, "fluency", "zh") == pytest.approx(3.0)  # (4 + 2): the 2 came after one re-ask
    assert cell(s, "consistency", "zh") is None  # its only judgement failed
    assert s["cells"]["consistency"]["zh"]["failed"] == 1
    assert cell(s, "Avg.", "zh") == pytest.approx(3.0)
    assert cell(s, "behavior", "en") is None and s["cells"]["behavior"]["en"]["failed"] == 0  # no items
    assert s["failed_judgements"] == 1 and s["judgements"] == 8 and s["failed_replies"] == 0
    by_id = {j.item_id: j for j in run.judgements}
    assert by_id["zh-f2"].score == 2 and by_id["zh-f2"].calls == 2
    assert by_id["zh-c1"].score is None and "malformed judge output" in (by_id["zh-c1"].error or "")
    assert by_id["en-k1"].analysis == "judge-a on Who was your mentor?"
    md = to_markdown(summarize(run, resamples=0), "actor")
    assert md.splitlines()[0].startswith("| Model | Knowledge zh/en | Fluency zh/en | Behavior zh/en")
    assert "| actor | 3.00 / 3.00 | 3.00 / 5.00 | - / - | - / - | - / 3.00 | - / - | 3.00 / 3.67 |" in md
    assert "failed judgements: 1 of 8" in md and "±" not in md
    # Knowledge en holds the scores 4 and 2: a resample's mean is 2, 3 or 4 (p = 1/4, 1/2, 1/4), so the
    # 95 % interval is [2, 4]; Avg. en = (Knowledge en + 5 + 3) / 3 moves with it over [10/3, 4]
    iv = s["intervals"]
    assert (iv["Knowledge en"]["lo"], iv["Knowledge en"]["hi"]) == (2.0, 4.0)
    assert (iv["Avg. en"]["lo"], iv["Avg. en"]["hi"]) == (pytest.approx(10 / 3), pytest.approx(4.0))
    assert s["cells"]["knowledge"]["en"]["lo"] == 2.0 and "Consistency zh" not in iv  # no scores, no interval
    md = to_markdown(s, "actor")
    # Knowledge zh is one item (3): it never moves; Avg. zh = (3 + Fluency zh over [2, 4]) / 2 spans [2.5, 3.5]
    assert "| actor | 3.00 ± 0.00 / 3.00 ± 1.00 | 3.00 ± 1.00 / 5.00 ± 0.00 | - / - |" in md
    assert (
        "| 3.00 ± 0.50 / 3.67 ± 0.33 |" in md and "± is half the width of the 95 % percentile bootstrap interval" in md
    )


def test_judge_ensemble_averages_and_reports_agreement(dq_export: Path, roster_file: Path) -> None:
    run = _run(dq_export, roster_file, ["judge-a", "judge-b"])
    s = summarize(run)
    assert cell(s, "knowledge", "en") == pytest.approx((4.5 + 2) / 2)
    assert cell(s, "fluency", "zh") == pytest.approx((4 + 1.5) / 2)
    assert cell(s, "consistency", "zh") == pytest.approx(3.0)  # judge-b alone scored it
    assert cell(s, "Avg.", "zh") == pytest.approx((3.5 + 2.75 + 3.0) / 3)
    ag = s["agreement"]
    a, b = [4, 2, 5, 3, 3, 4, 2], [5, 2, 4, 3, 4, 4, 1]  # the 7 items both judges scored
    assert ag["mean_abs_diff"] == pytest.approx(4 / 7)
    assert ag["spearman"] == pytest.approx(0.8190847665914189)  # scipy.stats.spearmanr(a, b)
    assert ag["krippendorff_alpha_interval"] == pytest.approx(
        krippendorff_alpha_interval([[x, y] for x, y in zip(a, b, strict=True)] + [[3]])
    )
    assert ag["pairs"]["judge-a vs judge-b"]["n"] == 7


def test_krippendorff_alpha_and_spearman_by_hand() -> None:
    # units (1,2) and (3,3): D_o = 2/4, D_e = 22/12 -> alpha = 1 - 0.5 / (22/12)
    assert krippendorff_alpha_interval([[1, 2], [3, 3]]) == pytest.approx(1 - 0.5 / (22 / 12))
    assert krippendorff_alpha_interval([[1, 1], [4, 4], [2, 2, 2]]) == pytest.approx(1.0)
    assert krippendorff_alpha_interval([[3, 3], [3, 3]]) is None and krippendorff_alpha_interval([[1]]) is None
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert spearman([1, 2, 2, 3], [1, 3, 3, 4]) == pytest.approx(1.0)
    assert spearman([1, 1], [1, 2]) is None


def test_prompts_carry_character_context_query_and_criteria(dq_export: Path) -> None:
    item = load_dialogue_quality(dq_export)[0]
    msgs = reply_messages(item)
    assert [m["role"] for m in msgs] == ["system", "user", "assistant", "user"]
    assert msgs[0]["content"] == "You are Sherlock Holmes." and msgs[-1]["content"] == item.user_query
    judge = judge_messages(item, "Elementary.")[1]["content"]
    for part in (
        "You are Sherlock Holmes.",
        "Ann: Hello there.",
        "Sherlock: Good evening.",
        item.user_query,
        "Elementary.",
        "- Stays in character",
        "Knowledge:",
    ):
        assert part in judge


def test_cli_writes_table4_files(dq_export: Path, roster_file: Path, tmp_path: Path) -> None:
    out = tmp_path / "dq"
    res = runner.invoke(
        app,
        [
            "eval-dq",
            "--model",
            "actor-fake",
            "--data",
            str(dq_export),
            "--judge",
            "judge-a",
            "--roster",
            str(roster_file),
            "--out",
            str(out),
            "-q",
        ],
    )
    assert res.exit_code == 0, res.output
    rows = list(csv.reader((out / "results.csv").open()))
    header = dict(zip(rows[0], rows[1], strict=True))
    assert header["Method"] == "actor-fake" and header["Knowledge en"] == "3.00" and header["Avg. en"] == "3.67"
    assert header["Consistency zh"] == "-" and "Consistency zh lo" not in header
    assert (header["Knowledge en lo"], header["Knowledge en hi"]) == ("2.00", "4.00")
    assert " ± " in (out / "results.md").read_text()
    assert len((out / "items.jsonl").read_text().splitlines()) == 7  # the scored items
    judgements = [json.loads(line) for line in (out / "judgements.jsonl").read_text().splitlines()]
    assert len(judgements) == 8 and sum(j["score"] is None for j in judgements) == 1
    replies = [json.loads(line) for line in (out / "replies.jsonl").read_text(encoding="utf-8").splitlines()]
    assert all(r["text"].startswith("Elementary.") for r in replies)
    summary = json.loads((out / "summary.json").read_text())
    assert summary["failed_judgements"] == 1 and summary["judge_cost"] > 0
    assert (out / "llm_cache.db").exists()
    # a rerun is served from the cache and gives the same table
    res2 = runner.invoke(
        app,
        [
            "eval-dq",
            "-m",
            "actor-fake",
            "-d",
            str(dq_export),
            "-j",
            "judge-a",
            "--roster",
            str(roster_file),
            "-o",
            str(out),
            "-q",
        ],
    )
    assert res2.exit_code == 0 and list(csv.reader((out / "results.csv").open())) == rows


def test_cli_local_model_replies(dq_export: Path, roster_file: Path, tiny_llama: Path, tmp_path: Path) -> None:
    out = tmp_path / "dq-local"
    replies = run_local_model_eval("eval-dq", tiny_llama, dq_export, roster_file, out)
    assert len(replies) == 8 and all(r["model"] == tiny_llama.name and r["error"] is None for r in replies)
    md = (out / "results.md").read_text()
    assert "| tiny |" in md and "Krippendorff" in md


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--judge", "judge-a", "--judges", "judge-a,judge-b"], "exactly one of --judge"),
        (["--judge", "nobody"], "nobody"),
        (["--judges", "judge-a,judge-a"], "distinct"),
    ],
)
def test_cli_user_errors(dq_export: Path, roster_file: Path, args: list[str], message: str) -> None:
    res = runner.invoke(
        app, ["eval-dq", "-m", "actor-fake", "-d", str(dq_export), "--roster", str(roster_file), "-q", *args]
    )
    assert res.exit_code == 2 and message in res.output


def test_unknown_model_and_bad_rows(dq_export: Path, roster_file: Path, tmp_path: Path) -> None:
    res = runner.invoke(
        app, ["eval-dq", "-m", "ghost", "-d", str(dq_export), "-j", "judge-a", "--roster", str(roster_file), "-q"]
    )
    assert res.exit_code == 2 and "ghost: neither a local model folder nor a roster entry" in res.output
    bad = tmp_path / "bad.jsonl"
    from tests.training.evaluation.helpers import dq_rows

    rows = dq_rows()
    rows[1]["dimension"] = "charisma"
    bad.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(EvaluationInputError, match=r"row 1: field 'dimension': .* \(got 'charisma'\)"):
        load_dialogue_quality(bad)
    rows[1]["dimension"] = "knowledge"
    del rows[2]["context"][0]["text"]
    bad.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(EvaluationInputError, match=r"row 2: field 'context.0.text'"):
        load_dialogue_quality(bad)


def test_cli_bad_row_is_one_line_naming_file_row_and_field(roster_file: Path, tmp_path: Path) -> None:
    from tests.training.evaluation.helpers import dq_rows

    rows = dq_rows()
    rows[3]["criteria"] = []
    bad = tmp_path / "dq.jsonl"
    bad.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    out = tmp_path / "run"
    res = runner.invoke(
        app,
        ["eval-dq", "-m", "actor-fake", "-d", str(bad), "-j", "judge-a", "--roster", str(roster_file), "-o", str(out)],
    )
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and "Traceback" not in res.output
    assert str(bad) in lines[0] and "row 3: field 'criteria'" in lines[0]
    assert not out.exists()

"""`charm-build judge` against the local fake server: stored scores, exact margin_judge in the export,
retries of unparseable answers, and reruns that cost nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from datasets import load_from_disk

from charm_builder.judge import PROMPT_VERSION, parse_score
from schemas import CandidateSet, JudgeScore
from tests.charm_builder.judge.helpers import JUDGE, export_cli, scripted_score, write_judge_roster
from tests.helpers import run_cli
from tests.training.rm.helpers import train_one_margin_step


def _judge(ws, roster: Path, *extra: str):
    res = run_cli("judge", "--roster", str(roster), "--judge", JUDGE, *extra, workspace=ws.root)
    assert res.returncode == 0, res.stderr
    return res


def _new_calls(res) -> int:
    return int(re.search(r"new calls (\d+)", res.stdout).group(1))


def _text(cset: CandidateSet, label: str) -> str:
    return cset.by_label(label).text


def _export_pairs(workspace, out):
    """Every judged pair (`--pairs all`, no GRPO split) exported to ``out``; the train split."""
    export_cli(workspace, out, "--subset", "preferenceTraining", "--pairs", "all")
    return load_from_disk(str(out / "preferenceTraining"))["train"]


def test_parse_score_accepts_common_forms_and_rejects_the_rest():
    assert [
        parse_score(t)
        for t in ("Score: 7", "**Rating**: 7.5", "score：9", "8/10", "I give it 6 out of 10", " 4 ", "The reply is 10.")
    ] == [7, 7.5, 9, 8, 6, 4, 10]
    assert [parse_score(t) for t in ("", "good", "Score: 0", "Score: 11", "between 3 and 5")] == [None] * 5


def test_judge_scores_export_margins_and_reruns_are_free(workspace, built, judge_server, tmp_path):
    roster = write_judge_roster(tmp_path / "judge.yaml", judge_server.openai_base_url)
    annotated = {
        r[0]
        for r in workspace.conn.execute("SELECT DISTINCT candidate_set_id FROM annotations WHERE status = 'submitted'")
    }
    n_candidates = 6 * len(annotated)
    res = _judge(workspace, roster)
    # one call per candidate, plus one re-ask each for 'd2 reply C' (prose first) and 'd7 reply D' (no score)
    assert judge_server.chat_count() == n_candidates + 2 and _new_calls(res) == n_candidates + 2
    scores = {(s.candidate_set_id, s.label): s for s in workspace.iter(JudgeScore)}
    assert {k[0] for k in scores} == annotated and len(scores) == n_candidates
    d2, d7 = built.sets["d2"], built.sets["d7"]
    assert scores[(d2.id, "C")].score == scripted_score("d2 reply C") and scores[(d2.id, "C")].attempts == 2
    unparsed = scores[(d7.id, "D")]
    assert (unparsed.score, unparsed.raw, unparsed.attempts) == (None, "I cannot decide.", 2)
    assert all(s.prompt_version == PROMPT_VERSION and s.judge_model_id == "judge-model-v1" for s in scores.values())
    assert sum(s.cost_usd for s in scores.values()) > 0
    assert "unparseable 1" in res.stdout and "run the same command again" in res.stdout

    # rerun: only the unparsed candidate is asked again (new seed = new cache key); then nothing at all
    res = _judge(workspace, roster)
    assert _new_calls(res) == 1 and judge_server.chat_count() == n_candidates + 3
    assert workspace.get(JudgeScore, unparsed.id).score == scripted_score("d7 reply D")
    res = _judge(workspace, roster)
    assert _new_calls(res) == 0 and judge_server.chat_count() == n_candidates + 3
    assert f"already scored {n_candidates}" in res.stdout

    # the LLM cache alone makes reruns free: wipe the scores and replay both runs without one request
    before = {s.id: s.score for s in workspace.iter(JudgeScore)}
    with workspace.transaction() as conn:
        conn.execute("DELETE FROM judge_scores")
    res = _judge(workspace, roster)
    assert judge_server.chat_count() == n_candidates + 3 and _new_calls(res) == 0
    assert {s.id: s.score for s in workspace.iter(JudgeScore)} == {**before, unparsed.id: None}  # cached answer
    res = _judge(workspace, roster)
    assert judge_server.chat_count() == n_candidates + 3 and _new_calls(res) == 0
    assert {s.id: s.score for s in workspace.iter(JudgeScore)} == before

    # export: margin_judge = score(chosen) - score(rejected), exactly, for every pair
    out = tmp_path / "exp"
    train = _export_pairs(workspace, out)
    assert len(train) > 10
    for row in train:
        expected = scripted_score(row["chosen"][0]["content"]) - scripted_score(row["rejected"][0]["content"])
        assert row["margin_judge"] == expected, row["id"]
    assert {row["margin_judge"] for row in train} & {v for v in range(-9, 0)}  # the judge disagrees sometimes
    card = (out / "preferenceTraining" / "README.md").read_text()
    assert (
        f"**margin_judge:** judge `{JUDGE}` (prompt {PROMPT_VERSION}), {len(train)} pairs with a margin, 0 without"
        in card
    )


def test_all_flag_scores_unannotated_sets_and_budget_stops(workspace, built, judge_server, tmp_path):
    roster = write_judge_roster(tmp_path / "judge.yaml", judge_server.openai_base_url)
    res = _judge(workspace, roster, "--budget-usd", "0.0001", "--concurrency", "1")
    assert "budget reached" in res.stdout
    partial = workspace.count(JudgeScore)
    assert 0 < partial < 6 * 11
    _judge(workspace, roster, "--all")
    scored = {s.candidate_set_id for s in workspace.iter(JudgeScore)}
    assert built.sets["d11"].id in scored and len(scored) == len(built.sets)


def test_general_rubric_is_stored_and_asked_apart_from_role_play(workspace, built, judge_server, tmp_path):
    roster = write_judge_roster(tmp_path / "judge.yaml", judge_server.openai_base_url)
    _judge(workspace, roster)
    role_play = {s.id: s.score for s in workspace.iter(JudgeScore)}
    n = len(role_play)
    res = _judge(workspace, roster, "--rubric", "general")
    # every candidate asked again under the new rubric (role-play scores do not count as done); only
    # 'd2 reply C' needs its re-ask ('d7 reply D' used up its stubborn answers in the role-play run)
    assert _new_calls(res) == n + 1 and "(prompt v2-general)" in res.stdout
    general = [s for s in workspace.iter(JudgeScore) if s.prompt_version == "v2-general"]
    assert len(general) == n and all(s.score is not None for s in general)
    assert {s.id: s.score for s in workspace.iter(JudgeScore) if s.prompt_version == PROMPT_VERSION} == role_play
    assert _new_calls(_judge(workspace, roster, "--rubric", "general")) == 0


def test_unknown_judge_is_one_line_exit_2(workspace, built, judge_server, tmp_path):
    roster = write_judge_roster(tmp_path / "judge.yaml", judge_server.openai_base_url)
    res = run_cli("judge", "--roster", str(roster), "--judge", "nope", workspace=workspace.root)
    assert res.returncode == 2 and len(res.stderr.strip().splitlines()) == 1 and "nope" in res.stderr
    assert judge_server.chat_count() == 0 and workspace.count(JudgeScore) == 0


@pytest.mark.slow
def test_rm_trains_on_judge_margin_export(workspace, built, judge_server, tmp_path, tiny_llama):
    roster = write_judge_roster(tmp_path / "judge.yaml", judge_server.openai_base_url)
    _judge(workspace, roster)
    _judge(workspace, roster)  # the stubborn candidate gets its score on the second run
    out = tmp_path / "exp"
    train = _export_pairs(workspace, out)
    rm = tmp_path / "rm"
    meta, step = train_one_margin_step(
        out / "preferenceTraining", rm, tiny_llama, len(train), "--margin-source", "judge"
    )
    assert step["margin_mean"] == pytest.approx(sum(train["margin_judge"]) / len(train), abs=1e-5)
    assert meta["train_config"]["margin_column"] == "margin_judge"


def test_choose_judge_defaults_to_the_most_scores_and_rejects_unknown():
    import polars as pl

    from charm_builder.export.judge_margin import choose_judge
    from charm_kernel.errors import CharmError

    rows = [
        ("s1", "A", "big", "v1", 5.0),
        ("s1", "B", "big", "v1", 7.0),
        ("s1", "A", "small", "v1", 3.0),
        ("s1", "B", "small", "v1", None),
        ("s1", "C", "small", "v1", None),
    ]
    frame = pl.DataFrame(rows, schema=["candidate_set_id", "label", "judge", "prompt_version", "score"], orient="row")
    assert choose_judge(frame, None) == ("big", "v1")  # unparsed scores do not count
    assert choose_judge(frame, "small") == ("small", "v1")
    with pytest.raises(CharmError, match="--judge 'gpt': no judge scores in the workspace \\(judges: big, small\\)"):
        choose_judge(frame, "gpt")
    assert choose_judge(frame.clear(), None) is None
    # a general-rubric run with more scores does not displace the role-play scores
    general = pl.DataFrame([("s1", lab, "big", "v2-general", 4.0) for lab in "ABCD"], schema=frame.schema, orient="row")
    assert choose_judge(pl.concat([frame, general]), None) == ("big", "v1")
    assert choose_judge(general, None) == ("big", "v2-general")

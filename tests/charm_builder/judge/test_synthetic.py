"""Synthetic annotations from judge scores: picks, provenance, stats apart, exports only on request,
and the annotator-vs-judge agreement of `annotate report`."""

from __future__ import annotations

import asyncio
import json

import pytest
from datasets import load_from_disk

from annotation.report import build_report, judge_agreement
from charm_builder.judge import PROMPT_VERSION, judge_picks, pick, run_judge, synthetic_annotations
from charm_builder.llm import LLMClient
from schemas import Annotation, CandidateSet, JudgeScore
from tests.charm_builder.judge.helpers import JUDGE, export_cli, scripted_score, write_judge_roster
from tests.helpers import run_cli


def _score_all(ws, srv, tmp_path) -> None:
    roster = write_judge_roster(tmp_path / "judge.yaml", srv.openai_base_url)

    async def go() -> None:
        async with LLMClient(str(roster), db=ws.db_path, run_id="t") as client:
            for _ in range(2):  # the second pass scores the stubborn candidate
                await run_judge(ws, client, JUDGE, all_sets=True, progress=False)

    asyncio.run(go())


def test_pick_is_highest_and_lowest_with_stable_unbiased_ties():
    assert pick("s", {"A": 3, "B": 9, "C": 1}) == pick("s", {"C": 1, "B": 9, "A": 3})
    p = pick("s", {"A": 3, "B": 9, "C": 1})
    assert (p.best, p.worst, p.best_score, p.worst_score) == ("B", "C", 9, 1)
    assert pick("s", {"A": 5}) is None
    all_equal = [pick(f"set{i}", {"A": 5, "B": 5, "C": 5}) for i in range(30)]
    assert all(p.best != p.worst and p.tied for p in all_equal) and not pick("s", {"A": 3, "B": 9}).tied
    assert {p.best for p in all_equal} == {p.worst for p in all_equal} == {"A", "B", "C"}
    tied = {"A": 8, "B": 8, "C": 8, "D": 2, "E": 2, "F": 2}
    best_by_set = {pick(f"set{i}", tied).best for i in range(40)}
    worst_by_set = {pick(f"set{i}", tied).worst for i in range(40)}
    assert best_by_set == {"A", "B", "C"} and worst_by_set == {"D", "E", "F"}  # no label always wins a tie


def test_synthetic_annotations_never_pick_flagged_candidates(workspace, built, judge_server, tmp_path):
    flagged = built.sets["d11"].model_copy(deep=True)
    flagged.candidates[0].flags = ["duplicate"]  # A
    workspace.upsert(flagged)
    _score_all(workspace, judge_server, tmp_path)
    scores = {s.label: s.score for s in workspace.iter(JudgeScore, candidate_set_id=flagged.id)}
    rep = synthetic_annotations(workspace, JUDGE)
    assert rep.written == len(built.sets) and (rep.no_pick, rep.tied) == (0, 0)
    ann = workspace.get(
        Annotation, Annotation(candidate_set_id=flagged.id, annotator=f"judge:{JUDGE}", best="B", worst="C").id
    )
    eligible = {k: v for k, v in scores.items() if k != "A"}
    assert ann.best == max(eligible, key=eligible.get) and ann.worst == min(eligible, key=eligible.get)
    assert (ann.source, ann.status) == ("synthetic", "submitted")
    assert ann.provenance["judge"] == JUDGE and ann.provenance["prompt_version"] == PROMPT_VERSION
    assert ann.provenance["scores"] == scores
    # rerunning replaces, never duplicates
    synthetic_annotations(workspace, JUDGE)
    assert sum(a.source == "synthetic" for a in workspace.iter(Annotation)) == len(built.sets)


def test_stats_and_export_keep_synthetic_apart(workspace, built, judge_server, tmp_path):
    human = sum(1 for a in workspace.iter(Annotation))
    _score_all(workspace, judge_server, tmp_path)
    base = tmp_path / "before"
    export_cli(workspace, base, "--size", "2")
    res = run_cli("annotate", "synthetic", "--judge", JUDGE, workspace=workspace.root)
    assert res.returncode == 0, res.stderr
    assert f"{len(built.sets)} synthetic annotation(s) stored" in res.stdout

    stats = json.loads(run_cli("stats", "--json", workspace=workspace.root).stdout)
    assert stats["annotations"] == human and stats["synthetic_annotations"] == len(built.sets)
    assert stats["synthetic_annotations_by_judge"] == {f"judge:{JUDGE}": len(built.sets)}
    assert not any(k.startswith("judge:") for k in stats["annotations_by_annotator"])
    assert stats["candidate_sets_by_annotation_state"]["unannotated"] == 1  # d11: only the judge picked there
    assert stats["judge_scores"] == 6 * len(built.sets)

    # default export: byte-identical data to the export before the synthetic annotations existed
    default = tmp_path / "default"
    export_cli(workspace, default, "--size", "2")
    for subset in ("roleReward", "preferenceTraining"):
        for split in ("test",) if subset == "roleReward" else ("train",):
            a = load_from_disk(str(base / subset))[split].to_list()
            b = load_from_disk(str(default / subset))[split].to_list()
            assert a == b, subset
    card = (default / "preferenceTraining" / "README.md").read_text()
    assert f"{human - 2} human; {len(built.sets)} synthetic" in card and "excluded (export --include-synthetic)" in card

    # --include-synthetic: the judge counts as one more annotator; d11 (judge only) becomes a training pair
    incl = tmp_path / "incl"
    export_cli(workspace, incl, "--size", "2", "--include-synthetic")
    train = load_from_disk(str(incl / "preferenceTraining"))["train"]
    d11 = [r for r in train if r["candidate_set_id"] == built.sets["d11"].id]
    assert len(d11) == 1 and d11[0]["n_annotators"] == 1
    expected = scripted_score(d11[0]["chosen"][0]["content"]) - scripted_score(d11[0]["rejected"][0]["content"])
    assert d11[0]["margin_judge"] == expected > 0  # synthetic best/worst = the judge's own top and bottom
    before_ids = {r["candidate_set_id"] for r in load_from_disk(str(default / "preferenceTraining"))["train"]}
    assert built.sets["d11"].id not in before_ids
    assert "included as annotators" in (incl / "preferenceTraining" / "README.md").read_text()


def test_report_agreement_matches_a_hand_count(workspace, built, judge_server, tmp_path):
    _score_all(workspace, judge_server, tmp_path)
    synthetic_annotations(workspace, JUDGE)
    picks = {sid: (p.best, p.worst) for sid, p in judge_picks(workspace, JUDGE).items()}
    # hand count over the helper's votes: the judge's picks come from scripted_score
    sets = {s.id: s for s in workspace.iter(CandidateSet)}
    human = [a for a in workspace.iter(Annotation) if a.source == "human" and a.status == "submitted"]
    best_hits = worst_hits = 0
    for a in human:
        scores = {c.label: scripted_score(c.text) for c in sets[a.candidate_set_id].candidates}
        top, bottom = max(scores.values()), min(scores.values())
        assert list(scores.values()).count(top) == 1 and list(scores.values()).count(bottom) == 1  # no ties here
        best_hits += scores[a.best] == top
        worst_hits += scores[a.worst] == bottom
    assert 0 < best_hits < len(human) and 0 < worst_hits < len(human)  # a figure that can be wrong both ways
    agreement = judge_agreement(workspace.iter(Annotation), JUDGE, picks)
    assert (agreement.compared, agreement.best_matches, agreement.worst_matches) == (len(human), best_hits, worst_hits)
    report = build_report(list(workspace.iter(Annotation)), sets, {JUDGE: picks})
    assert report.synthetic_ignored == len(built.sets) and report.annotations == len(human)
    assert report.judges[0].best_share == pytest.approx(best_hits / len(human))
    res = run_cli("annotate", "report", workspace=workspace.root)
    assert res.returncode == 0, res.stderr
    assert f"{best_hits}/{len(human)}" in res.stdout and "Annotator vs judge agreement" in res.stdout

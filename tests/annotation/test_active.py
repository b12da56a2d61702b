"""`annotate next`: the strategies' score functions against hand-computed values, the ranking over
unannotated sets (synthetic judge picks do not count), RM strategies on a real tiny reward-model run,
and the CLI's one-line errors (exit 2, nothing written)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from annotation.active import (
    ActiveError,
    aam_margin_score,
    judge_disagreement_score,
    normalized_entropy,
    random_order,
    rank_candidate_sets,
    rm_uncertainty_score,
    softmax,
)
from charm_builder.judge import PROMPT_VERSION
from schemas import Annotation, JudgeScore
from tests.helpers import run_cli
from training.rm.set_scores import score_run

from .helpers import make_store

JUDGE = "judge-x"
# set index -> the judge's scores of A-F; set 4 has none
SCORES = {
    0: [10, 1, 1, 1, 1, 1],  # best sure, worst a five-way tie: (~0 + ln5/ln6) / 2 ~ 0.451
    1: [7, 7, 7, 7, 7, 7],  # nothing known: 1.0
    2: [9, 8, 5, 5, 2, 1],  # both picks fairly sure: ~0.398
    3: [8, 8, 8, 2, 2, 2],  # three-way ties at both ends: ~ln3/ln6 = 0.613 (+ a little)
}


def test_softmax_and_entropy_by_hand():
    assert softmax([0.0, math.log(3)]) == pytest.approx([0.25, 0.75])
    assert softmax([2.0, 0.0], temperature=2.0) == pytest.approx([math.e / (math.e + 1), 1 / (math.e + 1)])
    assert normalized_entropy([0.5, 0.5]) == pytest.approx(1.0)
    assert normalized_entropy([1.0, 0.0, 0.0]) == 0.0
    assert normalized_entropy([1.0]) == 0.0
    with pytest.raises(ValueError):
        softmax([1.0], temperature=0)


def test_judge_disagreement_score_by_hand():
    assert judge_disagreement_score([7] * 6) == pytest.approx(1.0)
    # two candidates 10 and 1: p(best=A) = 1/(1+e^-9); the worst pick is the mirror image
    p = 1 / (1 + math.exp(9))
    assert judge_disagreement_score([10, 1]) == pytest.approx(
        -(p * math.log(p) + (1 - p) * math.log(1 - p)) / math.log(2)
    )
    assert judge_disagreement_score([10, 1]) == pytest.approx(0.00178022, rel=1e-4)
    assert judge_disagreement_score(SCORES[0]) == pytest.approx(0.450912, rel=1e-4)
    assert judge_disagreement_score(SCORES[3]) == pytest.approx(0.622809, rel=1e-4)
    assert judge_disagreement_score(SCORES[3]) > math.log(3) / math.log(6)
    assert judge_disagreement_score([5]) == 0.0


def test_rm_uncertainty_and_aam_margin_by_hand():
    # rewards 0 and ln 3: softmax (1/4, 3/4), binary entropy 0.811278 bits
    assert rm_uncertainty_score([0.0, math.log(3)]) == pytest.approx(0.811278, rel=1e-5)
    assert rm_uncertainty_score([0.3] * 6) == pytest.approx(1.0)
    # top: -10 over 5 tokens = -2/token; bottom: -30 over 10 tokens = -3/token
    assert aam_margin_score(-10.0, 5, -30.0, 10) == pytest.approx(1.0)
    assert aam_margin_score(-10.0, 5, -30.0, 10, beta=0.5) == pytest.approx(0.5)
    assert aam_margin_score(-30.0, 10, -10.0, 5) == pytest.approx(-1.0)  # the LM head prefers the bottom one
    assert aam_margin_score(-4.0, 0, -4.0, 2) == pytest.approx(-2.0)  # a length is at least one token


def test_aam_margin_is_the_training_ld_margin():
    torch = pytest.importorskip("torch")
    from training.rm.losses import ld_margin

    t = torch.tensor
    ld = ld_margin(t([-10.0]), t([-30.0]), t([5]), t([10]), beta=0.7, reduction="mean")
    assert aam_margin_score(-10.0, 5, -30.0, 10, beta=0.7) == pytest.approx(float(ld[0]))


def test_random_order_is_seeded():
    ids = [f"cset-{i}" for i in range(20)]
    assert random_order(ids, 3) == random_order(reversed(ids), 3)
    assert random_order(ids, 3) != random_order(ids, 4)
    assert sorted(random_order(ids, 3)) == sorted(ids)


def _store_with_scores(root: Path):
    store, sets = make_store(root, n_sets=5)
    store.upsert_many(
        JudgeScore(
            candidate_set_id=sets[i].id, label=lab, judge=JUDGE, prompt_version=PROMPT_VERSION, score=s, raw=f"{s}"
        )
        for i, scores in SCORES.items()
        for lab, s in zip("ABCDEF", scores, strict=True)
    )
    return store, sets


def test_ranking_excludes_human_annotated_sets_and_puts_unscored_last(tmp_path: Path):
    store, sets = _store_with_scores(tmp_path / "ws")
    ranking = rank_candidate_sets(store, "judge-disagreement", None)
    order = [sets.index(next(s for s in sets if s.id == r.candidate_set_id)) for r in ranking]
    assert order == [1, 3, 0, 2, 4]
    assert [r.rank for r in ranking] == [1, 2, 3, 4, 5]
    assert ranking[-1].score is None and "ranked last" in ranking[-1].why
    assert ranking[0].score == pytest.approx(1.0) and "A7 B7" in ranking[0].why
    # a human annotation takes set 1 out; a synthetic (judge) one does not take set 3 out; k cuts the list
    store.upsert(Annotation(candidate_set_id=sets[1].id, annotator="ann-1", best="A", worst="B"))
    store.upsert(
        Annotation(candidate_set_id=sets[3].id, annotator=f"judge:{JUDGE}", best="A", worst="F", source="synthetic")
    )
    store.upsert(Annotation(candidate_set_id=sets[0].id, annotator="ann-2", status="draft"))
    top = rank_candidate_sets(store, "judge-disagreement", 2)
    assert [r.candidate_set_id for r in top] == [sets[3].id, sets[0].id]
    shuffled = rank_candidate_sets(store, "random", None, seed=5)
    assert sorted(r.candidate_set_id for r in shuffled) == sorted(s.id for i, s in enumerate(sets) if i != 1)
    assert shuffled == rank_candidate_sets(store, "random", None, seed=5)


def test_ranking_errors(tmp_path: Path):
    store, sets = make_store(tmp_path / "ws", n_sets=2)
    with pytest.raises(ActiveError, match="no judge scores"):
        rank_candidate_sets(store, "judge-disagreement", 5)
    with pytest.raises(ActiveError, match="needs --rm RUN"):
        rank_candidate_sets(store, "aam-margin", 5)
    with pytest.raises(ActiveError, match="needs a reward-model scorer"):
        rank_candidate_sets(store, "aam-margin", 5, rm_run=tmp_path)
    with pytest.raises(ActiveError, match="--strategy must be one of"):
        rank_candidate_sets(store, "entropy", 5)
    with pytest.raises(ActiveError, match="not a charm reward model"):
        rank_candidate_sets(store, "rm-uncertainty", 5, rm_run=tmp_path, scorer=score_run)
    for s in sets:
        store.upsert(Annotation(candidate_set_id=s.id, annotator="ann-1", best="A", worst="B"))
    with pytest.raises(ActiveError, match="no unannotated candidate sets"):
        rank_candidate_sets(store, "random", 5)


@pytest.fixture(scope="module")
def tiny_rm_run(tiny_llama: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real (untrained) charm reward-model run on the tiny Llama: loads and scores like a trained one."""
    from training.rm.model import load_backbone

    run = tmp_path_factory.mktemp("tiny-rm")
    load_backbone(tiny_llama, seed=0).save(run)
    return run


def test_rm_strategies_score_every_candidate_with_the_run(tmp_path: Path, tiny_rm_run: Path):
    from annotation.active import set_prompt
    from training.rm.set_scores import load_run, score_candidates

    store, sets = make_store(tmp_path / "ws", n_sets=3)
    unc = rank_candidate_sets(store, "rm-uncertainty", None, rm_run=tiny_rm_run, scorer=score_run)
    aam = rank_candidate_sets(store, "aam-margin", None, rm_run=tiny_rm_run, scorer=score_run)
    assert (
        sorted(r.candidate_set_id for r in unc) == sorted(s.id for s in sets) == sorted(r.candidate_set_id for r in aam)
    )
    # recompute one set's figures from the model directly
    model = load_run(tiny_rm_run)
    cset = next(s for s in sets if s.id == aam[0].candidate_set_id)
    scored = score_candidates(model, [(set_prompt(store, cset), c.text) for c in cset.candidates], with_logps=True)
    rewards = [r for r, _, _ in scored]
    top, bottom = scored[rewards.index(max(rewards))], scored[rewards.index(min(rewards))]
    assert aam[0].score == pytest.approx(aam_margin_score(top[1], top[2], bottom[1], bottom[2]), rel=1e-4)
    assert [r.score for r in aam] == sorted(r.score for r in aam)  # smallest margin first
    assert [r.score for r in unc] == sorted((r.score for r in unc), reverse=True)  # most uncertain first
    u = next(r for r in unc if r.candidate_set_id == cset.id)
    assert u.score == pytest.approx(rm_uncertainty_score(rewards), rel=1e-4)
    # the export's prompt: the character's system prompt in the dialogue's language (make_store: odd sets zh)
    assert [set_prompt(store, s)[0]["content"] for s in sets] == [
        "You are Sun Wukong.",
        "你是孙悟空。",
        "You are Sun Wukong.",
    ]
    assert set_prompt(store, sets[0])[1:] == [
        {"role": "user" if t.role == "user" else "assistant", "content": t.text} for t in sets[0].context
    ]


def _one_line_error(res) -> str:
    assert res.returncode == 2, res.stdout + res.stderr
    assert "Traceback" not in res.stderr
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, res.stderr
    return lines[0]


def test_cli_ranks_writes_json_and_fails_in_one_line(tmp_path: Path):
    store, sets = _store_with_scores(tmp_path / "ws")
    out = tmp_path / "next.json"
    res = run_cli("annotate", "next", "--k", "3", "--out", str(out), workspace=store.root)
    assert res.returncode == 0, res.stderr
    data = json.loads(out.read_text())
    assert data["strategy"] == "judge-disagreement" and data["unannotated"] == 5 and data["unscored"] == 1
    assert [r["candidate_set_id"] for r in data["ranking"]] == [sets[1].id, sets[3].id, sets[0].id]
    assert sets[1].id in res.stdout and "1 could not be scored" in res.stdout

    missing = tmp_path / "missing.json"
    line = _one_line_error(
        run_cli("annotate", "next", "--strategy", "rm-uncertainty", "--out", str(missing), workspace=store.root)
    )
    assert "needs --rm RUN" in line
    not_rm = tmp_path / "not-a-run"
    not_rm.mkdir()
    line = _one_line_error(
        run_cli(
            "annotate",
            "next",
            "--strategy",
            "aam-margin",
            "--rm",
            str(not_rm),
            "--out",
            str(missing),
            workspace=store.root,
        )
    )
    assert str(not_rm) in line and "charm_rm.json" in line
    for s in sets:
        store.upsert(Annotation(candidate_set_id=s.id, annotator="ann-1", best="A", worst="B"))
    line = _one_line_error(
        run_cli("annotate", "next", "--strategy", "random", "--out", str(missing), workspace=store.root)
    )
    assert "no unannotated candidate sets" in line
    assert not missing.exists()

"""Self-evolution: pseudo-pair selection by hand, the unannotated pool, and one round on a tiny setup."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

import schemas as s
from charm_builder.export import ExportOptions, export_workspace
from training.rm.self_evolve import (
    SelfEvolveConfig,
    SelfEvolveError,
    UnlabelledSet,
    score_sets,
    select_pseudo_pairs,
    self_evolve,
    unlabelled_sets,
)


def uset(name: str, texts: list[str]) -> UnlabelledSet:
    return UnlabelledSet(
        f"cset_{name}",
        f"dlg_{name}",
        "chr_x",
        "en",
        None,
        [{"role": "system", "content": "sys"}, {"role": "user", "content": "hi"}],
        [(lab, f"m{lab}", t) for lab, t in zip("ABCDEF", texts, strict=False)],
    )


def test_select_pseudo_pairs_keeps_only_gaps_at_or_above_threshold():
    sets = [
        uset("a", ["x", "y", "z"]),
        uset("b", ["x", "y", "z"]),
        uset("c", ["x", "y", "z"]),
        uset("d", ["same", "same"]),
        uset("e", ["p", "q"]),
    ]
    scores = [[0.1, 2.0, -1.0], [0.5, 0.6, 0.4], [3.0, 3.0, 3.0], [5.0, -5.0], [1.0, 0.0]]
    rows = select_pseudo_pairs(sets, scores, threshold=1.0, round_=1, model="rm0")
    got = {r["candidate_set_id"]: r for r in rows}
    assert set(got) == {"cset_a", "cset_e"}  # b: gap 0.2, c: gap 0, d: identical texts; e: gap exactly 1.0
    a = got["cset_a"]
    assert a["chosen"] == [{"role": "assistant", "content": "y"}] and a["rejected"][0]["content"] == "z"
    assert (a["chosen_model"], a["rejected_model"]) == ("mB", "mC")
    assert a["pseudo_label"] is True and a["pseudo_round"] == 1 and a["pseudo_margin"] == pytest.approx(3.0)
    assert a["pseudo_model"] == "rm0" and a["prompt"][0] == {"role": "system", "content": "sys"}
    assert select_pseudo_pairs(sets, scores, threshold=3.5, round_=2) == []
    with pytest.raises(ValueError, match="2 candidates but 3 scores"):
        select_pseudo_pairs([sets[3]], [[1.0, 2.0, 3.0]], 0.0, 1)


def test_unlabelled_pool_skips_annotated_sets_and_excluded_dialogues(workspace, built):
    pool = unlabelled_sets(workspace)
    assert [built.name_of(p.dialogue_id) for p in pool] == ["d11"]  # the only set without submitted annotations
    d11 = pool[0]
    assert d11.prompt == [
        {"role": "system", "content": "You are Sherlock Holmes."},
        {"role": "user", "content": "d11 hello"},
        {"role": "assistant", "content": "d11 hi there"},
        {"role": "user", "content": "d11 tell me more"},
    ]
    assert [c[0] for c in d11.candidates] == list("ABCDEF")
    assert unlabelled_sets(workspace, exclude_dialogues={d11.dialogue_id}) == []


def add_unannotated(ws, built, n: int = 6) -> None:
    holmes = built.chars["c2"]
    for i in range(n):
        turns = [s.Message(role="user", speaker="Ann", text=f"u{i} question about case {i}")]
        dlg = s.Dialogue(character_id=holmes.id, language="en", turns=turns)
        ws.upsert(dlg)
        ws.upsert(
            s.CandidateSet(
                dialogue_id=dlg.id,
                context=turns,
                candidates=[
                    {"label": lab, "model_id": "m", "text": f"reply {lab} {i} " + "elementary " * (j + i % 3)}
                    for j, lab in enumerate("ABCD")
                ],
            )
        )


def test_eval_reads_charm_build_role_reward_turns():
    from training.rm.evaluate import context_messages

    row = {
        "system_prompt": "You are Link.",
        "context": [
            {"role": "user", "speaker": "Ann", "text": "hello"},
            {"role": "character", "speaker": "Link", "text": "hi"},
            {"role": "user", "speaker": "Ann", "text": "more"},
        ],
    }
    assert context_messages(row) == [
        {"role": "system", "content": "You are Link."},
        {"role": "user", "content": "hello"},
        {"role": "assistant", "content": "hi"},
        {"role": "user", "content": "more"},
    ]


@pytest.mark.slow
def test_one_round_adds_only_above_threshold_pairs(workspace, built, tiny_llama: Path, tmp_path: Path):
    from training.rm.trainer import RMTrainConfig, train_reward_model

    add_unannotated(workspace, built)
    export = tmp_path / "export"
    export_workspace(workspace, export, ExportOptions(size=4000, grpo_fraction=0.0, min_annotators=3))
    rm0 = tmp_path / "rm0"
    train_reward_model(
        RMTrainConfig(
            data=export / "preferenceTraining",
            output_dir=rm0,
            model=str(tiny_llama),
            max_steps=2,
            batch_size=4,
            lr=1e-3,
            max_length=96,
            seed=1,
        ),
        progress=False,
    )
    pool = unlabelled_sets(workspace)
    assert len(pool) == 7  # d11 + the 6 new sets (none is in the labelled or roleReward dialogues)
    gaps = sorted(max(sc) - min(sc) for sc in score_sets(rm0, pool, max_length=96))
    threshold = (gaps[3] + gaps[4]) / 2  # between the 4th and 5th gap: exactly 3 sets clear it
    expected = {
        p.candidate_set_id
        for p, sc in zip(pool, score_sets(rm0, pool, max_length=96), strict=True)
        if max(sc) - min(sc) >= threshold
    }
    assert len(expected) == 3

    out = tmp_path / "evolve"
    cfg = SelfEvolveConfig(
        workspace=workspace.root,
        data=export / "preferenceTraining",
        eval_data=export / "roleReward",
        output_dir=out,
        rounds=1,
        threshold=threshold,
        init_rm=rm0,
        max_steps=1,
        batch_size=4,
        lr=1e-3,
        max_length=96,
    )
    results = self_evolve(cfg, progress=False)
    assert [r.round for r in results] == [0, 1] and results[1].scored_sets == 7 and results[1].pseudo_pairs == 3
    data = pl.read_parquet(out / "round-1" / "train.parquet")
    pseudo = data.filter(pl.col("pseudo_label"))
    assert set(pseudo["candidate_set_id"]) == expected
    assert (pseudo["pseudo_margin"] >= threshold).all() and (pseudo["pseudo_round"] == 1).all()
    assert set(pseudo["pseudo_model"]) == {str(rm0)}
    assert data.filter(~pl.col("pseudo_label")).height == results[0].labelled == 4  # d5 d9 d10 d12
    assert (out / "round-1" / "model" / "charm_rm.json").exists()
    md = (out / "rounds.md").read_text()
    assert "| 0 | 4 | 0 | 0 |" in md and "| 1 | 4 | 3 | 7 |" in md
    with pytest.raises(SelfEvolveError, match="exists and is not an empty folder"):
        self_evolve(cfg, progress=False)

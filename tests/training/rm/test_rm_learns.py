"""`charm-train rm` learns: on a known-answer role-play set (training.rm.known_answer), a tiny random
2-layer model trained 40 steps ranks held-out pairs, on characters it never saw, far above chance and
far above itself before training, for the kinds a model that small can learn (a reply in the wrong
language, an off-topic turn: about 0.5 before, 1.0 after in every run seen). Telling a wrong name or a
wrong fact needs a real backbone: benchmarks/bench_rm_learning.py measures that on SmolLM2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from training.common.stats import bootstrap_ci
from training.rm.known_answer import KINDS, known_answer_sets

SURFACE = ("wrong-language", "off-topic")


def _correct(model, rows: list[dict]) -> list[float]:
    from training.rm.evaluate import score_pairs

    pairs = [(r["prompt"], r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in rows]
    return [float(c > r) for c, r in score_pairs(model, pairs, batch_size=16)]


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


@pytest.mark.slow
@pytest.mark.parametrize("loss", ["bt", "aam-ld"])
def test_tiny_model_learns_known_answers_on_unseen_characters(tmp_path: Path, tiny_llama: Path, loss: str) -> None:
    from training.rm.trainer import RewardModelTrainer, RMTrainConfig

    train, test = known_answer_sets(seed=3, heldout=8, per_kind=2, ambiguous=0)
    assert {r["kind"] for r in test} == set(KINDS)
    assert not {r["character"] for r in train} & {r["character"] for r in test}
    data = tmp_path / "train.jsonl"
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in train), encoding="utf-8")
    cfg = RMTrainConfig(
        data=data,
        output_dir=tmp_path / "rm",
        model=str(tiny_llama),
        loss=loss,
        lr=3e-3,
        batch_size=8,
        max_steps=40,
        warmup_ratio=0.0,
        max_length=160,
        seed=0,
        logging_steps=10,
    )
    surface = [r for r in test if r["kind"] in SURFACE]
    trainer = RewardModelTrainer(cfg, progress=False)
    before = _correct(trainer.model, surface)
    trainer.train()
    after = _correct(trainer.model, surface)

    lo, _ = bootstrap_ci(after, seed=0)
    assert len(after) == 32 and lo > 0.75, (_mean(after), lo)  # clearly above chance on unseen characters
    assert _mean(after) >= _mean(before) + 0.3, (_mean(before), _mean(after))  # learnt, not there at step 0
    assert _mean(_correct(trainer.model, test)) > 0.6  # and all kinds together stay above chance

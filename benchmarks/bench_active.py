"""Active annotation: does `annotate next` find the labels that teach the reward model most?

A simulation with the LLM judge as the oracle. A pool of role-play candidate sets is built through the
store API from the bundled character library (six replies per set, each of a known kind: the full answer
true to the card, a shorter true one, another character's name, another character's facts, the wrong
language, an off-topic turn), and a judge's 1-10 score per reply is stored as ``JudgeScore`` rows (the
kind's quality plus Gaussian noise, so some sets are clear and some are not). The judge's best/worst pick
(``charm_builder.judge.pick``) is the label an annotator would give. Characters are split: held-out sets
are on characters the pool never shows.

For each strategy (``annotation.active.rank_candidate_sets``, as ``charm-build annotate next`` runs it):
start from the same seeded random batch, then repeat: label the batch with the oracle (stored as human
annotations, so the next ranking skips them), train a reward model from scratch on every label so far
(the nine pairs a best/worst pick implies, ``export --pairs maxdiff``; ``training.rm`` with the same seed
and ``--epochs`` over the labelled pairs for every strategy, so more labels also mean more steps, as a lab
retraining on its labels would), measure held-out accuracy (the RM prefers the judge's best over its worst),
and pick the next batch with the strategy (``rm-uncertainty``/``aam-margin`` use the RM just trained).
The backbone is a tiny random 2-layer Llama with SmolLM2's tokenizer (``--model tiny``; it learns the
surface kinds in a few dozen steps) or ``--model offline`` (SmolLM2-135M, much slower). Everything is
repeated over ``--repeats`` seeds (pool, judge noise, initial batch, RM init) and averaged.

Prints a table of accuracy per strategy and label count, writes ``curves.png`` and ``results.json`` into
``--out``, and ends with ``labels_to_match_random_at_N=STRATEGY:n,...``: the fewest labels (on the batch
grid) at which each strategy's mean accuracy reaches random's at N labels (the largest count; ``>N``: not
reached).

Usage: PYTHONPATH=. python benchmarks/bench_active.py [--repeats 5] [--rounds 6] [--batch 8] [--epochs 3]

Measured here (2 cores, defaults: 5 repeats, 6 rounds of 8 sets, 3 epochs, tiny model; 817 s, 0.9 GB peak):
mean held-out accuracy (256 sets) at 8/16/24/32/40/48 labels — random 0.717 0.802 0.798 0.795 0.815 0.822;
rm-uncertainty 0.717 0.770 0.790 0.827 0.820 0.834; aam-margin 0.717 0.773 0.807 0.805 0.811 0.815;
judge-disagreement 0.717 0.726 0.812 0.789 0.810 0.802. Last line
``labels_to_match_random_at_48=judge-disagreement:>48,rm-uncertainty:32,aam-margin:>48,random:48``. The
differences (0.01-0.03) are within the spread across repeats (the shaded bands span about 0.1), and the tiny
model levels off near 0.83 (it learns the language and off-topic kinds, not names or facts), so this run
does not show a strategy clearly beating random. Judge-disagreement picks the sets the judge is least sure
of, whose oracle labels are also the noisiest, and trails random early on.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotation.active import STRATEGIES, eligible_labels, rank_candidate_sets, set_prompt
from charm_builder.judge import PROMPT_VERSION, pick
from charm_builder.store import Workspace
from schemas import (
    Annotation,
    Candidate,
    CandidateSet,
    Character,
    Dialogue,
    JudgeScore,
    Localized,
    Message,
)
from training.rm.known_answer import OFF_TOPIC, OPENERS, QUESTIONS, Card, library_cards
from training.rm.set_scores import score_run
from training.rm.tiny_model import save_tiny_llama

#: Reply kinds and the judge's mean score for each (its scores add Gaussian noise, then clip to 1-10).
KIND_QUALITY = {
    "full": 8.5,
    "short": 6.5,
    "other-name": 4.0,
    "contradicted-fact": 3.5,
    "wrong-language": 2.5,
    "off-topic": 1.5,
}
JUDGE = "sim-judge"


def reply(kind: str, card: Card, other: Card, rng: random.Random) -> str:
    """One reply of ``kind`` for ``card`` (``other``: the character whose name/facts a wrong reply borrows)."""
    opener = rng.choice(OPENERS)
    if kind == "full":
        return f"{opener}I'm {card.name}, from {card.source}. {card.description}"
    if kind == "short":
        return f"{opener}I'm {card.name}. {card.description}"
    if kind == "other-name":
        return f"{opener}I'm {other.name}, from {card.source}. {card.description}"
    if kind == "contradicted-fact":
        return f"{opener}I'm {card.name}, from {other.source}. {other.description}"
    if kind == "wrong-language":
        return f"我是{card.name_zh}，来自《{card.source_zh}》。{card.description_zh}"
    return f"{opener}I'm {card.name}. {rng.choice(OFF_TOPIC)}"


@dataclass
class SimSet:
    """A candidate set with its judge scores (label -> 1-10) and the judge's pick."""

    cset: CandidateSet
    scores: dict[str, float]
    best: str
    worst: str
    system: str


def build_sets(cards: list[Card], others: list[Card], per_card: int, noise: float, rng: random.Random) -> list[Any]:
    """``per_card`` six-reply sets per card: records (character, dialogue, set) and :class:`SimSet` s."""
    records: list[Any] = []
    sims: list[SimSet] = []
    kinds = list(KIND_QUALITY)
    for card in cards:
        character = Character(
            name=Localized(en=card.name, zh=card.name_zh),
            sub_category="custom",
            source=Localized(en=card.source, zh=card.source_zh),
            profile=Localized(en=card.description, zh=card.description_zh),
            system_prompt=Localized(en=card.system_prompt(), zh=card.system_prompt()),
        )
        records.append(character)
        pool = [c for c in others if c.name != card.name]
        for j in range(per_card):
            turns = [Message(role="user", speaker="User", text=f"{rng.choice(QUESTIONS)} ({j})")]
            dialogue = Dialogue(
                character_id=character.id, language="en", turns=turns, target_dimension="knowledge_consistency"
            )
            chosen: list[str] = []
            texts: list[str] = []
            while len(texts) < 6:  # kinds drawn with replacement; a repeat needs a text of its own
                kind = rng.choice(kinds)
                text = reply(kind, card, rng.choice(pool), rng)
                if text not in texts:
                    chosen.append(kind)
                    texts.append(text)
            cset = CandidateSet(
                dialogue_id=dialogue.id,
                context=turns,
                candidates=[
                    Candidate(label=lab, model_id=f"sim-{kind}", text=text)
                    for lab, kind, text in zip("ABCDEF", chosen, texts, strict=True)
                ],
            )
            scores = {
                lab: float(min(10, max(1, round(KIND_QUALITY[kind] + rng.gauss(0, noise)))))
                for lab, kind in zip("ABCDEF", chosen, strict=True)
            }
            p = pick(cset.id, scores)
            assert p is not None
            records += [dialogue, cset]
            sims.append(SimSet(cset, scores, p.best, p.worst, card.system_prompt()))
    return [records, sims]


def judge_rows(sims: list[SimSet]) -> list[JudgeScore]:
    return [
        JudgeScore(candidate_set_id=s.cset.id, label=lab, judge=JUDGE, prompt_version=PROMPT_VERSION, score=v)
        for s in sims
        for lab, v in s.scores.items()
    ]


def maxdiff_rows(store: Workspace, sims: dict[str, SimSet], labelled: list[str]) -> list[dict[str, Any]]:
    """The nine pairs each best/worst label implies (best over every other reply, every middle one over worst)."""
    rows = []
    for sid in labelled:
        s = sims[sid]
        prompt = set_prompt(store, s.cset)
        text = {c.label: c.text for c in s.cset.candidates}
        labels = eligible_labels(s.cset)
        pairs = [(s.best, lab) for lab in labels if lab != s.best]
        pairs += [(lab, s.worst) for lab in labels if lab not in (s.best, s.worst)]
        for chosen, rejected in pairs:
            rows.append(
                {
                    "prompt": prompt,
                    "chosen": [{"role": "assistant", "content": text[chosen]}],
                    "rejected": [{"role": "assistant", "content": text[rejected]}],
                }
            )
    return rows


def train_rm(rows: list[dict[str, Any]], out: Path, args: argparse.Namespace, seed: int) -> Any:
    """Train a reward model from scratch on ``rows`` with training.rm: ``--epochs`` passes over the pairs
    (at least one step), the same seed for every strategy."""
    from training.rm.trainer import RewardModelTrainer, RMTrainConfig

    data = out.with_suffix(".jsonl")
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    cfg = RMTrainConfig(
        data=data,
        output_dir=out,
        model=args.model_dir,
        loss=args.loss,
        lr=args.lr,
        batch_size=8,
        max_steps=max(1, math.ceil(args.epochs * len(rows) / 8)),
        epochs=1000.0,  # max_steps decides
        warmup_ratio=0.0,
        max_length=args.max_length,
        seed=seed,
        logging_steps=1000,
    )
    trainer = RewardModelTrainer(cfg, progress=False)
    trainer.train()
    return trainer.model


def heldout_accuracy(model: Any, heldout: list[SimSet], max_length: int) -> float:
    """Share of held-out sets whose judge-best reply the RM scores above the judge-worst one (ties: half)."""
    from training.rm.evaluate import score_pairs

    text = [{c.label: c.text for c in s.cset.candidates} for s in heldout]
    pairs = [
        (
            [{"role": "system", "content": s.system}, {"role": "user", "content": s.cset.context[-1].text}],
            t[s.best],
            t[s.worst],
        )
        for s, t in zip(heldout, text, strict=True)
    ]
    scored = score_pairs(model, pairs, batch_size=16, max_length=max_length)
    return sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in scored) / len(scored)


def run_strategy(
    strategy: str,
    base: Path,
    work: Path,
    sims: dict[str, SimSet],
    heldout: list[SimSet],
    first: list[str],
    args: argparse.Namespace,
    seed: int,
) -> list[tuple[int, float]]:
    """Accuracy after each round for one strategy: [(labels, accuracy), ...]."""
    root = work / strategy
    shutil.copytree(base, root)
    store = Workspace.open(root)
    labelled: list[str] = []
    batch = list(first)
    curve = []
    for rnd in range(args.rounds):
        store.upsert_many(
            Annotation(candidate_set_id=sid, annotator="oracle", best=sims[sid].best, worst=sims[sid].worst)
            for sid in batch
        )
        labelled += batch
        run = root / f"rm-{rnd}"
        model = train_rm(maxdiff_rows(store, sims, labelled), run, args, seed)
        curve.append((len(labelled), heldout_accuracy(model, heldout, args.max_length)))
        if rnd + 1 < args.rounds:
            ranked = rank_candidate_sets(
                store, strategy, args.batch, rm_run=run, seed=seed * 1000 + rnd, scorer=score_run
            )
            batch = [r.candidate_set_id for r in ranked]
        if rnd > 0:
            shutil.rmtree(root / f"rm-{rnd - 1}", ignore_errors=True)
    store.close()
    return curve


def labels_to_match(curves: dict[str, list[tuple[int, float]]]) -> tuple[int, dict[str, str]]:
    """N (random's last label count) and, per strategy, the fewest labels reaching random's accuracy at N."""
    n, target = curves["random"][-1]
    out = {}
    for strategy, curve in curves.items():
        hit = next((labels for labels, acc in curve if acc >= target - 1e-9), None)
        out[strategy] = str(hit) if hit is not None else f">{n}"
    return n, out


def plot(
    curves: dict[str, list[tuple[int, float]]], spread: dict[str, list[tuple[float, float]]], path: Path, title: str
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for strategy, curve in curves.items():
        xs, ys = [c[0] for c in curve], [c[1] for c in curve]
        line = ax.plot(xs, ys, marker="o", label=strategy, linestyle="--" if strategy == "random" else "-")[0]
        lo, hi = [s[0] for s in spread[strategy]], [s[1] for s in spread[strategy]]
        ax.fill_between(xs, lo, hi, color=line.get_color(), alpha=0.12)
    ax.set_xlabel("labelled candidate sets (judge best/worst as oracle)")
    ax.set_ylabel("held-out accuracy (best > worst)")
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--strategies", default=",".join(STRATEGIES), help="comma-separated (random is always run)")
    ap.add_argument("--repeats", type=int, default=5, help="seeds (pool, judge noise, first batch, RM init)")
    ap.add_argument("--rounds", type=int, default=6, help="label batches per strategy")
    ap.add_argument("--batch", type=int, default=8, help="candidate sets labelled per round")
    ap.add_argument("--epochs", type=float, default=3.0, help="passes over the labelled pairs per RM (8 pairs a step)")
    ap.add_argument("--lr", type=float, default=3e-3, help="learning rate (3e-3 for the tiny model; ~1e-5 for SmolLM2)")
    ap.add_argument("--loss", default="bt", help="charm-train rm loss of the simulated RMs")
    ap.add_argument("--per-card", type=int, default=8, help="candidate sets per character")
    ap.add_argument("--heldout-cards", type=int, default=8, help="characters kept for evaluation")
    ap.add_argument("--heldout-per-card", type=int, default=32, help="held-out candidate sets per held-out character")
    ap.add_argument("--noise", type=float, default=1.5, help="s.d. of the judge's score noise")
    ap.add_argument("--max-length", type=int, default=160)
    ap.add_argument("--model", default="tiny", help="tiny, offline (SmolLM2-135M) or a HF causal-LM folder")
    ap.add_argument("--out", type=Path, default=ROOT / "test-output" / "bench_active")
    args = ap.parse_args()

    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import torch
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # one line per strategy and repeat, not a bar per model save/load
    torch.set_num_threads(2)
    strategies = [s for s in args.strategies.split(",") if s]
    if "random" not in strategies:
        strategies.append("random")
    unknown = sorted(set(strategies) - set(STRATEGIES))
    if unknown:
        sys.exit(f"--strategies: unknown {', '.join(unknown)}; choose from {', '.join(STRATEGIES)}")
    args.out.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    all_curves: dict[str, list[list[tuple[int, float]]]] = {s: [] for s in strategies}
    with tempfile.TemporaryDirectory(prefix="bench-active-") as tmp:
        work = Path(tmp)
        args.model_dir = str(save_tiny_llama(work / "tiny") if args.model == "tiny" else args.model)
        cards = library_cards()
        for rep in range(args.repeats):
            rng = random.Random(rep)
            order = list(cards)
            rng.shuffle(order)
            held_cards, pool_cards = order[: args.heldout_cards], order[args.heldout_cards :]
            pool_records, pool = build_sets(pool_cards, pool_cards, args.per_card, args.noise, rng)
            _, heldout = build_sets(held_cards, cards, args.heldout_per_card, args.noise, rng)
            base = work / f"rep{rep}" / "base"
            store = Workspace.create(base)
            store.upsert_many(pool_records)
            store.upsert_many(judge_rows(pool))
            store.close()
            sims = {s.cset.id: s for s in pool}
            first = random.Random(10_000 + rep).sample(sorted(sims), args.batch)
            for strategy in strategies:
                t0 = time.perf_counter()
                curve = run_strategy(strategy, base, work / f"rep{rep}", sims, heldout, first, args, seed=rep)
                all_curves[strategy].append(curve)
                accs = " ".join(f"{acc:.3f}" for _, acc in curve)
                print(f"repeat {rep} {strategy:<19} {accs}  ({time.perf_counter() - t0:.0f}s)", flush=True)
            shutil.rmtree(work / f"rep{rep}", ignore_errors=True)
    grid = [labels for labels, _ in all_curves["random"][0]]
    mean = {
        s: [(grid[i], sum(c[i][1] for c in cs) / len(cs)) for i in range(len(grid))] for s, cs in all_curves.items()
    }
    spread = {
        s: [(min(c[i][1] for c in cs), max(c[i][1] for c in cs)) for i in range(len(grid))]
        for s, cs in all_curves.items()
    }
    n, needed = labels_to_match(mean)
    print()
    print(f"held-out accuracy (mean of {args.repeats} repeats; pool {len(pool)} sets, held-out {len(heldout)} sets)")
    print(f"{'labels':>8} " + " ".join(f"{s:>19}" for s in strategies))
    for i, labels in enumerate(grid):
        print(f"{labels:>8} " + " ".join(f"{mean[s][i][1]:>19.3f}" for s in strategies))
    png = args.out / "curves.png"
    title = (
        f"annotate next: {args.repeats} repeats, batch {args.batch}, {args.epochs:g} epochs/RM, "
        f"model {args.model}, judge noise {args.noise}"
    )
    plot(mean, spread, png, title)
    result = {
        "settings": {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
        "curves": {s: [[list(p) for p in c] for c in cs] for s, cs in all_curves.items()},
        "mean": mean,
        "labels_to_match_random": {"n": n, **needed},
        "seconds": round(time.perf_counter() - started, 1),
    }
    (args.out / "results.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {png} and {args.out / 'results.json'} in {result['seconds']} s")
    print(f"labels_to_match_random_at_{n}=" + ",".join(f"{s}:{needed[s]}" for s in strategies))


if __name__ == "__main__":
    main()

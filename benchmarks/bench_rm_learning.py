"""Does `charm-train rm` learn? Held-out accuracy on a role-play preference set with known answers.

The set (``training.rm.known_answer``) is built from the bundled character library: the chosen reply
is true to the character's card, the rejected one breaks it in one known way (another character's
name, another character's origin and description, the wrong language, an off-topic turn), and a share
of pairs is ambiguous (both true to the card, one says more) with training labels flipped at a known
rate. Characters are split: evaluation is on characters never seen in training.

Each method (``bt``, ``aam-ld``, ``aam-pr`` by default) trains the same backbone (the offline
SmolLM2-135M unless ``--model``) on the same pairs, seed and step budget, with `charm-train rm`'s own
defaults for everything not set here (lr, beta, warm-up, precision ``auto``). Each method runs in its
own process. Accuracy is reported per method for clean and ambiguous held-out pairs and per kind,
each with a 95% percentile bootstrap interval over pairs. The last line is
``heldout_acc_bt=X heldout_acc_aam_ld=Y heldout_acc_aam_pr=Z steps=N`` (clean held-out pairs).

Usage: PYTHONPATH=. python benchmarks/bench_rm_learning.py [--steps 30] [--lr 1e-5] [--methods bt,aam-ld]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from training.common.stats import bootstrap_ci
from training.rm.known_answer import AMBIGUOUS, KINDS, known_answer_sets


def write_jsonl(rows: list[dict], path: Path) -> Path:
    with path.open("w", encoding="utf-8") as fh:
        for row in rows:
            fh.write(json.dumps(row, ensure_ascii=False) + "\n")
    return path


def train_and_score(args: argparse.Namespace) -> None:
    """Child process: train one method, score the held-out pairs, write ``{"correct": [...], ...}``."""
    import torch

    from training.rm.evaluate import score_pairs
    from training.rm.model import load_reward_model
    from training.rm.trainer import RewardModelTrainer, RMTrainConfig

    work = Path(args.work)
    test = [json.loads(line) for line in (work / "test.jsonl").read_text(encoding="utf-8").splitlines()]
    settings = {"lr": args.lr} if args.lr else {}
    cfg = RMTrainConfig(
        data=work / "train.jsonl",
        output_dir=work / args.child,
        model=args.model,
        loss=args.child,
        max_steps=args.steps,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        lora_r=args.lora_r,
        max_length=256,
        logging_steps=10,
        precision=args.precision,
        **settings,
    )
    t0 = time.perf_counter()
    trainer = RewardModelTrainer(cfg, progress=False)
    if args.untrained:  # the same backbone and seeded head, before any step: the floor to beat
        model, steps, history = trainer.model.eval(), 0, []
    else:
        result = trainer.train()
        model, steps, history = load_reward_model(cfg.output_dir), result.steps, result.history
    train_s = time.perf_counter() - t0
    t1 = time.perf_counter()
    pairs = [(r["prompt"], r["chosen"][0]["content"], r["rejected"][0]["content"]) for r in test]
    with torch.autocast(
        "cpu", dtype=torch.bfloat16, enabled=args.precision == "bf16" and not torch.cuda.is_available()
    ):
        scores = score_pairs(model, pairs, batch_size=16)
    out = {
        "correct": [float(c > r) for c, r in scores],
        "steps": steps,
        "train_s": train_s,
        "eval_s": time.perf_counter() - t1,
        "final_loss": history[-1]["loss"] if history else None,
    }
    (work / f"{args.child}{'-untrained' if args.untrained else ''}.json").write_text(json.dumps(out), encoding="utf-8")


def summarise(test: list[dict], correct: list[float], seed: int) -> dict[str, tuple[float, float, float, int]]:
    """``group -> (accuracy, lo, hi, n)`` for clean, ambiguous and every kind."""
    groups: dict[str, list[float]] = defaultdict(list)
    for row, ok in zip(test, correct, strict=True):
        groups[row["kind"]].append(ok)
        if row["kind"] != AMBIGUOUS:
            groups["clean"].append(ok)
    out = {}
    for name in ("clean", AMBIGUOUS, *KINDS):
        vals = groups[name]
        lo, hi = bootstrap_ci(vals, seed=seed)
        out[name] = (sum(vals) / len(vals), lo, hi, len(vals))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="bt,aam-ld,aam-pr")
    ap.add_argument("--model", default="offline")
    ap.add_argument("--steps", type=int, default=30, help="optimizer steps per method (30 x 4 = 120 of the 560 pairs)")
    ap.add_argument("--epochs", type=float, default=1.0)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--lr", type=float, default=None, help="default: charm-train rm's (1e-5, the paper's)")
    ap.add_argument("--lora-r", type=int, default=0)
    ap.add_argument(
        "--precision",
        default=None,
        choices=("auto", "bf16", "fp32"),
        help="default: bf16 where the CPU computes bfloat16 natively (AVX512-BF16/AMX), else charm-train's auto",
    )
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--heldout", type=int, default=8, help="characters held out for evaluation (of 36)")
    ap.add_argument("--noise", type=float, default=0.3, help="label-flip rate of ambiguous training pairs")
    ap.add_argument("--work", default=None)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--untrained", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        train_and_score(args)
        return

    if args.precision is None:
        from charm_builder.llm.precision import native_bf16

        args.precision = "bf16" if native_bf16() else "auto"
    work = Path(args.work or tempfile.mkdtemp(prefix="bench-rm-learning-"))
    work.mkdir(parents=True, exist_ok=True)
    train, test = known_answer_sets(seed=args.seed, heldout=args.heldout, noise=args.noise)
    write_jsonl(train, work / "train.jsonl")
    write_jsonl(test, work / "test.jsonl")
    flipped = sum(r["flipped"] for r in train)
    n_amb = sum(r["kind"] == AMBIGUOUS for r in train)
    print(
        f"known-answer set: {len(train)} training pairs ({n_amb} ambiguous, {flipped} of them flipped), "
        f"{len(test)} held-out pairs on {args.heldout} unseen characters; precision {args.precision}; work dir {work}",
        flush=True,
    )
    methods = [m.strip() for m in args.methods.split(",") if m.strip()]
    results: dict[str, dict] = {}
    t0 = time.perf_counter()
    for method in ["untrained", *methods]:
        loss = methods[0] if method == "untrained" else method
        cmd = [sys.executable, __file__, "--child", loss, "--work", str(work)]
        cmd += ["--untrained"] if method == "untrained" else []
        for opt in ("model", "steps", "epochs", "batch_size", "lr", "lora_r", "seed", "precision"):
            value = getattr(args, opt)
            if value is not None:
                cmd += [f"--{opt.replace('_', '-')}", str(value)]
        subprocess.run(cmd, check=True, cwd=ROOT)
        name = f"{loss}-untrained" if method == "untrained" else method
        results[method] = json.loads((work / f"{name}.json").read_text(encoding="utf-8"))
        r = results[method]
        print(f"{method}: {r['steps']} steps, train {r['train_s']:.0f} s, eval {r['eval_s']:.0f} s", flush=True)
    total_s = time.perf_counter() - t0

    print(f"\nheld-out accuracy (95% bootstrap interval, {len(test)} pairs on unseen characters):")
    header = f"{'method':8s} " + " ".join(f"{g:>22s}" for g in ("clean", AMBIGUOUS, *KINDS))
    print(header)
    summaries = {}
    for method in ["untrained", *methods]:
        s = summarise(test, results[method]["correct"], args.seed)
        summaries[method] = s
        cells = [f"{acc:.3f} [{lo:.2f},{hi:.2f}] n={n}" for acc, lo, hi, n in s.values()]
        print(f"{method:8s} " + " ".join(f"{c:>22s}" for c in cells))
    print(f"total {total_s:.0f} s for {len(methods)} method(s)")
    steps = max(results[m]["steps"] for m in methods)
    print(
        " ".join(f"heldout_acc_{m.replace('-', '_')}={summaries[m]['clean'][0]:.3f}" for m in methods)
        + f" steps={steps}"
    )


if __name__ == "__main__":
    main()

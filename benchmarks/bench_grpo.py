"""GRPO on this machine, tiny setting: wall time per step, and RM reward before/after on held-out prompts.

Builds a small role-play preferenceTraining export (Sherlock Holmes prompts; 4 GRPO prompts for
training, 4 disjoint held-out prompts), trains a reward model on SmolLM2-135M with ``training.rm``
for ``--rm-steps`` BT steps (or reuses ``--rm DIR``), measures the mean RM reward of the SmolLM2
policy's greedy replies on the held-out prompts, runs ``--steps`` GRPO steps (group size 2, 2 prompts
per step, ``--max-new`` new tokens), and measures the held-out reward again.

    PYTHONPATH=. python benchmarks/bench_grpo.py [--steps 3] [--rm-steps 4] [--max-new 16] [--lr 1e-5]

Step time excludes model loading; step 1 (warm-up) is reported separately. The machine is shared, so
the load average is printed next to the timings.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from datasets import Dataset, DatasetDict

from training.common.generation import load_policy
from training.grpo.reward import RMReward
from training.grpo.trainer import GRPORunConfig, mean_policy_reward, resolve_policy, train_grpo
from training.rm.model import load_reward_model
from training.rm.trainer import RMTrainConfig, train_reward_model

SYSTEM = "You are Sherlock Holmes, the consulting detective of 221B Baker Street. Stay in character."
PAIRS = [
    ("Who are you?", "Sherlock Holmes, consulting detective. I observe what others merely see."),
    ("What do you make of this muddy boot?", "Red clay on the heel: you walked from Brixton this morning."),
    ("Where do you live?", "221B Baker Street, with Mrs Hudson below and a violin by the window."),
    ("Do you play any instrument?", "The violin. It helps me think when a case is three pipes deep."),
    ("Who is your closest friend?", "Dr John Watson, the one fixed point in a changing age."),
    ("What do you do when bored?", "I crave mental exaltation; give me problems, give me work."),
]
BAD = "As an AI language model, I cannot help with that request."
TRAIN_QUERIES = [
    "Can you help me find my lost dog?",
    "What is your opinion of Scotland Yard?",
    "How did you know I had been to Afghanistan?",
    "Is Moriarty still alive?",
]
HELD_OUT = [
    "What are you reading tonight?",
    "Why do you keep bees?",
    "Would you take my case?",
    "What do you think of Dr Watson's stories?",
]


def prompt(query: str) -> list[dict[str, str]]:
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": query}]


def build_export(path: Path) -> Path:
    train = [
        {
            "prompt": prompt(q),
            "chosen": [{"role": "assistant", "content": a}],
            "rejected": [{"role": "assistant", "content": BAD}],
        }
        for q, a in PAIRS
    ]
    grpo = [{"id": f"g{i}", "prompt": prompt(q)} for i, q in enumerate(TRAIN_QUERIES)]
    DatasetDict({"train": Dataset.from_list(train), "grpo": Dataset.from_list(grpo)}).save_to_disk(str(path))
    return path


def held_out_reward(policy_dir: Path, rm_dir: Path, max_new: int) -> float:
    model, tok = load_policy(policy_dir)
    reward = RMReward(load_reward_model(rm_dir))
    return mean_policy_reward(model, tok, [prompt(q) for q in HELD_OUT], reward, max_new_tokens=max_new)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--rm-steps", type=int, default=4)
    ap.add_argument("--rm", type=Path, default=None, help="reuse this reward model folder")
    ap.add_argument("--max-new", type=int, default=16)
    ap.add_argument("--lr", type=float, default=1e-5)
    args = ap.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        export = build_export(root / "preferenceTraining")
        rm_dir = args.rm
        if rm_dir is None:
            rm_dir = root / "rm"
            t0 = time.perf_counter()
            train_reward_model(
                RMTrainConfig(
                    data=export,
                    output_dir=rm_dir,
                    model="offline",
                    loss="bt",
                    max_steps=args.rm_steps,
                    batch_size=2,
                    max_length=128,
                    lr=5e-5,
                    logging_steps=1,
                ),
                progress=False,
            )
            print(f"reward model: {args.rm_steps} BT steps on SmolLM2-135M in {time.perf_counter() - t0:.1f}s")

        before = held_out_reward(resolve_policy("offline"), rm_dir, args.max_new)
        stamps: list[float] = []
        logs: list[dict] = []

        def on_log(entry: dict) -> None:
            if "reward" in entry:
                stamps.append(time.perf_counter())
                logs.append(entry)

        out = root / "grpo"
        t_start = time.perf_counter()
        train_grpo(
            GRPORunConfig(
                data=export,
                reward_model=rm_dir,
                output_dir=out,
                num_generations=2,
                prompts_per_step=2,
                max_completion_length=args.max_new,
                max_steps=args.steps,
                lr=args.lr,
                beta=0.04,
                seed=0,
            ),
            progress=False,
            on_log=on_log,
        )
        total = time.perf_counter() - t_start
        after = held_out_reward(out, rm_dir, args.max_new)

    step_times = [e.get("step_time") for e in logs]
    print(f"load average (1/5/15 min): {' '.join(f'{x:.2f}' for x in os.getloadavg())} on {os.cpu_count()} CPUs")
    print(
        f"GRPO tiny setting: SmolLM2-135M policy + SmolLM2-135M RM, G=2, 2 prompts/step, "
        f"{args.max_new} new tokens, beta 0.04, lr {args.lr}, CPU"
    )
    print("per-step wall time (TRL step_time, s): " + ", ".join(f"{t:.1f}" for t in step_times if t is not None))
    later = [t for t in step_times[1:] if t is not None]
    if later:
        print(f"mean step time after warm-up: {statistics.mean(later):.1f}s")
    print(f"train() total incl. model loading and saving: {total:.1f}s for {len(logs)} steps")
    print("train reward per step: " + ", ".join(f"{e['reward']:.3f}" for e in logs))
    print(
        f"held-out reward (greedy, {len(HELD_OUT)} prompts): before {before:.4f}  after {after:.4f}  "
        f"delta {after - before:+.4f}"
    )


if __name__ == "__main__":
    main()

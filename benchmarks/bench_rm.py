"""Time a reward-model training step and peak memory: our bt / aam-ld / aam-pr vs TRL's RewardTrainer.

Every variant trains the same backbone (default: the offline SmolLM2-135M) on the same synthetic
role-play pairs with the same batch size, precision (fp32 on CPU, bf16 autocast on GPUs), AdamW,
no gradient checkpointing and dropout disabled. A step is timed end to end (data collation,
forward, backward, optimizer) as the interval between consecutive step-end events, after warm-up
steps; the median is reported. Each variant runs in its own process so that peak memory is its own:
``torch.cuda.max_memory_allocated`` on GPUs, peak RSS (``ru_maxrss``, whole process incl. loading)
on CPU.

TRL's RewardTrainer uses ``AutoModelForSequenceClassification`` (no LM head) on the same backbone.
``aam-pr`` is timed with the reference run online (frozen copy under ``torch.no_grad`` each step),
the worst case per step; the default ``--ref-logps precompute`` mode is also timed (``aam-pr-pre``),
with its one-off precompute pass reported separately.

Targets: aam-ld <= 1.3x bt, aam-pr <= 1.7x bt, our bt <= 1.1x TRL. The last line is
``ld_over_bt=X pr_over_bt=Y bt_over_trl=Z``.

Usage: PYTHONPATH=. python benchmarks/bench_rm.py [--batch-size 4] [--steps 6] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
VARIANTS = ("trl-bt", "bt", "aam-ld", "aam-pr", "aam-pr-pre")

SYSTEM = (
    "You are Sherlock Holmes, the consulting detective of 221B Baker Street, London. You are brilliant, "
    "observant and a little vain; you play the violin and you despise boredom. Stay in character."
)
USER_TURNS = [
    "Good evening, Mr Holmes. I have come about a most peculiar matter concerning my late uncle's will.",
    "He left everything to a parrot. A parrot, Mr Holmes! And the parrot has since vanished from the house.",
    "The servants say they heard whistling in the night, and the window of the study was found open.",
]


def make_rows(n: int) -> list[dict]:
    rows = []
    for i in range(n):
        prompt = [{"role": "system", "content": SYSTEM}]
        for j, turn in enumerate(USER_TURNS):
            prompt.append({"role": "user", "content": f"{turn} (case {i})"})
            if j < len(USER_TURNS) - 1:
                prompt.append({"role": "assistant", "content": "Pray continue; omit no detail, however trivial."})
        good = (
            f"A parrot that whistles at night, case {i}! The open window tells me the bird did not leave alone. "
            "Who in the household could imitate its call, and who gains if the heir cannot be produced? "
            "Bring me the gardener's boots and the study's ashtray, Watson; the game is afoot."
        )
        bad = (
            f"I am sorry, but as an AI language model I cannot investigate real cases, number {i}. "
            "You may wish to contact your local police department or a licensed private investigator, "
            "who will be able to help you with the will and the missing parrot in a lawful manner."
        )
        rows.append(
            {
                "prompt": prompt,
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}],
            }
        )
    return rows


def peak_memory_mb() -> float:
    import torch

    if torch.cuda.is_available():
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_ours(variant: str, data: Path, model: str, args: argparse.Namespace, work: Path) -> dict:
    from training.rm.trainer import RewardModelTrainer, RMTrainConfig

    loss = "aam-pr" if variant.startswith("aam-pr") else variant
    cfg = RMTrainConfig(
        data=data,
        output_dir=work / "out",
        model=model,
        loss=loss,
        batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        lr=1e-5,
        max_length=args.max_length,
        logging_steps=1,
        warmup_ratio=0.0,
        ref_logps="precompute" if variant == "aam-pr-pre" else "online",
    )
    stamps: list[float] = []
    trainer = RewardModelTrainer(cfg, progress=False, on_log=lambda _e: stamps.append(time.perf_counter()))
    if variant == "aam-pr-pre":  # time the one-off reference pass separately
        t0 = time.perf_counter()
        trainer._setup_reference()
        precompute_s = time.perf_counter() - t0
    start = time.perf_counter()
    trainer.train()
    steps = [b - a for a, b in zip([start, *stamps], stamps, strict=False)][args.warmup :]
    out = {"step_s": statistics.median(steps), "peak_mb": peak_memory_mb(), "n_steps": len(steps)}
    if variant == "aam-pr-pre":
        out["precompute_s"] = precompute_s
    return out


def run_trl(data: Path, model: str, args: argparse.Namespace, work: Path) -> dict:
    import torch
    from datasets import load_from_disk
    from transformers import AutoModelForSequenceClassification, AutoTokenizer, TrainerCallback
    from trl import RewardConfig, RewardTrainer

    from training.rm.trainer import resolve_model_path

    path = resolve_model_path(model)
    tok = AutoTokenizer.from_pretrained(path)
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    torch.manual_seed(0)
    seq = AutoModelForSequenceClassification.from_pretrained(path, num_labels=1, dtype=torch.float32)
    seq.config.pad_token_id = tok.pad_token_id
    stamps: list[float] = []

    class Timer(TrainerCallback):
        def on_step_end(self, *a: object, **k: object) -> None:
            stamps.append(time.perf_counter())

    gpu = torch.cuda.is_available()
    cfg = RewardConfig(
        output_dir=str(work / "trl"),
        per_device_train_batch_size=args.batch_size,
        max_steps=args.warmup + args.steps,
        learning_rate=1e-5,
        gradient_checkpointing=False,
        bf16=gpu and torch.cuda.is_bf16_supported(),
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        max_length=args.max_length,
        disable_tqdm=True,
        use_cpu=not gpu,
        lr_scheduler_type="linear",
        warmup_steps=0,
        optim="adamw_torch",
        dataloader_num_workers=0,
    )
    trainer = RewardTrainer(
        model=seq, args=cfg, train_dataset=load_from_disk(str(data))["train"], processing_class=tok, callbacks=[Timer()]
    )
    start = time.perf_counter()
    trainer.train()
    steps = [b - a for a, b in zip([start, *stamps], stamps, strict=False)][args.warmup :]
    return {"step_s": statistics.median(steps), "peak_mb": peak_memory_mb(), "n_steps": len(steps)}


def child(args: argparse.Namespace) -> None:
    work = Path(tempfile.mkdtemp(prefix="bench-rm-"))
    data = Path(args.data)
    res = (
        run_trl(data, args.model, args, work)
        if args.variant == "trl-bt"
        else run_ours(args.variant, data, args.model, args, work)
    )
    Path(args.json_out).write_text(json.dumps(res))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="offline")
    ap.add_argument("--batch-size", type=int, default=4, help="pairs per step")
    ap.add_argument("--steps", type=int, default=6, help="timed steps")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--max-length", type=int, default=512)
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--data", help=argparse.SUPPRESS)
    ap.add_argument("--json-out", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.variant:
        child(args)
        return

    from datasets import Dataset, DatasetDict

    work = Path(tempfile.mkdtemp(prefix="bench-rm-"))
    n = args.batch_size * (args.warmup + args.steps)
    DatasetDict({"train": Dataset.from_list(make_rows(n))}).save_to_disk(str(work / "data"))
    env = {**os.environ, "PYTHONPATH": f"{ROOT}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    results: dict[str, dict] = {}
    for variant in args.variants.split(","):
        out = work / f"{variant}.json"
        cmd = [
            sys.executable,
            __file__,
            "--variant",
            variant,
            "--data",
            str(work / "data"),
            "--json-out",
            str(out),
            "--model",
            args.model,
            "--batch-size",
            str(args.batch_size),
            "--steps",
            str(args.steps),
            "--warmup",
            str(args.warmup),
            "--max-length",
            str(args.max_length),
        ]
        proc = subprocess.run(cmd, check=False, env=env, capture_output=True, text=True)
        if proc.returncode != 0:
            print(f"{variant}: failed\n{proc.stderr[-3000:]}", file=sys.stderr)
            sys.exit(1)
        results[variant] = json.loads(out.read_text())
        r = results[variant]
        extra = f"  precompute {r['precompute_s']:.2f}s once" if "precompute_s" in r else ""
        print(
            f"{variant:11s} step {r['step_s']:.3f}s (median of {r['n_steps']})  peak {r['peak_mb']:.0f} MB{extra}",
            flush=True,
        )

    import torch

    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else f"CPU x{os.cpu_count()}"
    print(f"device={device} batch={args.batch_size} pairs max_length={args.max_length}")
    bt = results.get("bt", {}).get("step_s")
    ratio = {
        "ld_over_bt": results["aam-ld"]["step_s"] / bt if bt and "aam-ld" in results else float("nan"),
        "pr_over_bt": results["aam-pr"]["step_s"] / bt if bt and "aam-pr" in results else float("nan"),
        "bt_over_trl": bt / results["trl-bt"]["step_s"] if bt and "trl-bt" in results else float("nan"),
    }
    if bt and "aam-pr-pre" in results:
        print(f"pr_precompute_over_bt={results['aam-pr-pre']['step_s'] / bt:.2f} (per step, reference precomputed)")
    print(" ".join(f"{k}={v:.2f}" for k, v in ratio.items()))


if __name__ == "__main__":
    main()

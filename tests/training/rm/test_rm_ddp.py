"""`charm-train rm --accelerate-config ddp --num-processes 2` on this CPU machine (two processes, gloo DDP)
trains exactly like one process with the same global batch (4 pairs: 1 pair x 2 micro-batches x 2
processes against 4 pairs x 1 x 1), and only rank 0 writes and logs."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

from tests.helpers import run_cli, run_train_on_two_processes
from training.rm.model import HEAD_FILE, MARKER

STEPS = 3
COMMON = [
    "--loss",
    "aam-pr",
    "--beta",
    "0.5",
    "--lr",
    "3e-3",
    "--max-steps",
    str(STEPS),
    "--logging-steps",
    "1",
    "--save-steps",
    "2",
    "--seed",
    "7",
]


def _history(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_two_processes_match_one_process_and_only_rank_0_writes(
    tmp_path: Path, pref_export: Path, tiny_llama: Path
) -> None:
    model = ["--data", str(pref_export), "--model", str(tiny_llama)]
    one, two = tmp_path / "one", tmp_path / "two"
    single = run_cli(
        "rm", *model, "--out", str(one), "--batch-size", "4", *COMMON, module="charm_apps.train", timeout=300
    )
    assert single.returncode == 0, single.stderr
    ddp = run_train_on_two_processes(
        "rm",
        *model,
        "--out",
        str(two),
        "--batch-size",
        "1",
        "--grad-accum",
        "2",
        *COMMON,
    )
    assert "launching: accelerate launch --config_file" in ddp.stderr

    # the same loss curve: logged metrics are the global batch's, pooled over processes and micro-batches
    h1, h2 = _history(one), _history(two)
    assert [e["step"] for e in h2] == [e["step"] for e in h1] == [1.0, 2.0, 3.0]
    assert len({round(e["loss"], 6) for e in h1}) == STEPS  # the model moves: the curve is not flat
    for a, b in zip(h1, h2, strict=True):
        for key in ("loss", "bt_loss", "accuracy", "reward_gap", "margin_mean", "margin_std", "lr"):
            assert b[key] == pytest.approx(a[key], rel=1e-4, abs=1e-5), (a["step"], key)
    # and the same weights at the end (DDP averages the processes' accumulated gradients)
    head1, head2 = load_file(str(one / HEAD_FILE)), load_file(str(two / HEAD_FILE))
    assert torch.allclose(head1["weight"], head2["weight"], atol=1e-5)

    # only rank 0 wrote: one log line per step, one checkpoint, one model card, no temporary folders
    assert len((two / "train_log.jsonl").read_text().splitlines()) == STEPS
    assert sorted(p.name for p in (two / "checkpoints").iterdir()) == ["step-0000002"]
    assert not list(two.rglob(".save-*")) and not list(two.rglob(".ckpt-*"))
    assert json.loads((two / MARKER).read_text())["steps"] == STEPS
    # ... and only rank 0 talked: each step's log line and the final line appear once
    for step in range(1, STEPS + 1):
        assert len(re.findall(rf"^step {step}  loss ", ddp.stderr, flags=re.M)) == 1, ddp.stderr
    assert ddp.stdout.count("saved reward model to") == 1
    assert (ddp.stdout + ddp.stderr).count("RM aam-pr ") == 1  # one progress bar (rank 1's is off)

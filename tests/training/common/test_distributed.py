"""Multi-process training pieces that need no second process: metric pooling, rank sharding of the
data, and the `--accelerate-config` launch options of `charm-train rm` / `grpo`."""

from __future__ import annotations

import random
import statistics
from pathlib import Path

import pytest

from tests.helpers import run_cli
from training.common.distributed import pool_metrics
from training.common.launch import ACCELERATE_CONFIGS, CONFIG_DIR, LaunchError, forwarded_args, launch_args
from training.rm.batching import epoch_batches


def _stats(xs: list[float]) -> dict[str, float]:
    return {"loss": statistics.fmean(xs), "margin_mean": statistics.fmean(xs), "margin_std": statistics.pstdev(xs)}


@pytest.mark.parametrize("sizes", [(2, 2), (3, 1, 4), (5,)])
def test_pool_metrics_equals_metrics_of_the_whole_batch(sizes: tuple[int, ...]) -> None:
    rng = random.Random(sum(sizes))
    parts = [[rng.uniform(-3, 3) for _ in range(n)] for n in sizes]
    pooled = pool_metrics([(_stats(p), len(p)) for p in parts])
    whole = _stats([x for p in parts for x in p])
    assert pooled == pytest.approx(whole, rel=1e-9, abs=1e-12)


def test_pool_metrics_needs_items() -> None:
    with pytest.raises(ValueError, match="n > 0"):
        pool_metrics([])


@pytest.mark.parametrize(("n", "batch", "world"), [(8, 2, 2), (9, 2, 2), (5, 4, 2), (7, 1, 3)])
def test_rank_shards_cover_the_single_process_batches(n: int, batch: int, world: int) -> None:
    single = epoch_batches(n, batch * world, seed=3, epoch=1)
    shards = [epoch_batches(n, batch, seed=3, epoch=1, rank=r, world=world) for r in range(world)]
    # every rank takes the same number of micro-batches (a collective step never waits forever)
    assert {len(s) for s in shards} == {len(single)}
    for i, whole in enumerate(single):
        got = [shard[i] for shard in shards]
        assert all(0 < len(g) <= batch for g in got)
        assert set().union(*map(set, got)) == set(whole)  # padding repeats a pair of the same batch
        if len(whole) == batch * world:
            assert sorted(x for g in got for x in g) == sorted(whole)


def test_forwarded_args_drop_only_the_launch_options() -> None:
    argv = [
        "charm-train",
        "rm",
        "--data",
        "d",
        "--accelerate-config",
        "fsdp",
        "--num-processes=4",
        "--print-launch",
        "--out",
        "o",
        "--loss",
        "aam-ld",
    ]
    assert forwarded_args("rm", argv) == ["--data", "d", "--out", "o", "--loss", "aam-ld"]
    with pytest.raises(LaunchError, match="`grpo`"):
        forwarded_args("grpo", argv)


def test_launch_args_use_the_shipped_config_and_add_checkpointing_when_sharded() -> None:
    for name in ACCELERATE_CONFIGS:
        args = launch_args(name, "rm", ["--data", "d"], num_processes=4)
        assert args[:2] == ["--config_file", str(CONFIG_DIR / f"{name}.yaml")]
        assert Path(args[1]).is_file()
        assert args[2:4] == ["--num_processes", "4"]
        assert args[4:8] == ["-m", "charm_apps.train", "rm", "--data"]
        assert ("--gradient-checkpointing" in args) == (name != "ddp")
    with pytest.raises(LaunchError, match="--num-processes"):
        launch_args("ddp", "rm", [], num_processes=0)


def test_rm_print_launch_prints_the_command_and_writes_nothing(
    tmp_path: Path, pref_export: Path, tiny_llama: Path
) -> None:
    out = tmp_path / "run"
    proc = run_cli(
        "rm",
        "--data",
        str(pref_export),
        "--out",
        str(out),
        "--model",
        str(tiny_llama),
        "--loss",
        "aam-ld",
        "--accelerate-config",
        "deepspeed-zero3",
        "--num-processes",
        "8",
        "--print-launch",
        module="charm_apps.train",
    )
    assert proc.returncode == 0, proc.stderr
    line = proc.stdout.strip()
    assert line.startswith("accelerate launch --config_file ")
    assert str(CONFIG_DIR / "deepspeed-zero3.yaml") in line
    assert f"-m charm_apps.train rm --data {pref_export} --out {out}" in line
    assert line.endswith("--loss aam-ld --gradient-checkpointing")
    assert "--print-launch" not in line and "--accelerate-config" not in line
    assert not out.exists()


def test_launch_options_fail_in_one_line_before_any_process_starts(
    tmp_path: Path, pref_export: Path, tiny_llama: Path
) -> None:
    proc = run_cli(
        "rm",
        "--data",
        str(pref_export),
        "--out",
        str(tmp_path / "a"),
        "--model",
        str(tiny_llama),
        "--accelerate-config",
        "zero9",
        module="charm_apps.train",
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "error: --accelerate-config zero9: choose ddp, deepspeed-zero3, fsdp or give an accelerate config YAML file"
    ]
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "x").write_text("x")
    proc = run_cli(
        "rm",
        "--data",
        str(pref_export),
        "--out",
        str(busy),
        "--model",
        str(tiny_llama),
        "--accelerate-config",
        "ddp",
        module="charm_apps.train",
    )
    assert proc.returncode == 2
    assert "launching" not in proc.stderr
    assert f"--out {busy}: exists and is not empty" in proc.stderr
    proc = run_cli(
        "rm",
        "--data",
        str(pref_export),
        "--out",
        str(tmp_path / "b"),
        "--model",
        str(tiny_llama),
        "--accelerate-config",
        "ddp",
        env={"LOCAL_RANK": "0"},
        module="charm_apps.train",
    )
    assert proc.returncode == 2
    assert "already runs under accelerate launch" in proc.stderr and not (tmp_path / "b").exists()


def test_grpo_print_launch(tmp_path: Path, pref_export: Path) -> None:
    rm_dir = tmp_path / "rm"
    rm_dir.mkdir()
    proc = run_cli(
        "grpo",
        "--data",
        str(pref_export),
        "--reward-model",
        str(rm_dir),
        "--out",
        str(tmp_path / "g"),
        "--accelerate-config",
        "fsdp",
        "--print-launch",
        module="charm_apps.train",
    )
    assert proc.returncode == 0, proc.stderr
    assert f"fsdp.yaml -m charm_apps.train grpo --data {pref_export}" in proc.stdout
    assert proc.stdout.strip().endswith("--gradient-checkpointing")


def test_save_writes_the_gathered_state_dict_not_the_local_shards(tmp_path: Path, tiny_llama: Path) -> None:
    """The ZeRO-3 / FSDP final save: rank 0's own tensors are shards; the gathered full weights are written."""
    import torch

    from training.rm.model import load_backbone, load_reward_model

    local, trained = load_backbone(tiny_llama, seed=1), load_backbone(tiny_llama, seed=2)
    with torch.no_grad():
        for p in trained.parameters():
            p.add_(0.25)
    local.save(tmp_path / "rm", state_dict=trained.state_dict())
    loaded = load_reward_model(tmp_path / "rm")
    for (name, want), (_, got) in zip(trained.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert torch.equal(want, got), name


def test_sharded_runs_refuse_options_they_cannot_honour_yet(tmp_path: Path) -> None:
    from training.rm.trainer import RMTrainConfig, TrainingInputError, check_sharded_config

    base = {"data": tmp_path, "output_dir": tmp_path / "o"}
    check_sharded_config(RMTrainConfig(**base, loss="aam-pr", sft_reg=0.01, gradient_checkpointing=True))
    with pytest.raises(TrainingInputError, match=r"^--lora-r, --ref-logps online: not supported with DeepSpeed/FSDP"):
        check_sharded_config(RMTrainConfig(**base, lora_r=8, ref_logps="online"))

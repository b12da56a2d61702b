"""The shipped accelerate configs (training/accelerate_configs/*.yaml) go through accelerate's own launch
path: the YAML parses, `accelerate launch` turns it into the environment each process sees, and the
DeepSpeed / FSDP plugins are built from that environment. No GPU runs them here."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from accelerate.commands.launch import _validate_launch_command, launch_command_parser
from accelerate.utils import DeepSpeedPlugin, DistributedType, FullyShardedDataParallelPlugin
from accelerate.utils.launch import prepare_deepspeed_cmd_env, prepare_multi_gpu_env

from training.common.launch import ACCELERATE_CONFIGS, CONFIG_DIR


def launch_env(name: str, *extra: str) -> tuple[object, dict[str, str]]:
    """What `accelerate launch --config_file NAME.yaml EXTRA -m charm_apps.train rm` gives each process."""
    parser = launch_command_parser()
    args = parser.parse_args(
        ["--config_file", str(CONFIG_DIR / f"{name}.yaml"), *extra, "-m", "charm_apps.train", "rm"]
    )
    args, defaults, _ = _validate_launch_command(args)
    if args.use_deepspeed:
        args.deepspeed_fields_from_accelerate_config = ",".join(defaults.deepspeed_config)  # as launch_command does
        _, env = prepare_deepspeed_cmd_env(args)
    else:
        env = prepare_multi_gpu_env(args)
    return defaults, env


def test_every_config_is_shipped_and_parses() -> None:
    assert sorted(p.stem for p in CONFIG_DIR.glob("*.yaml")) == sorted(ACCELERATE_CONFIGS)
    expected = {
        "ddp": DistributedType.MULTI_GPU,
        "deepspeed-zero3": DistributedType.DEEPSPEED,
        "fsdp": DistributedType.FSDP,
    }
    for name, kind in expected.items():
        defaults, env = launch_env(name, "--num_processes", "4")
        assert defaults.distributed_type == kind
        assert defaults.num_processes == 8 and defaults.num_machines == 1  # one 8-GPU node by default
        assert env["ACCELERATE_MIXED_PRECISION"] == "bf16"


def test_fsdp_config_builds_a_full_sharding_plugin_that_wraps_each_decoder_layer(
    monkeypatch: pytest.MonkeyPatch, tiny_llama: Path
) -> None:
    from accelerate.utils.fsdp_utils import fsdp2_prepare_auto_wrap_policy
    from torch.distributed.fsdp import CPUOffloadPolicy

    from training.rm.model import load_backbone

    _, env = launch_env("fsdp")
    for key, value in env.items():
        if key.startswith(("FSDP_", "ACCELERATE_")):
            monkeypatch.setenv(key, value)
    plugin = FullyShardedDataParallelPlugin()
    assert plugin.fsdp_version == 2
    assert plugin.reshard_after_forward is True
    assert not isinstance(plugin.cpu_offload, CPUOffloadPolicy)  # weights stay on the GPUs
    assert str(plugin.state_dict_type).endswith("FULL_STATE_DICT")
    assert plugin.activation_checkpointing is False  # charm-train's --gradient-checkpointing does it

    model = load_backbone(tiny_llama, seed=0)
    policy = fsdp2_prepare_auto_wrap_policy(plugin, model)
    wrapped = [name for name, module in model.named_modules() if policy(module)]
    layers = model.causal_lm.config.num_hidden_layers
    assert wrapped == [f"lm.model.layers.{i}" for i in range(layers)]


def test_deepspeed_config_builds_a_zero3_plugin_that_takes_grad_accum_from_charm_train(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, env = launch_env("deepspeed-zero3")
    for key, value in env.items():
        if key.startswith("ACCELERATE_"):
            monkeypatch.setenv(key, value)
    monkeypatch.delenv("ACCELERATE_GRADIENT_ACCUMULATION_STEPS", raising=False)
    plugin = DeepSpeedPlugin()
    ds = plugin.deepspeed_config
    assert ds["zero_optimization"]["stage"] == 3
    assert ds["zero_optimization"]["stage3_gather_16bit_weights_on_model_save"] is True  # final save gathers
    assert plugin.zero3_init_flag is True  # weights are sharded while from_pretrained loads them
    assert ds["gradient_accumulation_steps"] == "auto"  # filled from Accelerator(gradient_accumulation_steps=...)
    assert ds["gradient_clipping"] == 1.0
    assert "ACCELERATE_GRADIENT_ACCUMULATION_STEPS" not in env


@pytest.mark.skipif(
    importlib.util.find_spec("deepspeed") is None,
    reason="deepspeed is not installed here (its PyPI release is an sdist that builds with a "
    "compiler); the plugin checks above run without it",
)
def test_deepspeed_accepts_the_zero3_config() -> None:  # pragma: no cover - needs deepspeed
    from deepspeed.runtime.config import DeepSpeedConfig

    plugin = DeepSpeedPlugin(zero_stage=3, zero3_init_flag=True, zero3_save_16bit_model=True, gradient_clipping=1.0)
    cfg = dict(
        plugin.deepspeed_config,
        train_micro_batch_size_per_gpu=2,
        gradient_accumulation_steps=2,
        train_batch_size=4,
        steps_per_print=10**9,
    )
    assert DeepSpeedConfig(cfg).zero_optimization_stage == 3

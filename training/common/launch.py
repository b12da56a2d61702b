"""``--accelerate-config``: re-run a ``charm-train`` command under ``accelerate launch``.

``charm-train rm ... --accelerate-config deepspeed-zero3`` becomes

    accelerate launch --config_file <package>/training/accelerate_configs/deepspeed-zero3.yaml \\
        -m charm_apps.train rm ... --gradient-checkpointing

i.e. the same command line minus the launch options, started once per GPU by accelerate. The shipped
configs (:data:`ACCELERATE_CONFIGS`) are package data; any accelerate YAML file works too.
``--print-launch`` prints that command instead of running it (to copy into a cluster job script).
"""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import typer

CONFIG_DIR = Path(__file__).parent.parent / "accelerate_configs"  # package data of training
ACCELERATE_CONFIGS: dict[str, str] = {
    "ddp": "data parallel, a full model copy per GPU",
    "deepspeed-zero3": "DeepSpeed ZeRO-3, 7B-8B full fine-tuning on 8 GPUs",
    "fsdp": "PyTorch FSDP2 full sharding, 7B-8B full fine-tuning on 8 GPUs",
}
SHARDED = ("deepspeed-zero3", "fsdp")  # these get --gradient-checkpointing added
# our options that configure the launch itself (option -> takes a value)
LAUNCH_OPTIONS: dict[str, bool] = {"--accelerate-config": True, "--num-processes": True, "--print-launch": False}

ACCELERATE_CONFIG_HELP = (
    "Re-run this command on several processes with `accelerate launch`: "
    + ", ".join(f"{k} ({v})" for k, v in ACCELERATE_CONFIGS.items())
    + ", or an accelerate config YAML path. ZeRO-3/FSDP add --gradient-checkpointing."
)
AccelerateConfigOpt = Annotated[str | None, typer.Option(help=ACCELERATE_CONFIG_HELP)]
NumProcessesOpt = Annotated[
    int | None, typer.Option(help="With --accelerate-config: processes (GPUs) to start (default: the config's, 8).")
]
PrintLaunchOpt = Annotated[
    bool,
    typer.Option(
        "--print-launch", help="With --accelerate-config: print the `accelerate launch` command instead of running it."
    ),
]


class LaunchError(ValueError):
    """A bad launch option (unknown config, unreadable YAML); the message names it."""


def resolve_accelerate_config(value: str) -> Path:
    """A shipped config name (``ddp``, ``deepspeed-zero3``, ``fsdp``) or an existing YAML file."""
    if value in ACCELERATE_CONFIGS:
        return CONFIG_DIR / f"{value}.yaml"
    path = Path(value)
    if path.suffix in (".yaml", ".yml", ".json") and path.is_file():
        return path
    raise LaunchError(
        f"--accelerate-config {value}: choose {', '.join(ACCELERATE_CONFIGS)} or give an accelerate config YAML file"
    )


def forwarded_args(command: str, argv: Sequence[str]) -> list[str]:
    """``argv`` (``sys.argv``) from the sub-command on, without our launch options."""
    argv = list(argv)
    if command not in argv[1:]:
        raise LaunchError(f"--accelerate-config: cannot find the `{command}` command in the command line")
    rest = argv[argv.index(command, 1) + 1 :]
    out: list[str] = []
    skip = False
    for arg in rest:
        if skip:
            skip = False
            continue
        name = arg.split("=", 1)[0]
        if name in LAUNCH_OPTIONS:
            skip = LAUNCH_OPTIONS[name] and "=" not in arg
            continue
        out.append(arg)
    return out


def launch_args(
    config: str, command: str, args: Sequence[str], num_processes: int | None = None, port: int | None = None
) -> list[str]:
    """The arguments of ``accelerate launch`` that re-run ``charm-train COMMAND ARGS`` under ``config``."""
    path = resolve_accelerate_config(config)
    out = ["--config_file", str(path)]
    if num_processes is not None:
        if num_processes < 1:
            raise LaunchError(f"--num-processes must be >= 1, got {num_processes}")
        out += ["--num_processes", str(num_processes)]
    if port is not None:
        out += ["--main_process_port", str(port)]
    extra = ["--gradient-checkpointing"] if config in SHARDED and "--gradient-checkpointing" not in args else []
    return [*out, "-m", "charm_apps.train", command, *args, *extra]


def launch_command(config: str, command: str, args: Sequence[str], num_processes: int | None = None) -> str:
    """The shell command a user can run (what ``--print-launch`` prints)."""
    return shlex.join(["accelerate", "launch", *launch_args(config, command, args, num_processes)])


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def relaunch(config: str, command: str, args: Sequence[str], num_processes: int | None = None) -> int:
    """Run the command under ``accelerate launch`` (on a free local port); returns its exit code."""
    cmd = [
        sys.executable,
        "-m",
        "accelerate.commands.launch",
        *launch_args(config, command, args, num_processes, port=free_port()),
    ]
    print("launching: accelerate launch " + shlex.join(cmd[3:]), file=sys.stderr, flush=True)
    return subprocess.run(cmd, check=False).returncode


def launch_from_cli(command: str, config: str, num_processes: int | None, print_only: bool) -> None:
    """What ``--accelerate-config`` does in a command: print or run the launch, then exit with its code.
    Call it after the command's own option checks, so bad input fails once, before any process starts."""
    from charm_kernel.console import fail

    if "LOCAL_RANK" in os.environ:  # each process would start a launch of its own
        fail("--accelerate-config: this command already runs under accelerate launch / torchrun; drop the option")
    try:
        args = forwarded_args(command, sys.argv)
        if print_only:
            typer.echo(launch_command(config, command, args, num_processes))
            raise typer.Exit(0)
        raise typer.Exit(relaunch(config, command, args, num_processes))
    except LaunchError as exc:
        fail(str(exc))

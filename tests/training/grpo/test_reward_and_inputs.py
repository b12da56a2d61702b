"""Fast GRPO tests: the RM reward callable, prompt validation, option checks, curves PNG, CLI errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from charm_apps.train import app
from tests.training.grpo.helpers import grpo_prompt, write_export
from training.grpo.plots import plot_curves, series
from training.grpo.reward import RMReward, completion_text
from training.grpo.trainer import GRPOInputError, GRPORunConfig, load_prompts, validate_config
from training.rm.model import load_reward_model

runner = CliRunner()


def test_reward_matches_rm_score_and_accepts_both_completion_formats(tiny_rm: Path) -> None:
    rm = load_reward_model(tiny_rm)
    reward = RMReward(rm, batch_size=2)
    prompts = [grpo_prompt(0), grpo_prompt(1), grpo_prompt(2)]
    texts = ["Elementary.", "I am Holmes.", "Baker Street, of course."]
    conv = reward(prompts, [[{"role": "assistant", "content": t}] for t in texts])
    plain = reward(prompts, texts)
    direct = rm.score([(p, [{"role": "assistant", "content": t}]) for p, t in zip(prompts, texts, strict=True)])
    assert conv == pytest.approx(direct, abs=1e-5)
    assert plain == pytest.approx(direct, abs=1e-5)
    assert len(set(round(x, 6) for x in conv)) == 3  # distinct completions get distinct rewards
    assert reward.__name__ == "charm_rm"


def test_length_penalty_subtracts_per_completion_token(tiny_rm: Path) -> None:
    rm = load_reward_model(tiny_rm)
    prompts = [grpo_prompt(0), grpo_prompt(1)]
    comps = [[{"role": "assistant", "content": "Short."}], [{"role": "assistant", "content": "A longer answer."}]]
    raw = RMReward(rm)(prompts, comps)
    penalised = RMReward(rm, length_penalty=0.5)(prompts, comps, completion_ids=[[1, 2, 3], [1, 2, 3, 4, 5, 6, 7]])
    assert penalised == pytest.approx([raw[0] - 1.5, raw[1] - 3.5], abs=1e-5)
    counted = RMReward(rm, length_penalty=0.5)(prompts, comps)  # no ids: RM tokenizer counts tokens
    n = [len(rm.tokenizer(completion_text(c), add_special_tokens=False)["input_ids"]) for c in comps]
    assert counted == pytest.approx([r - 0.5 * k for r, k in zip(raw, n, strict=True)], abs=1e-5)


def test_load_prompts_reads_grpo_split_and_limit(pt_export: Path) -> None:
    rows = load_prompts(pt_export, "grpo", limit=3)
    assert len(rows) == 3 and rows[0]["prompt"][0]["role"] == "system"
    assert rows[0]["character_id"] == "sherlock"


@pytest.mark.parametrize(
    ("prompt", "message"),
    [
        ([], "non-empty list"),
        ([{"role": "narrator", "content": "x"}], "message 0"),
        ([{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}], "must end with the user"),
    ],
)
def test_load_prompts_rejects_bad_prompts(tmp_path: Path, prompt: list, message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"prompt": prompt}) + "\n")
    with pytest.raises(GRPOInputError, match=message.split()[0]):
        load_prompts(path, "grpo")


def test_missing_split_is_a_user_error(tmp_path: Path) -> None:
    from datasets import Dataset, DatasetDict

    path = tmp_path / "pt"
    DatasetDict({"train": Dataset.from_list([{"prompt": "x"}])}).save_to_disk(str(path))
    with pytest.raises(GRPOInputError, match="no split 'grpo'"):
        load_prompts(path, "grpo")


def _cfg(tmp_path: Path, rm: Path, **kw: object) -> GRPORunConfig:
    return GRPORunConfig(data=tmp_path / "pt", reward_model=rm, output_dir=tmp_path / "out", **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"resume": True}, "--resume: no checkpoint"),
        ({"vllm": "on"}, "--vllm on: needs a CUDA GPU"),
    ],
)
def test_validate_config_names_the_option(tmp_path: Path, tiny_rm: Path, kw: dict, message: str) -> None:
    import torch

    if kw.get("vllm") == "on" and torch.cuda.is_available():
        pytest.skip("GPU present")
    with pytest.raises(GRPOInputError, match=message.replace("-", r"\-")):
        validate_config(_cfg(tmp_path, tiny_rm, **kw))


@pytest.mark.parametrize(
    ("kw", "message"),
    [
        ({"num_generations": 1}, "--num-generations must be >= 2, got 1"),
        ({"prompts_per_step": 0}, "--prompts-per-step must be >= 1, got 0"),
        ({"beta": -0.1}, "--beta must be >= 0, got -0.1"),
        ({"max_steps": 0}, "--max-steps must be >= 1, got 0"),
        ({"vllm": "maybe"}, "--vllm 'maybe': choose 'auto', 'on' or 'off'"),
    ],
)
def test_config_rules_name_the_option(tmp_path: Path, kw: dict, message: str) -> None:
    from pydantic import ValidationError

    from charm_kernel.options import option_error

    with pytest.raises(ValidationError) as err:
        _cfg(tmp_path, tmp_path / "rm", **kw)
    assert option_error(err.value) == message


def test_non_empty_output_needs_resume(tmp_path: Path, tiny_rm: Path) -> None:
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "something").write_text("x")
    with pytest.raises(GRPOInputError, match="not empty; pass --resume"):
        validate_config(_cfg(tmp_path, tiny_rm))


def test_plot_curves_writes_png_and_skips_missing_values(tmp_path: Path) -> None:
    history = [
        {"step": 1, "reward": 0.1, "reward_std": 0.2, "kl": 0.0, "completions/mean_length": 12.0},
        {"step": 2, "reward": 0.3, "reward_std": 0.1, "kl": None, "completions/mean_length": 10.0},
        {"step": 2, "train_runtime": 5.0},
    ]
    assert series(history, "reward") == ([1.0, 2.0], [0.1, 0.3])
    assert series(history, "kl") == ([1.0], [0.0])
    out = plot_curves(history, tmp_path / "curves.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())


def test_cli_user_errors_exit_2(tmp_path: Path, tiny_rm: Path) -> None:
    pt = write_export(tmp_path / "pt")
    res = runner.invoke(app, ["grpo", "-d", str(pt), "-r", str(tmp_path / "nope"), "-o", str(tmp_path / "o")])
    assert res.exit_code == 2 and "--reward-model" in res.output and "no such folder" in res.output
    res = runner.invoke(
        app, ["grpo", "-d", str(pt), "-r", str(tiny_rm), "-o", str(tmp_path / "o"), "--scale-rewards", "weird"]
    )
    assert res.exit_code == 2 and "--scale-rewards" in res.output
    res = runner.invoke(
        app, ["grpo", "-d", str(tmp_path / "missing"), "-r", str(tiny_rm), "-o", str(tmp_path / "o"), "-q"]
    )
    assert res.exit_code == 2 and "no such file or directory" in res.output
    res = runner.invoke(
        app,
        [
            "grpo",
            "-d",
            str(pt),
            "-r",
            str(tmp_path),
            "-o",
            str(tmp_path / "o2"),
            "-q",
            "--policy",
            str(tmp_path / "nomodel"),
        ],
    )
    assert res.exit_code == 2 and "--policy" in res.output
    assert not (tmp_path / "o").exists()


def test_help_has_examples() -> None:
    res = runner.invoke(app, ["grpo", "--help"])
    assert res.exit_code == 0 and "charm-train grpo" in res.output

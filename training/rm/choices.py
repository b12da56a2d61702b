"""The choices the AAM paper leaves open, as every reward-model run records them (``charm_rm.json``
``open_choices`` and the model card): the value, whether it matters for this run, a sentence of what
it means, and what set it.

``source`` is read off the values: ``preset NAME`` when the value is the preset's, ``option --FLAG
(overrides preset NAME)`` when a preset ran but the value differs, ``option --FLAG`` / ``default``
without a preset, ``fixed`` for a choice without an option. The equations behind each reduction are
in :mod:`training.rm.losses`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from training.rm.losses import SFT_INIT_REDUCTION
from training.rm.presets import PRESETS

if TYPE_CHECKING:
    from training.rm.trainer import RMTrainConfig


@dataclass(frozen=True)
class Choice:
    field: str  # RMTrainConfig field ("" for a choice without an option)
    option: str
    applies: Callable[[RMTrainConfig], bool]
    meanings: dict[Any, str]  # value -> what it means


_AAM = ("aam-pr", "aam-ld")
CHOICES: dict[str, Choice] = {
    "margin_grad": Choice(
        "margin_grad",
        "--margin-grad",
        lambda c: c.loss in _AAM,
        {
            False: "Detached: the adaptive margin is a fixed per-pair target gap for the reward difference; "
            "no gradient flows through it into the LM head.",
            True: "With gradient: the BT loss also back-propagates through the adaptive margin into the LM head, "
            "which pushes the margin down.",
        },
    ),
    "pr_reference": Choice(
        "pr_reference",
        "--pr-reference",
        lambda c: c.loss == "aam-pr",
        {
            "base": "pi_ref of the PR margin (eq. 8) is the backbone before SFT pre-training: after --sft-init "
            "the margin starts as the SFT model's implicit reward log pi_sft/pi_base(y_w) - log pi_sft/pi_base(y_l).",
            "init": "pi_ref of the PR margin (eq. 8) is the model at the start of RM training (after SFT "
            "pre-training): the margin is exactly 0 at step 0 and grows only as RM training moves the LM head.",
        },
    ),
    "sft_reduction": Choice(
        "sft_reduction",
        "--sft-reduction",
        lambda c: c.sft_reg > 0,
        {
            "sum": "SFT regulariser = alpha x L_SFT(y_w), the summed response NLL of the paper (section 4.3), "
            "averaged over pairs.",
            "mean": "SFT regulariser = alpha x the per-token mean NLL of the chosen responses, about |y| times "
            "weaker than the paper's summed L_SFT.",
        },
    ),
    "ld_reduction": Choice(
        "ld_reduction",
        "--ld-reduction",
        lambda c: c.loss == "aam-ld",
        {
            "mean": "LD margin = beta x the difference of per-token mean log-probs, each response normalised "
            "by its own length (eq. 9).",
            "sum": "LD margin = beta x the difference of summed response log-probs (eq. 10 with L_SFT a sum; "
            "not length-normalised).",
        },
    ),
    "sft_init_reduction": Choice(
        "",
        "",
        lambda c: c.sft_init,
        {
            "mean": "SFT pre-training minimises the per-token mean NLL of the chosen responses (the paper "
            "gives no formula; ordinary causal-LM training).",
        },
    ),
}


def _source(cfg: RMTrainConfig, choice: Choice, value: Any) -> str:
    if not choice.field:
        return "fixed"
    preset = PRESETS.get(cfg.preset or "")
    if preset is not None and choice.field in preset.settings():
        if preset.settings()[choice.field] == value:
            return f"preset {preset.name}"
        return f"option {choice.option} (overrides preset {preset.name})"
    default = type(cfg).model_fields[choice.field].default
    return "default" if value == default else f"option {choice.option}"


def open_choices(cfg: RMTrainConfig) -> dict[str, dict[str, Any]]:
    """name -> ``{"value", "applies", "meaning", "source"}`` for every open choice of ``cfg``."""
    out: dict[str, dict[str, Any]] = {}
    for name, choice in CHOICES.items():
        value = getattr(cfg, choice.field) if choice.field else SFT_INIT_REDUCTION
        out[name] = {
            "value": value,
            "applies": bool(choice.applies(cfg)),
            "meaning": choice.meanings[value],
            "source": _source(cfg, choice, value),
        }
    return out


def card_section(cfg: RMTrainConfig) -> list[str]:
    """Markdown lines for the model card: one table row per open choice."""
    lines = [
        "## Choices the paper leaves open",
        "",
        "Equations: `training/rm/losses.py`. *applies*: whether the choice matters for this loss and options.",
        "",
        "| choice | value | applies | set by | meaning |",
        "|---|---|---|---|---|",
    ]
    for name, c in open_choices(cfg).items():
        lines.append(f"| {name} | {c['value']} | {'yes' if c['applies'] else 'no'} | {c['source']} | {c['meaning']} |")
    return lines

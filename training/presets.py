"""The paper's reward-model configurations as named presets (``charm-train rm --preset NAME``).

Each preset is one row of the AAM paper's Table 3 (ablation on Charm-Consistency: SFT pre-train and
SFT regularisation on or off, BT vs AAM-LD vs AAM-PR), plus the GPT-Margin baseline of Tables 1/2
(a fixed margin from an external judge: ``--loss margin --margin-source judge``). Every preset uses the
paper's implementation details (section 5.1): alpha = 0.01 when regularised, 2 epochs, lr 1e-5.

Choices the paper leaves open, fixed here and recorded with every run:

* ``sft_reduction = "sum"``: the paper's ``L_SFT = -sum_i log pi(y^i | x, y^<i)`` (section 4.3), not
  the per-token mean, which would make alpha about ``|y|`` times weaker.
* ``pr_reference = "base"``: pi_ref of the PR margin is the backbone before SFT pre-training, so after
  pre-training the margin starts as the SFT model's implicit reward instead of exactly 0.
* ``sft_epochs = 1`` of SFT pre-training at the RM learning rate, ``beta`` the trainer's default
  (``training.rm.trainer.DEFAULT_BETA``): the paper gives neither.

Explicit command-line flags override a preset's values (see :func:`resolve`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PAPER_ALPHA = 0.01
PAPER_EPOCHS = 2.0
PAPER_LR = 1e-5


@dataclass(frozen=True)
class Preset:
    """One paper row: its label, and the training settings it fixes."""

    name: str
    label: str  # the row label as printed in the paper
    table: str  # where the row is in the paper
    loss: str
    sft_init: bool
    sft_reg: float
    margin_source: str | None = None

    def settings(self) -> dict[str, Any]:
        """The ``RMTrainConfig`` fields this preset sets (``margin_source`` is a CLI-level option)."""
        values: dict[str, Any] = {
            "loss": self.loss,
            "sft_init": self.sft_init,
            "sft_reg": self.sft_reg,
            "epochs": PAPER_EPOCHS,
            "lr": PAPER_LR,
            "sft_reduction": "sum",
            "pr_reference": "base",
        }
        if self.margin_source is not None:
            values["margin_source"] = self.margin_source
        return values


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset("paper-bt", "BT (Baseline)", "Table 3", "bt", sft_init=False, sft_reg=0.0),
        Preset("paper-bt-pretrain", "BT + Pre-train", "Table 3", "bt", sft_init=True, sft_reg=0.0),
        Preset(
            "paper-gpt-margin", "GPT-Margin", "Table 1/2", "margin", sft_init=False, sft_reg=0.0, margin_source="judge"
        ),
        Preset("paper-aam-ld", "AAM_LD", "Table 3", "aam-ld", sft_init=True, sft_reg=0.0),
        Preset("paper-aam-ld-reg", "AAM_LD + Reg.", "Table 3", "aam-ld", sft_init=True, sft_reg=PAPER_ALPHA),
        Preset("paper-aam-pr", "AAM_PR", "Table 3", "aam-pr", sft_init=True, sft_reg=0.0),
        Preset("paper-aam-pr-reg", "AAM_PR + Reg.", "Table 3", "aam-pr", sft_init=True, sft_reg=PAPER_ALPHA),
    )
}
BASELINE = "paper-bt"


def get_preset(name: str, option: str = "--preset") -> Preset:
    """The preset called ``name``; ValueError naming ``option`` and the choices otherwise."""
    if name not in PRESETS:
        raise ValueError(f"{option} {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def parse_presets(text: str) -> list[Preset]:
    """``"a,b"`` -> presets in that order (duplicates dropped); ValueError naming an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("--presets: give at least one preset name")
    return [get_preset(n, "--presets") for n in dict.fromkeys(names)]


def resolve(preset: str | None, given: Mapping[str, Any], explicit: set[str] | frozenset[str]) -> dict[str, Any]:
    """Merge a preset into option values: ``given`` holds every option's value (defaults included),
    ``explicit`` the names the user actually set. A preset value wins over a default, never over an
    explicit value. Returns a new dict with ``preset`` added."""
    values = dict(given)
    if preset is not None:
        for key, value in get_preset(preset).settings().items():
            if key in explicit or (key == "margin_source" and "margin_column" in explicit):
                continue
            values[key] = value
    values["preset"] = preset
    return values

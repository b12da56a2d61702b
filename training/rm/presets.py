"""The paper's reward-model configurations as named presets (``charm-train rm --preset NAME``), and
named ablations of the choices the paper leaves open.

Each paper preset is one row of the AAM paper's Table 3 (or the GPT-Margin baseline of Tables 1/2)
and sets every open choice explicitly (``OPEN_CHOICES``); explicit command-line flags override a
preset's values (:func:`resolve`). The table of presets and ablations: docs/design.md#paper-presets.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

PAPER_ALPHA = 0.01
PAPER_EPOCHS = 2.0
PAPER_LR = 1e-5
# the open choices' values in every paper preset (an ablation flips one)
OPEN_CHOICES: dict[str, Any] = {
    "margin_grad": False,
    "pr_reference": "base",
    "sft_reduction": "sum",
    "ld_reduction": "mean",
}


@dataclass(frozen=True)
class Preset:
    """One paper row (or an ablation of one): its label, and the training settings it fixes."""

    name: str
    label: str  # the row label as printed in the paper; for an ablation, that label and what differs
    table: str  # where the row is in the paper (an ablation: the paper row's table)
    loss: str
    sft_init: bool
    sft_reg: float
    margin_source: str | None = None
    ablation_of: str | None = None  # the paper preset this ablation changes; None for a paper row
    differs: str = ""  # an ablation: what differs from that row, in words
    changes: tuple[tuple[str, Any], ...] = ()  # an ablation: the OPEN_CHOICES it sets otherwise

    @property
    def is_ablation(self) -> bool:
        return self.ablation_of is not None

    def settings(self) -> dict[str, Any]:
        """The ``RMTrainConfig`` fields this preset sets (``margin_source`` is a CLI-level option)."""
        values: dict[str, Any] = {
            "loss": self.loss,
            "sft_init": self.sft_init,
            "sft_reg": self.sft_reg,
            "epochs": PAPER_EPOCHS,
            "lr": PAPER_LR,
            **OPEN_CHOICES,
            **dict(self.changes),
        }
        if self.margin_source is not None:
            values["margin_source"] = self.margin_source
        return values


def _ablation(name: str, of: Preset, what: str, differs: str, **changes: Any) -> Preset:
    unknown = set(changes) - set(OPEN_CHOICES)
    assert not unknown, f"ablation {name} changes {unknown}: only {sorted(OPEN_CHOICES)}"
    return dataclasses.replace(
        of,
        name=name,
        label=f"{of.label} ({what})",
        ablation_of=of.name,
        differs=differs,
        changes=tuple(changes.items()),
    )


_PAPER = (
    Preset("paper-bt", "BT (Baseline)", "Table 3", "bt", sft_init=False, sft_reg=0.0),
    Preset("paper-bt-pretrain", "BT + Pre-train", "Table 3", "bt", sft_init=True, sft_reg=0.0),
    Preset("paper-gpt-margin", "GPT-Margin", "Table 1/2", "margin", sft_init=False, sft_reg=0.0, margin_source="judge"),
    Preset("paper-aam-ld", "AAM_LD", "Table 3", "aam-ld", sft_init=True, sft_reg=0.0),
    Preset("paper-aam-ld-reg", "AAM_LD + Reg.", "Table 3", "aam-ld", sft_init=True, sft_reg=PAPER_ALPHA),
    Preset("paper-aam-pr", "AAM_PR", "Table 3", "aam-pr", sft_init=True, sft_reg=0.0),
    Preset("paper-aam-pr-reg", "AAM_PR + Reg.", "Table 3", "aam-pr", sft_init=True, sft_reg=PAPER_ALPHA),
)
_P = {p.name: p for p in _PAPER}
_ABLATIONS = (
    _ablation(
        "paper-aam-pr-init",
        _P["paper-aam-pr"],
        "π_ref init",
        "pi_ref is the model after SFT pre-training (the PR margin is exactly 0 at step 0), not the backbone before it",
        pr_reference="init",
    ),
    _ablation(
        "paper-aam-pr-grad",
        _P["paper-aam-pr"],
        "margin grad",
        "the PR margin keeps its gradient (the BT loss trains the LM head through it), not detached",
        margin_grad=True,
    ),
    _ablation(
        "paper-aam-ld-grad",
        _P["paper-aam-ld"],
        "margin grad",
        "the LD margin keeps its gradient (the BT loss trains the LM head through it), not detached",
        margin_grad=True,
    ),
    _ablation(
        "paper-aam-ld-sum",
        _P["paper-aam-ld"],
        "summed margin, eq. 10",
        "the LD margin is the difference of summed log-probs (eq. 10 with L_SFT a sum), not of per-token means (eq. 9)",
        ld_reduction="sum",
    ),
    _ablation(
        "paper-aam-pr-reg-mean",
        _P["paper-aam-pr-reg"],
        "token-mean SFT reg.",
        "the SFT regulariser is the per-token mean NLL, not the summed L_SFT (about |y| times weaker)",
        sft_reduction="mean",
    ),
)
PRESETS: dict[str, Preset] = {p.name: p for p in (*_PAPER, *_ABLATIONS)}
PAPER_PRESETS: tuple[str, ...] = tuple(p.name for p in _PAPER)
ABLATIONS: tuple[str, ...] = tuple(p.name for p in _ABLATIONS)
BASELINE = "paper-bt"


def get_preset(name: str, option: str = "--preset") -> Preset:
    """The preset called ``name``; ValueError naming ``option`` and the choices otherwise."""
    if name not in PRESETS:
        raise ValueError(f"{option} {name!r}: choose one of {', '.join(PRESETS)}")
    return PRESETS[name]


def parse_presets(text: str, ablations: bool = False) -> list[Preset]:
    """``"a,b"`` -> presets (duplicates dropped), plus every ablation with ``ablations``; paper rows
    first in the given order, then the ablations. ValueError naming an unknown one."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ValueError("--presets: give at least one preset name")
    chosen = [get_preset(n, "--presets") for n in dict.fromkeys(names)]
    if ablations:
        chosen += [PRESETS[n] for n in ABLATIONS if n not in names]
    return [p for p in chosen if not p.is_ablation] + [p for p in chosen if p.is_ablation]


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

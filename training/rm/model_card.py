"""The model card (``README.md``) of a reward model written by ``charm-train rm``."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from training.rm.choices import card_section

if TYPE_CHECKING:
    from training.rm.trainer import RMTrainConfig


def write_model_card(
    folder: Path,
    cfg: RMTrainConfig,
    base_model: str,
    steps: int,
    history: Sequence[dict[str, float]],
    data: dict[str, Any] | None = None,
) -> Path:
    """``README.md``: YAML header (preset, loss, base model, steps), the preset (paper row or ablation), the
    choices the paper leaves open (:mod:`training.rm.choices`), a table of every resolved value and, given
    ``data`` (:meth:`PreferenceData.record`), one row per training source."""
    from charm_builder.export.card import render_card
    from training.rm.presets import PRESETS

    preset = PRESETS.get(cfg.preset or "")
    header = {
        "library_name": "transformers",
        "tags": ["reward-model", "charm", "aam", cfg.loss],
        "base_model": base_model,
        "charm_rm_preset": cfg.preset,
        "charm_rm_loss": cfg.loss,
        "steps": steps,
    }
    lines = [f"Reward model trained by `charm-train rm` with loss `{cfg.loss}` for {steps} optimizer steps."]
    if preset is not None and preset.ablation_of is not None:
        row = PRESETS[preset.ablation_of]
        lines.append(
            f'Preset `{preset.name}` "{preset.label}": an ablation, not a paper row. It is the paper\'s '
            f'{row.table} row "{row.label}" (`{row.name}`) except that {preset.differs}.'
        )
    elif preset is not None:
        lines.append(
            f'Preset `{preset.name}`: the paper\'s {preset.table} row "{preset.label}" (SFT pre-train '
            f"{'Yes' if preset.sft_init else 'No'}, SFT reg. {'Yes' if preset.sft_reg else 'No'})."
        )
    lines += ["", *card_section(cfg)]
    lines += ["", "## Settings", "", "| setting | value |", "|---|---|"]
    lines += [f"| {k} | {json.dumps(v)} |" for k, v in cfg.resolved().items()]
    if data is not None:
        lines += ["", *data_card_lines(data)]
    if history:
        last = history[-1]
        lines += ["", "Last logged step: " + ", ".join(f"{k} {v:.4g}" for k, v in last.items())]
    path = Path(folder) / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        render_card(header, f"Charm reward model ({cfg.preset or cfg.loss})", "\n".join(lines)), encoding="utf-8"
    )
    return path


def data_card_lines(data: dict[str, Any]) -> list[str]:
    """The model card's training-data section: how sources were combined and what each gave."""
    how = "sampled by --mix weights" if data["mix"] == "weighted" else "concatenated"
    lines = [
        f"Training data: {data['pairs']} pairs from {len(data['sources'])} source(s), {how}.",
        "",
        "| source | split | rows | formats | weight | pairs taken |",
        "|---|---|---|---|---|---|",
    ]
    for s in data["sources"]:
        formats = ", ".join(f"{k} {v}" for k, v in s["formats"].items())
        lines.append(f"| {s['path']} | {s['split']} | {s['rows']} | {formats} | {s['weight']:.4g} | {s['pairs']} |")
    return lines

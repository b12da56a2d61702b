"""Margin diagnostics (`charm-train diagnose RM_DIR --data EXPORT`): AAM margin vs annotator agreement.

Details: docs/design.md#margin-diagnostics.
"""

from __future__ import annotations

import csv
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from training.common.stats import rankdata, spearman

MARGIN_KINDS: tuple[str, ...] = ("auto", "ld", "pr")
TEXT_PREVIEW = 200


class DiagnosticsError(ValueError):
    """A user-caused problem (bad option, missing column); the message names it."""


# --------------------------------------------------------------------------------- statistics


def sigmoid(x: float) -> float:
    return 1 / (1 + math.exp(-x)) if x >= 0 else math.exp(x) / (1 + math.exp(x))


@dataclass
class PairDiagnosis:
    """One pair: annotator agreement, the model's reward gap and its AAM margin."""

    row: int
    id: str
    agreement: float
    reward_chosen: float
    reward_rejected: float
    aam_margin: float
    margin_bws: float | None = None
    chosen: str = ""
    rejected: str = ""

    @property
    def reward_gap(self) -> float:
        return self.reward_chosen - self.reward_rejected

    @property
    def p_model_chosen(self) -> float:
        return sigmoid(self.reward_gap)


def disagreements(pairs: Sequence[PairDiagnosis], confidence: float = 0.8) -> list[PairDiagnosis]:
    """Pairs where the model gives the annotators' choice at most ``1 - confidence``; most confident first."""
    if not 0.5 <= confidence < 1:
        raise DiagnosticsError(f"--confidence must be in [0.5, 1), got {confidence}")
    against = [p for p in pairs if p.p_model_chosen <= 1 - confidence]
    return sorted(against, key=lambda p: (p.p_model_chosen, -p.agreement, p.id))


def summarize(pairs: Sequence[PairDiagnosis], confidence: float, margin_kind: str, beta: float) -> dict[str, Any]:
    agreement = [p.agreement for p in pairs]
    rho = spearman(agreement, [p.aam_margin for p in pairs])
    rho_gap = spearman(agreement, [p.reward_gap for p in pairs])
    return {
        "pairs": len(pairs),
        "margin": margin_kind,
        "beta": beta,
        "confidence": confidence,
        "spearman_agreement_vs_aam_margin": None if rho is None else round(rho, 4),
        "spearman_agreement_vs_reward_gap": None if rho_gap is None else round(rho_gap, 4),
        "model_accuracy": round(sum(p.reward_gap > 0 for p in pairs) / len(pairs), 4) if pairs else None,
        "confidently_against_annotators": len(disagreements(pairs, confidence)),
    }


# ---------------------------------------------------------------------------------- outputs


def plot_margin_vs_agreement(pairs: Sequence[PairDiagnosis], path: Path, title: str, seed: int = 0) -> Path:
    """Scatter of AAM margin against agreement (x jittered), with the mean margin per agreement level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    rng = np.random.default_rng(seed)
    x = np.array([p.agreement for p in pairs], dtype=float)
    y = np.array([p.aam_margin for p in pairs], dtype=float)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=120)
    ax.scatter(x + rng.uniform(-0.01, 0.01, size=len(x)), y, s=10, alpha=0.5, label="pair")
    levels = sorted(set(x.tolist()))
    ax.plot(levels, [float(y[x == v].mean()) for v in levels], "o-", color="C3", label="mean per level")
    ax.axhline(0, color="grey", lw=0.8)
    ax.set_xlabel("annotator agreement")
    ax.set_ylabel("AAM margin")
    ax.set_title(title, fontsize=10)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


CSV_COLUMNS = (
    "row",
    "id",
    "agreement",
    "margin_bws",
    "aam_margin",
    "reward_chosen",
    "reward_rejected",
    "reward_gap",
    "p_model_chosen",
    "chosen",
    "rejected",
)


def write_pairs_csv(path: Path, pairs: Sequence[PairDiagnosis]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for p in pairs:
            w.writerow(
                [
                    p.row,
                    p.id,
                    round(p.agreement, 6),
                    "" if p.margin_bws is None else round(p.margin_bws, 6),
                    round(p.aam_margin, 6),
                    round(p.reward_chosen, 6),
                    round(p.reward_rejected, 6),
                    round(p.reward_gap, 6),
                    round(p.p_model_chosen, 6),
                    p.chosen[:TEXT_PREVIEW],
                    p.rejected[:TEXT_PREVIEW],
                ]
            )
    return path


# ------------------------------------------------------------------------------ model side


def _text(value: Any) -> str:
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return str(value)


@torch.no_grad()
def score_pairs(
    model: Any, encoded: Sequence[Any], batch_size: int = 8, on_progress: Callable[[int], None] | None = None
) -> torch.Tensor:
    """``(N, 6)``: reward, response log-prob sum and response length, for chosen then rejected."""
    from training.rm.data import collate_pairs

    model.eval()
    out = torch.zeros(len(encoded), 6)
    for start in range(0, len(encoded), batch_size):
        chunk = list(encoded[start : start + batch_size])
        b = {k: v.to(model.device) for k, v in collate_pairs(chunk, model.pad_token_id).items()}
        res = model(b["input_ids"], b["attention_mask"], b["response_mask"])
        n = len(chunk)
        for col, t in enumerate((res.rewards, res.logps, res.lengths)):
            out[start : start + n, col] = t[:n].float().cpu()
            out[start : start + n, 3 + col] = t[n:].float().cpu()
        if on_progress:
            on_progress(n)
    return out


def diagnose(
    rm_dir: str | os.PathLike[str],
    data: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    margin: str = "auto",
    beta: float | None = None,
    confidence: float = 0.8,
    agreement_column: str = "margin_agreement",
    limit: int | None = None,
    batch_size: int = 8,
    max_length: int = 1024,
    device: str | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Run the diagnostics and write the outputs (see module doc). Returns the summary."""
    from training.rm.data import encode_preference_rows, load_rows, require_columns
    from training.rm.losses import ld_margin
    from training.rm.model import load_backbone, load_reward_model
    from training.rm.trainer import DEFAULT_BETA

    if margin not in MARGIN_KINDS:
        raise DiagnosticsError(f"--margin {margin!r}: choose one of {', '.join(MARGIN_KINDS)}")
    if not 0.5 <= confidence < 1:
        raise DiagnosticsError(f"--confidence must be in [0.5, 1), got {confidence}")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise DiagnosticsError(f"--out {out}: exists and is not a folder")
    rows, source = load_rows(data, split)
    require_columns(rows, ["prompt", "chosen", "rejected", agreement_column], source)
    if limit is not None:
        rows = rows.select(range(min(limit, len(rows))))
    agreement = rows[agreement_column]
    bad = next((i for i, v in enumerate(agreement) if not isinstance(v, (int, float)) or not math.isfinite(v)), None)
    if bad is not None:
        raise DiagnosticsError(
            f"{source} row {bad}: {agreement_column!r} must be a finite number, got {agreement[bad]!r}"
        )
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model = load_reward_model(rm_dir, device=dev)
    meta = getattr(model, "metadata", {})
    kind = margin if margin != "auto" else ("pr" if meta.get("loss") == "aam-pr" else "ld")
    beta = beta if beta is not None else (meta.get("beta") or DEFAULT_BETA["aam-pr" if kind == "pr" else "aam-ld"])
    encoded = encode_preference_rows(rows, model.tokenizer, max_length, source)
    total = len(encoded) * (2 if kind == "pr" else 1)
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, total)

    scores = score_pairs(model, encoded, batch_size, tick)
    if kind == "pr":
        base = meta.get("base_model")
        if not base or not Path(base).is_dir():
            raise DiagnosticsError(
                f"--margin pr needs the reference model; {rm_dir}/charm_rm.json names base_model "
                f"{base!r}, which is not a folder here (use --margin ld)"
            )
        ref = load_backbone(base).to(dev)
        ref_scores = score_pairs(ref, encoded, batch_size, tick)
        del ref
        aam = beta * ((scores[:, 1] - ref_scores[:, 1]) - (scores[:, 4] - ref_scores[:, 4]))
    else:
        reduction = (meta.get("train_config") or {}).get("ld_reduction", "mean")  # as the model trained
        aam = ld_margin(scores[:, 1], scores[:, 4], scores[:, 2], scores[:, 5], float(beta), reduction=reduction)
    ids = rows["id"] if "id" in rows.column_names else [str(i) for i in range(len(rows))]
    bws = rows["margin_bws"] if "margin_bws" in rows.column_names else [None] * len(rows)
    pairs = [
        PairDiagnosis(
            i,
            str(ids[i]),
            float(agreement[i]),
            float(scores[i, 0]),
            float(scores[i, 3]),
            float(aam[i]),
            None if bws[i] is None else float(bws[i]),
            _text(row["chosen"]),
            _text(row["rejected"]),
        )
        for i, row in enumerate(rows)
    ]
    summary = summarize(pairs, confidence, kind, float(beta)) | {
        "model": str(rm_dir),
        "data": source,
        "agreement_column": agreement_column,
    }
    out.mkdir(parents=True, exist_ok=True)
    rho = summary["spearman_agreement_vs_aam_margin"]
    plot_margin_vs_agreement(
        pairs,
        out / "margin_vs_agreement.png",
        f"{Path(rm_dir).name}: {kind.upper()} margin vs agreement "
        f"(Spearman {'n/a' if rho is None else f'{rho:.3f}'}, n={len(pairs)})",
    )
    write_pairs_csv(out / "pairs.csv", pairs)
    write_pairs_csv(out / "disagreements.csv", disagreements(pairs, confidence))
    (out / "summary.json").write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return summary


__all__ = [
    "DiagnosticsError",
    "PairDiagnosis",
    "diagnose",
    "disagreements",
    "plot_margin_vs_agreement",
    "rankdata",
    "score_pairs",
    "spearman",
    "summarize",
    "write_pairs_csv",
]

"""``annotate report``: agreement, best-worst scaling per model (with a PNG chart), ambiguous records."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from annotation.metrics import (
    Ambiguity,
    ModelScore,
    agreement_units,
    ambiguous_records,
    best_worst_scaling,
    krippendorff_alpha_nominal,
)
from schemas import Annotation, CandidateSet


@dataclass
class QAReport:
    """Everything ``annotate report`` shows and writes."""

    annotations: int
    annotators: list[str]
    candidate_sets: int
    alpha_best: float | None
    alpha_worst: float | None
    scores: list[ModelScore]
    ambiguous: list[Ambiguity]
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict:
        """A JSON-ready dict (scores include the computed ``score``)."""
        data = asdict(self)
        data["scores"] = [{**asdict(s), "score": s.score} for s in self.scores]
        return data


def build_report(annotations: list[Annotation], candidate_sets: dict[str, CandidateSet]) -> QAReport:
    """Compute the QA report from submitted annotations (pure)."""
    submitted = [a for a in annotations if a.status == "submitted"]
    return QAReport(
        annotations=len(submitted),
        annotators=sorted({a.annotator for a in submitted}),
        candidate_sets=len({a.candidate_set_id for a in submitted}),
        alpha_best=krippendorff_alpha_nominal(agreement_units(submitted, "best")),
        alpha_worst=krippendorff_alpha_nominal(agreement_units(submitted, "worst")),
        scores=best_worst_scaling(submitted, candidate_sets),
        ambiguous=ambiguous_records(submitted),
    )


def plot_scores(scores: list[ModelScore], path: Path, title: str = "Best-worst scaling per model") -> Path:
    """Horizontal bar chart of BWS scores, best model on top, written as PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ordered = list(reversed(scores))
    fig, ax = plt.subplots(figsize=(7, 0.6 * max(len(ordered), 1) + 1.5))
    values = [s.score for s in ordered]
    colors = ["#2e7d32" if v >= 0 else "#c62828" for v in values]
    ax.barh([s.model_id for s in ordered], values, color=colors)
    for y, s in enumerate(ordered):
        ax.text(s.score, y, f" {s.score:+.2f} (n={s.appearances})", va="center",
                ha="left" if s.score >= 0 else "right", fontsize=8)  # fmt: skip
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlim(-1.15, 1.15)
    ax.set_xlabel("(best − worst) / appearances")
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


def write_report(report: QAReport, out_dir: Path, name: str = "annotation-report") -> QAReport:
    """Write ``<name>.json`` and ``<name>-bws.png`` into ``out_dir``; records the paths in ``report.files``."""
    out_dir.mkdir(parents=True, exist_ok=True)
    png = plot_scores(report.scores, out_dir / f"{name}-bws.png")
    json_path = out_dir / f"{name}.json"
    report.files = {"json": str(json_path), "chart": str(png)}
    json_path.write_text(json.dumps(report.to_json(), indent=2, ensure_ascii=False) + "\n")
    return report

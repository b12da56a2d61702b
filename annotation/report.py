"""``annotate report``: agreement, best-worst scaling per model (with a PNG chart), ambiguous records."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
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

#: judge name -> candidate set id -> (judge's best label, judge's worst label)
JudgePicks = Mapping[str, Mapping[str, tuple[str, str]]]


@dataclass
class JudgeAgreement:
    """How often human annotators picked what an LLM judge picked (per submitted annotation).

    ``compared`` = human annotations on candidate sets the judge has a pick for; ``best_share`` = share
    of them whose best equals the judge's best; ``worst_share`` likewise for worst."""

    judge: str
    compared: int
    best_matches: int
    worst_matches: int
    by_annotator: dict[str, dict[str, int]] = field(default_factory=dict)  # name -> compared/best/worst

    @property
    def best_share(self) -> float | None:
        return self.best_matches / self.compared if self.compared else None

    @property
    def worst_share(self) -> float | None:
        return self.worst_matches / self.compared if self.compared else None


def judge_agreement(
    annotations: Iterable[Annotation], judge: str, picks: Mapping[str, tuple[str, str]]
) -> JudgeAgreement:
    """Annotator-vs-judge agreement over submitted human annotations (pure)."""
    out = JudgeAgreement(judge, 0, 0, 0)
    for a in annotations:
        if a.status != "submitted" or a.source != "human" or a.candidate_set_id not in picks:
            continue
        best, worst = picks[a.candidate_set_id]
        row = out.by_annotator.setdefault(a.annotator, {"compared": 0, "best": 0, "worst": 0})
        hits = (a.best == best, a.worst == worst)
        out.compared += 1
        out.best_matches += hits[0]
        out.worst_matches += hits[1]
        row["compared"] += 1
        row["best"] += hits[0]
        row["worst"] += hits[1]
    return out


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
    judges: list[JudgeAgreement] = field(default_factory=list)
    synthetic_ignored: int = 0  # synthetic (LLM-judge) annotations left out of every figure above
    # one-coin Dawid-Skene accuracy per annotator, best first (charm_builder.export.reliability)
    reliability: list[dict[str, object]] = field(default_factory=list)

    def to_json(self) -> dict:
        """A JSON-ready dict (scores include the computed ``score``, judges their shares)."""
        data = asdict(self)
        data["scores"] = [{**asdict(s), "score": s.score} for s in self.scores]
        data["judges"] = [{**asdict(j), "best_share": j.best_share, "worst_share": j.worst_share} for j in self.judges]
        return data


def build_report(
    annotations: list[Annotation], candidate_sets: dict[str, CandidateSet], judge_picks: JudgePicks | None = None
) -> QAReport:
    """Compute the QA report from submitted human annotations (pure); with ``judge_picks`` also the
    annotator-vs-judge agreement of each judge. Synthetic annotations are counted, never used."""
    submitted = [a for a in annotations if a.status == "submitted" and a.source == "human"]
    synthetic = sum(a.source != "human" for a in annotations)
    return QAReport(
        annotations=len(submitted),
        annotators=sorted({a.annotator for a in submitted}),
        candidate_sets=len({a.candidate_set_id for a in submitted}),
        alpha_best=krippendorff_alpha_nominal(agreement_units(submitted, "best")),
        alpha_worst=krippendorff_alpha_nominal(agreement_units(submitted, "worst")),
        scores=best_worst_scaling(submitted, candidate_sets),
        ambiguous=ambiguous_records(submitted),
        judges=[judge_agreement(submitted, name, picks) for name, picks in sorted((judge_picks or {}).items())],
        synthetic_ignored=synthetic,
        reliability=annotator_reliability(submitted, candidate_sets),
    )


def annotator_reliability(
    submitted: list[Annotation], candidate_sets: Mapping[str, CandidateSet], seed: int = 0
) -> list[dict[str, object]]:
    """Annotators ranked by their one-coin Dawid-Skene accuracy with a 95% bootstrap interval."""
    import polars as pl

    from charm_builder.export.reliability import fit_reliability

    picks = [(a.candidate_set_id, a.annotator, a.best, a.worst) for a in submitted if a.best and a.worst]
    if not picks:
        return []
    frame = pl.DataFrame(picks, schema=["candidate_set_id", "annotator", "best", "worst"], orient="row")
    labels = [(sid, c.label) for sid, cs in candidate_sets.items() for c in cs.candidates]
    candidates = pl.DataFrame(labels, schema=["candidate_set_id", "label"], orient="row") if labels else None
    return fit_reliability(frame, candidates, seed=seed).annotators.to_dicts()


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
        ax.text(
            s.score,
            y,
            f" {s.score:+.2f} (n={s.appearances})",
            va="center",
            ha="left" if s.score >= 0 else "right",
            fontsize=8,
        )
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

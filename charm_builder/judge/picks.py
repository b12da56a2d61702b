"""From judge scores to best/worst picks, and to synthetic annotations.

Best = the highest score, worst = the lowest, over the candidates that have a parsed score and are
not flagged ``empty`` or ``duplicate``. Ties are broken deterministically by a hash of
(candidate set id, label) — best takes the smallest hash among the top scores, worst the largest
among the bottom ones — so no label (and hence no candidate model) is favoured, and best != worst
even when every score is equal. Such a pick is marked ``tied`` (the judge expressed no preference;
its margin_judge is 0). A set with fewer than two eligible scored candidates gets no pick.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from charm_builder.judge.prompts import PROMPT_VERSION
from charm_builder.judge.runner import existing_scores
from charm_builder.store import Workspace
from schemas import Annotation, CandidateSet, JudgeScore

EXCLUDED_FLAGS = frozenset({"empty", "duplicate"})
SYNTHETIC_PREFIX = "judge:"


@dataclass(frozen=True)
class JudgePick:
    """A judge's best and worst candidate of one set, with their 1-10 scores."""

    candidate_set_id: str
    best: str
    worst: str
    best_score: float
    worst_score: float

    @property
    def tied(self) -> bool:
        """Every eligible candidate got the same score: the pick is a tie-break only."""
        return self.best_score == self.worst_score


def _tiebreak(set_id: str, label: str) -> int:
    return int(hashlib.sha256(f"{set_id}:{label}".encode()).hexdigest()[:16], 16)


def pick(set_id: str, scores: Mapping[str, float]) -> JudgePick | None:
    """Best/worst from ``label -> score`` (eligible candidates only); None with fewer than two."""
    if len(scores) < 2:
        return None
    best = min(scores, key=lambda lab: (-scores[lab], _tiebreak(set_id, lab)))
    worst = min(scores, key=lambda lab: (scores[lab], -_tiebreak(set_id, lab)))
    return JudgePick(set_id, best, worst, scores[best], scores[worst])


def eligible_scores(cset: CandidateSet, scores: Mapping[str, float | None]) -> dict[str, float]:
    """Parsed scores of the candidates that may be picked (not empty, not duplicate)."""
    return {
        c.label: float(s)
        for c in cset.candidates
        if not EXCLUDED_FLAGS & set(c.flags) and (s := scores.get(c.label)) is not None
    }


def judge_picks(ws: Workspace, judge: str, prompt_version: str = PROMPT_VERSION) -> dict[str, JudgePick]:
    """Candidate set id -> the judge's pick, for every set the judge scored with a clear result."""
    picks = {}
    for set_id, scores in sorted(_by_set(existing_scores(ws, judge, prompt_version)).items()):
        cset = ws.get(CandidateSet, set_id)
        if cset is not None and (p := pick(set_id, eligible_scores(cset, scores))) is not None:
            picks[set_id] = p
    return picks


def _by_set(scores: Mapping[tuple[str, str], JudgeScore]) -> dict[str, dict[str, float | None]]:
    by_set: dict[str, dict[str, float | None]] = {}
    for (set_id, label), s in sorted(scores.items()):
        by_set.setdefault(set_id, {})[label] = s.score
    return by_set


def judges_in(ws: Workspace) -> list[str]:
    """Judges with at least one stored score, by name."""
    return ws.distinct(JudgeScore, "judge")


@dataclass
class SyntheticReport:
    judge: str
    written: int = 0
    sets_scored: int = 0
    no_pick: int = 0  # fewer than two eligible scored candidates
    tied: int = 0  # written, but every eligible score was equal (tie-break picks)


def synthetic_annotations(ws: Workspace, judge: str, prompt_version: str = PROMPT_VERSION) -> SyntheticReport:
    """Store one synthetic ``Annotation`` (annotator ``judge:<judge>``) per set the judge picked in.

    Idempotent: the annotation id derives from (candidate set, annotator), so a rerun replaces, never
    duplicates. Marked ``source="synthetic"`` with the judge, prompt version and scores in provenance.
    """
    scores = existing_scores(ws, judge, prompt_version)
    by_set = _by_set(scores)
    report = SyntheticReport(judge=judge, sets_scored=len(by_set))
    model_id = next((s.judge_model_id for s in scores.values()), "")
    picks = judge_picks(ws, judge, prompt_version)
    report.no_pick = report.sets_scored - len(picks)
    report.tied = sum(p.tied for p in picks.values())
    annotations = []
    for set_id, p in picks.items():
        annotations.append(
            Annotation(
                candidate_set_id=set_id,
                annotator=f"{SYNTHETIC_PREFIX}{judge}",
                best=p.best,
                worst=p.worst,  # type: ignore[arg-type]
                source="synthetic",
                provenance={
                    "judge": judge,
                    "judge_model_id": model_id,
                    "prompt_version": prompt_version,
                    "scores": by_set[set_id],
                    "tied": p.tied,
                },
            )
        )
    report.written = ws.upsert_many(annotations)
    return report

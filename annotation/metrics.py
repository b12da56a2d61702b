"""QA metrics for best/worst annotation. Pure functions: no I/O, no server, no plotting.

* :func:`krippendorff_alpha_nominal` — agreement on a nominal label (used for ``best`` and ``worst``).
* :func:`best_worst_scaling` — per model: (times chosen best − times chosen worst) / appearances.
* :func:`ambiguous_records` — candidate sets whose votes tie or contradict each other.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from schemas import Annotation, CandidateSet

Units = Mapping[Hashable, Mapping[Hashable, Hashable]]


def krippendorff_alpha_nominal(units: Units) -> float | None:
    """Krippendorff's alpha for nominal data.

    ``units`` maps a unit (e.g. a candidate set id) to ``{coder: value}``. Units with fewer than two
    values are not pairable and are ignored. Returns ``None`` when alpha is undefined: no pairable
    unit, or every pairable value is the same (no expected disagreement).

    alpha = 1 - (n - 1) * sum_{c != k} o_ck / sum_{c != k} n_c * n_k, with the coincidence matrix
    o_ck = sum_u (number of ordered pairs (c, k) in unit u) / (m_u - 1).
    """
    coincidences: dict[tuple[Hashable, Hashable], float] = defaultdict(float)
    for coded in units.values():
        values = list(coded.values())
        m = len(values)
        if m < 2:
            continue
        counts = Counter(values)
        for c, n_c in counts.items():
            for k, n_k in counts.items():
                pairs = n_c * (n_c - 1) if c == k else n_c * n_k
                if pairs:
                    coincidences[(c, k)] += pairs / (m - 1)
    if not coincidences:
        return None
    totals: dict[Hashable, float] = defaultdict(float)
    for (c, _k), value in coincidences.items():
        totals[c] += value
    n = sum(totals.values())
    observed = sum(value for (c, k), value in coincidences.items() if c != k)
    expected = sum(totals[c] * totals[k] for c in totals for k in totals if c != k)
    if expected == 0:
        return None
    return 1.0 - (n - 1) * observed / expected


def agreement_units(annotations: Iterable[Annotation], question: Literal["best", "worst"]) -> dict[str, dict[str, str]]:
    """``{candidate_set_id: {annotator: label}}`` for submitted annotations (input of the alpha)."""
    units: dict[str, dict[str, str]] = defaultdict(dict)
    for ann in annotations:
        value = getattr(ann, question)
        if ann.status == "submitted" and value is not None:
            units[ann.candidate_set_id][ann.annotator] = value
    return dict(units)


@dataclass(frozen=True)
class ModelScore:
    """Best-worst scaling result for one model."""

    model_id: str
    best: int
    worst: int
    appearances: int

    @property
    def score(self) -> float:
        """(best - worst) / appearances, in [-1, 1]."""
        return (self.best - self.worst) / self.appearances if self.appearances else 0.0


def best_worst_scaling(
    annotations: Iterable[Annotation], candidate_sets: Mapping[str, CandidateSet]
) -> list[ModelScore]:
    """BWS scores per model over submitted annotations, best score first (ties by model id).

    Every submitted annotation of a candidate set counts one appearance for each model in that set.
    Annotations whose candidate set is unknown are skipped.
    """
    best: Counter[str] = Counter()
    worst: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for ann in annotations:
        cset = candidate_sets.get(ann.candidate_set_id)
        if ann.status != "submitted" or cset is None or ann.best is None or ann.worst is None:
            continue
        for cand in cset.candidates:
            seen[cand.model_id] += 1
        best[cset.by_label(ann.best).model_id] += 1
        worst[cset.by_label(ann.worst).model_id] += 1
    scores = [ModelScore(m, best[m], worst[m], seen[m]) for m in seen]
    return sorted(scores, key=lambda s: (-s.score, s.model_id))


@dataclass(frozen=True)
class Ambiguity:
    """A candidate set whose judgements do not single out one best and one worst reply."""

    candidate_set_id: str
    reasons: tuple[str, ...]
    best_votes: dict[str, int] = field(default_factory=dict)
    worst_votes: dict[str, int] = field(default_factory=dict)


def _tied(votes: Counter[str]) -> list[str]:
    if not votes:
        return []
    top = max(votes.values())
    leaders = sorted(label for label, n in votes.items() if n == top)
    return leaders if len(leaders) > 1 else []


def ambiguous_records(annotations: Iterable[Annotation]) -> list[Ambiguity]:
    """Candidate sets (with ≥ 2 submitted annotations) whose best or worst vote ties, or where one
    candidate was chosen best by someone and worst by someone else. Sorted by candidate set id."""
    best: dict[str, Counter[str]] = defaultdict(Counter)
    worst: dict[str, Counter[str]] = defaultdict(Counter)
    count: Counter[str] = Counter()
    for ann in annotations:
        if ann.status != "submitted" or ann.best is None or ann.worst is None:
            continue
        best[ann.candidate_set_id][ann.best] += 1
        worst[ann.candidate_set_id][ann.worst] += 1
        count[ann.candidate_set_id] += 1
    found = []
    for cset_id in sorted(count):
        if count[cset_id] < 2:
            continue
        reasons = []
        if tied := _tied(best[cset_id]):
            reasons.append(f"best tie: {', '.join(tied)}")
        if tied := _tied(worst[cset_id]):
            reasons.append(f"worst tie: {', '.join(tied)}")
        both = sorted(set(best[cset_id]) & set(worst[cset_id]))
        if both:
            reasons.append(f"chosen both best and worst: {', '.join(both)}")
        if reasons:
            found.append(Ambiguity(cset_id, tuple(reasons), dict(best[cset_id]), dict(worst[cset_id])))
    return found

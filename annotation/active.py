"""What to annotate next: rank the candidate sets nobody has annotated by how informative a label would be.

Four strategies (``charm-build annotate next --strategy``), each a small pure score function below:

* ``judge-disagreement`` — how unsure the LLM judge's 1-10 scores leave best *and* worst
  (:func:`judge_disagreement_score`); sets the judge has not scored come last.
* ``rm-uncertainty`` — how unsure a reward model's rewards over the candidates leave the pick
  (:func:`rm_uncertainty_score`); needs a ``charm-train rm`` run.
* ``aam-margin`` — the run's own Act-Adaptive (LD) margin between its top and bottom candidate
  (:func:`aam_margin_score`); the smallest margin (the model's LM head barely separates them, or prefers
  the bottom one) first.
* ``random`` — a seeded shuffle (the baseline).

"Annotated" means a submitted *human* annotation; synthetic (LLM-judge) annotations do not count.
The RM strategies score candidates through a ``scorer`` the caller passes (the app passes
``training.rm.set_scores.score_run``), so this stage never imports ``training``.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from charm_builder.judge import EXCLUDED_FLAGS
from charm_kernel.errors import CharmError
from charm_kernel.formatting import fmt
from schemas import Annotation, CandidateSet, Character, Dialogue, JudgeScore, to_chat

STRATEGIES: tuple[str, ...] = ("judge-disagreement", "rm-uncertainty", "aam-margin", "random")
RM_STRATEGIES = frozenset({"rm-uncertainty", "aam-margin"})
#: Scale of the LD margin (the ``aam-ld`` default beta of ``charm-train rm``).
DEFAULT_BETA = 1.0

# (run folder, [(prompt, response)], with_logps=) -> [(reward, summed response log-prob, response tokens)];
# raises ValueError when the folder is not a reward-model run
Scorer = Callable[..., Sequence[tuple[float, float, int]]]


class ActiveError(CharmError):
    """A user-caused problem choosing what to annotate next (one line; exit code 2)."""


@dataclass(frozen=True)
class Ranked:
    """One candidate set in the ranking: ``rank`` 1 = annotate first. ``score`` is None when the strategy
    could not score the set (e.g. no judge scores); such sets come last."""

    rank: int
    candidate_set_id: str
    score: float | None
    why: str

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- pure score functions ---------------------------------------------------------------------------------


def softmax(values: Sequence[float], temperature: float = 1.0) -> list[float]:
    """``softmax(v / T)``: ``exp(v_i / T) / sum_j exp(v_j / T)`` (shifted by the maximum for stability)."""
    if temperature <= 0:
        raise ValueError("temperature must be positive")
    top = max(values)
    exps = [math.exp((v - top) / temperature) for v in values]
    total = sum(exps)
    return [e / total for e in exps]


def normalized_entropy(probs: Sequence[float]) -> float:
    """``H(p) / ln n`` = ``-sum_i p_i ln p_i / ln n`` in [0, 1] (0: one certain outcome, 1: uniform); 0 for n < 2."""
    if len(probs) < 2:
        return 0.0
    h = -sum(p * math.log(p) for p in probs if p > 0)
    return h / math.log(len(probs))


def judge_disagreement_score(scores: Sequence[float], temperature: float = 1.0) -> float:
    """How unsure a judge's 1-10 scores leave both picks, in [0, 1] (higher = annotate first):

    ``(H(softmax(s / T)) + H(softmax(-s / T))) / (2 ln n)``

    the mean of the normalised entropies of "which one is best" and "which one is worst" when each pick is
    drawn with probability softmax of the scores. Six equal scores give 1.0; one clear best and one clear
    worst far from the rest give nearly 0. Needs at least two scores (fewer: 0.0)."""
    if len(scores) < 2:
        return 0.0
    best = normalized_entropy(softmax(scores, temperature))
    worst = normalized_entropy(softmax([-s for s in scores], temperature))
    return (best + worst) / 2


def rm_uncertainty_score(rewards: Sequence[float], temperature: float = 1.0) -> float:
    """How unsure a reward model is about the best candidate, in [0, 1] (higher = annotate first):

    ``H(softmax(r / T)) / ln n``

    the normalised entropy of the softmax over the candidates' rewards (a Bradley-Terry model's probability
    that each candidate wins a comparison against all). Equal rewards give 1.0."""
    return normalized_entropy(softmax(rewards, temperature)) if len(rewards) >= 2 else 0.0


def aam_margin_score(
    top_logp: float, top_length: int, bottom_logp: float, bottom_length: int, beta: float = DEFAULT_BETA
) -> float:
    """The AAM-LD margin (paper eq. 9, ``training.rm.losses.ld_margin`` with ``reduction="mean"``) between the
    reward model's own top and bottom candidate (lower = annotate first):

    ``beta * (logp(top) / |top| - logp(bottom) / |bottom|)``

    with ``logp`` the summed response-token log-probs under the run's LM head and ``|y|`` the response
    tokens (at least 1). Small: the LM head hardly separates the pair; negative: it prefers the candidate the
    value head put last, so the model disagrees with itself."""
    return beta * (top_logp / max(1, top_length) - bottom_logp / max(1, bottom_length))


def random_order(ids: Iterable[str], seed: int) -> list[str]:
    """``ids`` sorted, then shuffled by ``random.Random(seed)`` (the same seed gives the same order)."""
    order = sorted(ids)
    random.Random(seed).shuffle(order)
    return order


# -- the ranking ------------------------------------------------------------------------------------------


def annotated_set_ids(store: Any) -> set[str]:
    """Candidate sets with at least one submitted human annotation (synthetic judge picks do not count)."""
    return {a.candidate_set_id for a in store.iter(Annotation) if a.source == "human" and a.status == "submitted"}


def unannotated_sets(store: Any) -> list[CandidateSet]:
    """Candidate sets nobody has annotated yet, in id order."""
    done = annotated_set_ids(store)
    return [s for s in store.iter(CandidateSet) if s.id not in done]


def eligible_labels(cset: CandidateSet) -> list[str]:
    """Labels of the candidates that may be picked (not flagged empty or duplicate)."""
    return [c.label for c in cset.candidates if not EXCLUDED_FLAGS & set(c.flags)]


def _fmt_values(values: Mapping[str, float], digits: int = 0) -> str:
    return " ".join(
        label + (fmt(value, digits, signed=True) if digits else f"{value:g}") for label, value in values.items()
    )


def judge_scores_by_set(store: Any, judge: str) -> dict[str, dict[str, float]]:
    """Candidate set id -> label -> the judge's parsed 1-10 score (every prompt version of ``judge``)."""
    from charm_builder.judge.prompts import PROMPT_VERSION

    out: dict[str, dict[str, float]] = {}
    for s in store.iter(JudgeScore, judge=judge):
        if s.score is not None and s.prompt_version == PROMPT_VERSION:
            out.setdefault(s.candidate_set_id, {})[s.label] = float(s.score)
    return out


def resolve_judge(store: Any, judge: str | None) -> str:
    """``judge``, or the only judge with scores in the workspace; a one-line error otherwise."""
    from charm_builder.judge import judges_in

    known = judges_in(store)
    if judge is not None:
        if judge not in known:
            raise ActiveError(
                f"--judge {judge!r}: no scores from this judge in {store.root}; run "
                f"`charm-build judge --judge {judge} --all` first" + (f" (judges: {', '.join(known)})" if known else "")
            )
        return judge
    if not known:
        raise ActiveError(
            f"--strategy judge-disagreement: no judge scores in {store.root}; run "
            "`charm-build judge --judge MODEL --all` first"
        )
    if len(known) > 1:
        raise ActiveError(
            f"--strategy judge-disagreement: several judges scored this workspace; pick one with --judge ({', '.join(known)})"
        )
    return known[0]


def _judge_ranking(store: Any, sets: list[CandidateSet], judge: str) -> list[tuple[str, float | None, str]]:
    by_set = judge_scores_by_set(store, judge)
    rows = []
    for cset in sets:
        labels = eligible_labels(cset)
        scores = {lab: by_set[cset.id][lab] for lab in labels if lab in by_set.get(cset.id, {})}
        if len(scores) < 2:
            rows.append((cset.id, None, f"{judge} scored {len(scores)} candidate(s): ranked last"))
            continue
        value = judge_disagreement_score(list(scores.values()))
        rows.append((cset.id, value, f"{judge} scores {_fmt_values(scores)}"))
    return rows


def set_prompt(store: Any, cset: CandidateSet) -> list[dict[str, str]]:
    """The prompt a reward model sees for ``cset``, as the preferenceTraining export builds it: the
    character's system prompt in the dialogue's language, then the context as chat messages."""
    dialogue = store.get(Dialogue, cset.dialogue_id)
    system = ""
    if dialogue is not None:
        character = store.get(Character, dialogue.character_id)
        if character is not None:
            system = character.system_prompt.get(dialogue.language)
    return to_chat(cset.context, system=system)


def _rm_ranking(
    store: Any, sets: list[CandidateSet], strategy: str, rm_run: Path, beta: float, scorer: Scorer
) -> list[tuple[str, float | None, str]]:
    items, owners = [], []
    for cset in sets:
        prompt = set_prompt(store, cset)
        for label in eligible_labels(cset):
            items.append((prompt, cset.by_label(label).text))
            owners.append((cset.id, label))
    try:
        scored = scorer(rm_run, items, with_logps=strategy == "aam-margin")
    except ValueError as exc:  # RewardModelError: missing folder, not a charm-train rm run
        raise ActiveError(f"--rm {rm_run}: {str(exc).removeprefix(str(rm_run) + ': ')}") from None
    per_set: dict[str, dict[str, tuple[float, float, int]]] = {}
    for (set_id, label), values in zip(owners, scored, strict=True):
        per_set.setdefault(set_id, {})[label] = values
    rows = []
    for cset in sets:
        cands = per_set.get(cset.id, {})
        if len(cands) < 2:
            rows.append((cset.id, None, f"{len(cands)} candidate(s) to compare: ranked last"))
            continue
        rewards = {lab: v[0] for lab, v in cands.items()}
        top = max(rewards, key=lambda lab: (rewards[lab], lab))
        bottom = min(rewards, key=lambda lab: (rewards[lab], lab))
        if strategy == "rm-uncertainty":
            value = rm_uncertainty_score(list(rewards.values()))
            rows.append((cset.id, value, f"RM rewards {_fmt_values(rewards, 2)}"))
        else:
            value = aam_margin_score(cands[top][1], cands[top][2], cands[bottom][1], cands[bottom][2], beta)
            gap = rewards[top] - rewards[bottom]
            rows.append((cset.id, value, f"LD margin top {top} vs bottom {bottom}; reward gap {gap:.2f}"))
    return rows


def rank_candidate_sets(
    store: Any,
    strategy: str,
    k: int | None,
    rm_run: str | Path | None = None,
    seed: int = 0,
    *,
    judge: str | None = None,
    beta: float = DEFAULT_BETA,
    scorer: Scorer | None = None,
) -> list[Ranked]:
    """The ``k`` unannotated candidate sets to annotate first (all of them when ``k`` is None), best first.

    Sets a strategy cannot score come after every scored one; ties keep id order. ``rm_run`` (a
    ``charm-train rm`` output folder) is needed by ``rm-uncertainty`` and ``aam-margin``; ``judge`` picks
    the judge of ``judge-disagreement`` (default: the only one with scores); ``scorer`` scores candidates
    with that run for the RM strategies (the app passes ``training.rm.set_scores.score_run``). Raises
    :class:`ActiveError`."""
    if strategy not in STRATEGIES:
        raise ActiveError(f"--strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    if k is not None and k < 1:
        raise ActiveError(f"--k must be at least 1, not {k}")
    if strategy in RM_STRATEGIES and rm_run is None:
        raise ActiveError(f"--strategy {strategy} needs --rm RUN (a `charm-train rm` output folder, e.g. runs/demo-rm)")
    if strategy in RM_STRATEGIES and scorer is None:
        raise ActiveError(f"--strategy {strategy} needs a reward-model scorer (training.rm.set_scores.score_run)")
    sets = unannotated_sets(store)
    if not sets:
        total = sum(1 for _ in store.iter(CandidateSet))
        raise ActiveError(
            f"{store.root}: no unannotated candidate sets ({total} in total, all annotated); "
            "run `charm-build simulate` for more"
        )
    if strategy == "random":
        rows = [(sid, None, f"seeded shuffle (seed {seed})") for sid in random_order((s.id for s in sets), seed)]
        return [Ranked(i, sid, score, why) for i, (sid, score, why) in enumerate(rows[:k], start=1)]
    if strategy == "judge-disagreement":
        rows = _judge_ranking(store, sets, resolve_judge(store, judge))
        descending = True
    else:
        rows = _rm_ranking(store, sets, strategy, Path(rm_run), beta, scorer)  # type: ignore[arg-type]
        descending = strategy == "rm-uncertainty"
    sign = -1.0 if descending else 1.0
    rows.sort(key=lambda r: (r[1] is None, sign * r[1] if r[1] is not None else 0.0, r[0]))
    return [Ranked(i, sid, score, why) for i, (sid, score, why) in enumerate(rows[:k], start=1)]


def ranking_json(ranking: Sequence[Ranked], **about: Any) -> dict[str, Any]:
    """The ranking as written by ``annotate next --out``: the settings (``about``) and one entry per set."""
    return {**about, "ranking": [r.to_json() for r in ranking]}

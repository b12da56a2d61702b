"""Annotator reliability from best/worst picks: a one-coin Dawid-Skene model fitted by EM.

Details: docs/design.md#annotator-reliability-model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

Obs = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # per pick: set, annotator, best, worst (indices)
PRIOR_A, PRIOR_B = 2.0, 1.0  # Beta prior on each annotator's accuracy (mean 2/3)
RANDOM_BELOW = 0.5  # an accuracy interval entirely under this flags likely random clicking
LABELS = ("A", "B", "C", "D", "E", "F")


@dataclass(frozen=True)
class Reliability:
    """A fitted model: annotators ranked by accuracy, and every set's posterior."""

    annotators: pl.DataFrame  # annotator, shared_sets, picks, accuracy, lo, hi, likely_random (best first)
    posterior: pl.DataFrame  # candidate_set_id, n_annotators, best, best_p, worst, worst_p, verdict_p
    labels: tuple[str, ...]
    joint: np.ndarray  # (sets, K, K): P(best = labels[b], worst = labels[w]) in posterior's row order
    iterations: int
    converged: bool

    def pair_confidence(self, pairs: pl.DataFrame) -> pl.Series:
        """``label_confidence`` for rows of (candidate_set_id, chosen_label, rejected_label); null where
        the set or a label is unknown to the model."""
        row = {cs: i for i, cs in enumerate(self.posterior["candidate_set_id"].to_list())}
        index = {label: k for k, label in enumerate(self.labels)}
        out: list[float | None] = []
        for cs, c, r in pairs.select("candidate_set_id", "chosen_label", "rejected_label").iter_rows():
            i, kc, kr = row.get(cs), index.get(c), index.get(r)
            out.append(None if i is None or kc is None or kr is None else pair_win_probability(self.joint[i], kc, kr))
        return pl.Series("label_confidence", out, dtype=pl.Float64)


def pair_win_probability(joint: np.ndarray, chosen: int, rejected: int) -> float:
    """P(chosen beats rejected) under a (K, K) posterior over (best, worst): the verdicts with chosen best
    or rejected worst, plus half of those that say nothing about the two."""
    wins = joint[chosen, :].sum() + joint[:, rejected].sum() - joint[chosen, rejected]
    losses = joint[rejected, :].sum() + joint[:, chosen].sum() - joint[rejected, chosen]
    return float(wins + 0.5 * max(0.0, 1.0 - wins - losses))


def set_posterior(present: np.ndarray, obs: Obs, accuracy: np.ndarray) -> np.ndarray:
    """E-step: (sets, K, K) posterior over (best, worst) given picks ``obs`` = (set, annotator, best, worst)
    indices and per-annotator ``accuracy``; ``present`` (sets, K) marks the labels a set has."""
    s, a, xb, xw = obs
    k = present.sum(axis=1)[s].astype(float)  # labels of each pick's set
    p = np.clip(accuracy[a], 1e-6, 1 - 1e-6)
    right, wrong = np.log(p), np.log((1 - p) / np.maximum(k - 1, 1))
    log_b = np.zeros(present.shape)
    log_w = np.zeros(present.shape)
    np.add.at(log_b, s, wrong[:, None])
    np.add.at(log_w, s, wrong[:, None])
    np.add.at(log_b, (s, xb), right - wrong)
    np.add.at(log_w, (s, xw), right - wrong)
    joint = log_b[:, :, None] + log_w[:, None, :]
    allowed = present[:, :, None] & present[:, None, :] & ~np.eye(present.shape[1], dtype=bool)[None]
    joint = np.where(allowed, joint, -np.inf)
    joint -= joint.max(axis=(1, 2), keepdims=True)
    joint = np.exp(joint)
    return joint / joint.sum(axis=(1, 2), keepdims=True)


def annotator_accuracy(joint: np.ndarray, obs: Obs, annotators: int) -> np.ndarray:
    """M-step: each annotator's accuracy, the posterior mean of a Beta(2, 1) prior updated with the
    expected right answers of their picks (an annotator without picks gets the prior mean, 2/3)."""
    s, a, xb, xw = obs
    right = joint.sum(axis=2)[s, xb] + joint.sum(axis=1)[s, xw]
    hits = np.bincount(a, weights=right, minlength=annotators)
    tries = 2.0 * np.bincount(a, minlength=annotators)
    return (hits + PRIOR_A) / (tries + PRIOR_A + PRIOR_B)


def fit_em(
    present: np.ndarray, obs: Obs, annotators: int, *, max_iter: int = 200, tol: float = 1e-6
) -> tuple[np.ndarray, int, bool]:
    """(accuracy, iterations, converged) by EM from accuracy 0.7 for everyone, on sets that all have
    at least two annotators (``present``: their labels; ``obs``: their picks)."""
    accuracy = np.full(annotators, 0.7)
    for it in range(1, max_iter + 1):
        new = annotator_accuracy(set_posterior(present, obs, accuracy), obs, annotators)
        if np.max(np.abs(new - accuracy), initial=0.0) < tol:
            return new, it, True
        accuracy = new
    return accuracy, max_iter, False


def shared_subproblem(present: np.ndarray, obs: Obs) -> tuple[np.ndarray, Obs]:
    """The sets with at least two annotators, renumbered, and their picks."""
    per_set = np.bincount(obs[0], minlength=present.shape[0])
    keep = per_set >= 2
    renumber = np.cumsum(keep) - 1
    rows = keep[obs[0]]
    return present[keep], (renumber[obs[0][rows]], obs[1][rows], obs[2][rows], obs[3][rows])


def fit_reliability(
    annotations: pl.DataFrame,
    candidates: pl.DataFrame | None = None,
    *,
    resamples: int = 200,
    seed: int = 0,
) -> Reliability:
    """Fit the model on submitted picks (``candidate_set_id``, ``annotator``, ``best``, ``worst``; one row
    per annotator and set, the first kept). ``candidates`` (``candidate_set_id``, ``label``) gives each
    set's labels; without it every set has A-F."""
    ann = (
        annotations.select("candidate_set_id", "annotator", "best", "worst")
        .filter(pl.col("best").is_not_null() & pl.col("worst").is_not_null())
        .unique(["candidate_set_id", "annotator"], keep="first", maintain_order=True)
    )
    set_ids = sorted(ann["candidate_set_id"].unique().to_list())
    names = sorted(ann["annotator"].unique().to_list())
    observed = set(ann["best"].to_list()) | set(ann["worst"].to_list())
    given = set(candidates["label"].to_list()) if candidates is not None else set(LABELS)
    labels = tuple(sorted(given | observed))
    s_ix = {cs: i for i, cs in enumerate(set_ids)}
    l_ix = {label: k for k, label in enumerate(labels)}
    a_ix = {name: j for j, name in enumerate(names)}
    present = np.zeros((len(set_ids), len(labels)), dtype=bool)
    if candidates is not None:
        for cs, label in candidates.select("candidate_set_id", "label").iter_rows():
            if cs in s_ix:
                present[s_ix[cs], l_ix[label]] = True
    else:
        present[:, [l_ix[x] for x in LABELS]] = True
    obs = (
        np.array([s_ix[x] for x in ann["candidate_set_id"]], dtype=np.int64),
        np.array([a_ix[x] for x in ann["annotator"]], dtype=np.int64),
        np.array([l_ix[x] for x in ann["best"]], dtype=np.int64),
        np.array([l_ix[x] for x in ann["worst"]], dtype=np.int64),
    )
    present[obs[0], obs[2]] = True  # a picked label exists, whatever the candidate list says
    present[obs[0], obs[3]] = True
    sub_present, sub_obs = shared_subproblem(present, obs)
    accuracy, iterations, converged = fit_em(sub_present, sub_obs, len(names))
    joint = set_posterior(present, obs, accuracy)
    lo, hi = _bootstrap(sub_present, sub_obs, len(names), resamples, seed)
    per_set = np.bincount(obs[0], minlength=len(set_ids))
    shared_sets = np.bincount(sub_obs[1], minlength=len(names))
    chance = 1.0 / max(2, len(labels))
    table = pl.DataFrame(
        {
            "annotator": names,
            "shared_sets": shared_sets.tolist(),
            "picks": np.bincount(obs[1], minlength=len(names)).tolist(),
            "accuracy": accuracy.round(4).tolist(),
            "lo": lo.round(4).tolist(),
            "hi": hi.round(4).tolist(),
        }
    ).with_columns(((pl.col("lo") <= chance) | (pl.col("hi") < RANDOM_BELOW)).alias("likely_random"))
    table = table.sort(["accuracy", "annotator"], descending=[True, False])
    return Reliability(table, _posterior_frame(set_ids, per_set, joint, labels), labels, joint, iterations, converged)


def _posterior_frame(
    set_ids: list[str], per_set: np.ndarray, joint: np.ndarray, labels: tuple[str, ...]
) -> pl.DataFrame:
    flat = joint.reshape(len(set_ids), -1).argmax(axis=1)
    b, w = np.divmod(flat, len(labels))
    pb, pw = joint.sum(axis=2), joint.sum(axis=1)
    rows = np.arange(len(set_ids))
    return pl.DataFrame(
        {
            "candidate_set_id": set_ids,
            "n_annotators": per_set.tolist(),
            "best": [labels[k] for k in b],
            "best_p": pb[rows, b].tolist(),
            "worst": [labels[k] for k in w],
            "worst_p": pw[rows, w].tolist(),
            "verdict_p": joint[rows, b, w].tolist(),
        },
        schema_overrides={"n_annotators": pl.Int64},
    )


def _bootstrap(
    present: np.ndarray, obs: Obs, annotators: int, resamples: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """95% percentile interval of each accuracy, refitting on the shared sets drawn with replacement."""
    sets = present.shape[0]
    if resamples <= 0 or sets == 0:
        return np.zeros(annotators), np.ones(annotators)
    order = np.argsort(obs[0], kind="stable")
    starts = np.searchsorted(obs[0][order], np.arange(sets + 1))
    rng = np.random.default_rng(seed)
    draws = np.empty((resamples, annotators))
    for r in range(resamples):
        picked = rng.integers(0, sets, size=sets)
        sizes = starts[picked + 1] - starts[picked]
        rows = order[np.concatenate([np.arange(starts[i], starts[i + 1]) for i in picked])]
        sub = (np.repeat(np.arange(sets), sizes), obs[1][rows], obs[2][rows], obs[3][rows])
        draws[r] = fit_em(present[picked], sub, annotators, max_iter=100, tol=1e-4)[0]
    return np.percentile(draws, 2.5, axis=0), np.percentile(draws, 97.5, axis=0)


__all__ = ["Reliability", "fit_reliability", "pair_win_probability"]

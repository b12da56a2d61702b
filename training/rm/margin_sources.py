"""Fixed-margin sources for ``charm-train rm --loss margin --margin-source NAME``.

A fixed margin ``M`` enters the Bradley-Terry loss as ``-log sigma(r(chosen) - r(rejected) - M)``:
the pair is only "won" once the reward gap exceeds ``M`` (in reward/logit units). The sources map to
preferenceTraining columns written by ``charm-build export``:

* ``agreement`` -> ``margin_agreement`` = (votes for chosen as best + votes for rejected as worst) / (2N),
  in [0, 1]. The human-calibrated baseline to hold AAM's self-calibrated margin against: a unanimous
  pair asks for a gap of ``scale``, a 2-of-3 / 3-of-3 pair for 5/6 of it, a 2-of-3 / 2-of-3 pair 2/3.
* ``bws`` -> ``margin_bws``: the best-worst scaling gap, score(chosen) - score(rejected) with
  score = (#best - #worst) / N, in [-2, 2] (2 for a unanimous best-vs-worst pair).
* ``judge`` -> ``margin_judge``: an external judge's margin (the paper's GPT-Margin baseline).
* ``posterior`` -> ``label_confidence``: the probability that chosen beats rejected under the
  annotator-reliability model (``charm-build export --aggregate dawid-skene``), in [0, 1]: a pair the
  reliable annotators agree on asks for a gap near ``scale``, a coin-flip pair for half of it.

Scaling: ``M = margin_scale * column`` (``--margin-scale``, default 1.0), applied in the loss; the
column values are used as exported. Every column is chosen minus rejected, so a positive ``M`` asks
for a reward gap above ``M``; a negative one (``margin_judge`` where the judge preferred the rejected
reply) lets a gap below 0 pass, so such a pair pushes less. A pair without a value (null/NaN) stops
the run before training unless ``--missing-margin drop`` (:mod:`training.rm.margin_coverage`).
"""

from __future__ import annotations

MARGIN_SOURCES: dict[str, str] = {
    "agreement": "margin_agreement",
    "bws": "margin_bws",
    "judge": "margin_judge",
    "posterior": "label_confidence",
}


def margin_column_for(source: str) -> str:
    """The data column of a margin source; ValueError naming the choices for an unknown one."""
    if source not in MARGIN_SOURCES:
        raise ValueError(f"--margin-source {source!r}: choose one of {', '.join(MARGIN_SOURCES)}")
    return MARGIN_SOURCES[source]

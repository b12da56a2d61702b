"""`charm-build judge` on the default offline roster: the real SmolLM2 judge (weak scores, but no crash)."""

from __future__ import annotations

import re

import pytest

from schemas import JudgeScore
from tests.annotation.helpers import make_store
from tests.helpers import run_cli


@pytest.mark.slow
def test_offline_smollm2_judge_scores_or_flags_every_candidate(tmp_path):
    store, _ = make_store(tmp_path / "ws", n_sets=1)
    res = run_cli("judge", "--judge", "smollm2-plain", "--all", workspace=store.root, timeout=600)
    assert res.returncode == 0, res.stderr
    scores = list(store.iter(JudgeScore))
    assert sorted(s.label for s in scores) == list("ABCDEF")
    assert all(s.raw.strip() and s.judge_model_id == "smollm2-135m-instruct" for s in scores)
    assert all(s.score is None or 1 <= s.score <= 10 for s in scores)
    unparsed = sum(s.score is None for s in scores)
    assert f"unparseable {unparsed}" in res.stdout
    again = run_cli("judge", "--judge", "smollm2-plain", "--all", workspace=store.root, timeout=600)
    assert again.returncode == 0, again.stderr
    # parsed candidates are skipped; unparsed ones are asked again with a new seed (greedy: same answer, one call each)
    assert int(re.search(r"new calls (\d+)", again.stdout).group(1)) <= 2 * unparsed
    assert f"already scored {6 - unparsed}" in again.stdout

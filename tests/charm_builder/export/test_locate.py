"""Every command that reads an export takes the export root as well as the subset folder."""

from __future__ import annotations

import pytest

from charm_builder.export import ExportOptions, export_workspace
from charm_builder.export.locate import subset_path
from charm_kernel.errors import CharmError
from tests.helpers import run_cli


@pytest.fixture
def export_root(workspace, built, tmp_path):
    root = tmp_path / "exp"
    export_workspace(workspace, root, ExportOptions(grpo_fraction=0.5, seed=7, size=2))
    return root


def test_root_or_subset_resolve_to_the_subset(export_root, tmp_path):
    for subset in ("roleReward", "preferenceTraining"):
        assert subset_path(export_root, subset) == export_root / subset
        assert subset_path(export_root / subset, subset) == export_root / subset
    with pytest.raises(
        CharmError,
        match=r"--data .*exp: this export has no dialogueQuality subset \(has: "
        r"roleReward, preferenceTraining\)",
    ):
        subset_path(export_root, "dialogueQuality")
    with pytest.raises(
        CharmError,
        match=r"a roleReward export, but this command reads preferenceTraining; "
        r"did you mean .*preferenceTraining\?",
    ):
        subset_path(export_root / "roleReward", "preferenceTraining")
    own = tmp_path / "mine"  # a folder of one's own without manifests, holding a subset folder
    (own / "roleReward").mkdir(parents=True)
    assert subset_path(own, "roleReward") == own / "roleReward"
    plain = tmp_path / "pairs.parquet"
    assert subset_path(plain, "preferenceTraining") == plain


def _train(*args):
    return run_cli(*args, module="charm_apps.train", timeout=300)


@pytest.mark.slow
def test_train_commands_accept_the_export_root(export_root, tiny_llama, tmp_path):
    rm = _train(
        "rm",
        "--data",
        str(export_root),
        "--out",
        str(tmp_path / "rm"),
        "--model",
        str(tiny_llama),
        "--max-steps",
        "1",
        "--batch-size",
        "2",
        "--max-length",
        "128",
        "-q",
    )
    assert rm.returncode == 0, rm.stderr
    diag = _train("diagnose", str(tmp_path / "rm"), "--data", str(export_root), "--max-length", "128", "-q")
    assert diag.returncode == 0, diag.stderr
    assert "pairs; Spearman" in diag.stdout
    bad = _train("diagnose", str(tmp_path / "rm"), "--data", str(export_root), "--agreement-column", "nope")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and "'nope'" in bad.stderr
    assert "diagnose" not in bad.stdout  # input is checked before any progress bar
    ev = _train("eval-rm", str(tmp_path / "rm"), "--data", str(export_root), "--max-length", "128", "-q")
    assert ev.returncode == 0, ev.stderr
    wrong = _train("eval-rm", str(tmp_path / "rm"), "--data", str(export_root / "preferenceTraining"), "-q")
    assert wrong.returncode == 2 and len(wrong.stderr.strip().splitlines()) == 1
    assert "a preferenceTraining export, but this command reads roleReward" in wrong.stderr
    dq = _train("eval-dq", "--model", "offline", "--data", str(export_root), "--judge", "x")
    assert dq.returncode == 2 and "this export has no dialogueQuality subset" in dq.stderr

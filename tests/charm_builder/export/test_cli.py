"""The export/translate commands through the real charm-build entry point (`python -m charm_apps`)."""

from __future__ import annotations

from tests.helpers import run_cli


def test_export_then_check_then_refuse_non_empty(workspace, built, tmp_path):
    out = tmp_path / "exp"
    done = run_cli(
        "export", "--out", str(out), "--size", "4000", "--grpo-fraction", "0.5", "--seed", "7", workspace=workspace.root
    )
    assert done.returncode == 0, done.stderr
    assert "roleReward" in done.stdout and "skipped dialogueQuality" in done.stderr
    checked = run_cli("export", "--check", str(out), workspace=workspace.root)
    assert checked.returncode == 0 and checked.stdout.startswith(f"ok {out}")
    again = run_cli("export", "--out", str(out), "--size", "4000", workspace=workspace.root)
    assert again.returncode == 2
    assert again.stderr.strip().splitlines() == [
        (f"error: {out}: directory is not empty; pass --overwrite to replace it or choose another --out")
    ]


def test_user_errors_are_one_line_exit_2(workspace, tmp_path):
    bad = run_cli("export", "--subset", "bogus", "--out", str(tmp_path / "o"), workspace=workspace.root)
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1
    assert "--subset 'bogus': choose 'roleReward', 'dialogueQuality', 'preferenceTraining' or 'all'" in bad.stderr
    empty = run_cli("export", "--out", str(tmp_path / "o"), workspace=workspace.root)
    assert empty.returncode == 2 and "has no dialogues" in empty.stderr
    assert len(empty.stderr.strip().splitlines()) == 1 and not (tmp_path / "o").exists()
    check = run_cli("export", "--check", str(tmp_path), workspace=workspace.root)
    assert check.returncode == 2 and "no manifest.json" in check.stderr
    tr = run_cli("translate", "--to", "en", "--model", "no-such-model", workspace=workspace.root)
    assert tr.returncode == 2 and "no-such-model" in tr.stderr and len(tr.stderr.strip().splitlines()) == 1
    helped = run_cli("export", "--help", workspace=workspace.root)
    assert helped.returncode == 0 and "Examples:" in helped.stdout and "--push-to-hub" in helped.stdout


def test_export_options_match_export_options_fields():
    from charm_apps.build import app
    from charm_builder.export.cli import EXPORT_CLI_ONLY, EXPORT_OPTIONS
    from charm_builder.export.pipeline import ExportOptions
    from tests.config_options import command, option_mismatches

    problems = option_mismatches(
        command(app, "export"),
        ExportOptions,
        options=EXPORT_OPTIONS,
        params={"license": "license_"},
        cli_only=EXPORT_CLI_ONLY,
    )
    assert problems == []


def test_export_option_rules_are_one_line_exit_2(workspace, tmp_path):
    for args, line in [
        (["--grpo-fraction", "1"], "error: --grpo-fraction must be < 1, got 1.0"),
        (["--format", "csv"], "error: --format 'csv': choose 'hf', 'parquet' or 'jsonl'"),
        (["--holdout", "western"], "error: --holdout needs --shift user|character|dialogue"),
    ]:
        res = run_cli("export", "--out", str(tmp_path / "o"), *args, workspace=workspace.root)
        assert res.returncode == 2 and res.stderr.strip().splitlines() == [line], res.stderr
        assert not (tmp_path / "o").exists()

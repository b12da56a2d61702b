import json

from charm_builder.library import library_files
from tests.helpers import run_cli


def test_help_lists_commands_with_examples():
    top = run_cli("--help")
    assert top.returncode == 0
    for cmd in ("init", "import", "stats", "schema"):
        assert cmd in top.stdout
        sub = run_cli(cmd, "--help")
        assert sub.returncode == 0 and "Examples" in sub.stdout, cmd


def test_init_loads_library_and_is_idempotent(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws)).returncode == 0
    first = json.loads(run_cli("stats", "--json", workspace=ws).stdout)
    assert run_cli("init", str(ws)).returncode == 0
    second = json.loads(run_cli("stats", "--json", workspace=ws).stdout)
    assert first == second
    if library_files():
        assert first["characters"] >= 26 and first["users"] >= 20 and first["scenes"] >= 12
        assert len(first["characters_by_sub_category"]) == 13
    for key in ("characters", "users", "scenes", "dialogues", "candidate_sets", "annotations"):
        assert isinstance(first[key], int)


def test_stats_without_workspace_is_a_clear_error(tmp_path):
    proc = run_cli("stats", workspace=tmp_path / "none")
    assert proc.returncode == 2
    assert "no charm-builder workspace here; run `charm-build init" in proc.stderr


def test_schema_prints_json_schema_and_rejects_unknown():
    proc = run_cli("schema", "dialogue")
    assert proc.returncode == 0 and "turns" in json.loads(proc.stdout)["properties"]
    bad = run_cli("schema", "nope")
    assert bad.returncode == 2 and "unknown model 'nope'" in bad.stderr

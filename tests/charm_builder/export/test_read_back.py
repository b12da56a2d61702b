"""What charm-build exports, training and evaluation read back through ``schemas`` in every format."""

from __future__ import annotations

import pytest

import schemas as s
from charm_builder.export import ExportOptions, export_workspace
from tests.charm_builder.export.helpers import annotate_zh
from training.evaluation.dialogue_quality import load_dialogue_quality, reply_messages
from training.rm.evaluate import context_messages, load_role_reward


@pytest.mark.parametrize("fmt", ["hf", "parquet", "jsonl"])
def test_exported_rows_read_back_as_schema_items(workspace, built, tmp_path, fmt):
    annotate_zh(workspace, built, 4)
    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(fmt=fmt, size=4000))

    items = load_dialogue_quality(out / "dialogueQuality")
    assert len(items) == 4 and all(isinstance(i, s.DialogueQualityItem) for i in items)
    for item in items:
        dialogue = workspace.get(s.Dialogue, item.dialogue_id)
        assert [t.text for t in item.context] == [t.text for t in dialogue.turns]
        msgs = reply_messages(item)
        assert msgs[0] == {"role": "system", "content": item.system_prompt} and item.system_prompt
        assert msgs[1:-1] == s.to_chat(dialogue.turns)
        assert msgs[-1] == {"role": "user", "content": item.user_query}

    rows, _ = load_role_reward(out / "roleReward")
    assert len(rows) > 0
    for row in rows:
        item = s.validate_rows(s.RoleRewardItem, [row], "roleReward")[0]
        assert context_messages(row) == s.to_chat(item.context, item.system_prompt)


def test_a_bad_exported_role_reward_row_is_one_line_naming_file_row_and_field(workspace, built, tmp_path):
    import json

    from typer.testing import CliRunner

    from charm_apps.train import app

    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(fmt="jsonl", size=4000, subset="roleReward"))
    (data,) = sorted((out / "roleReward").glob("*.jsonl"))
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 2
    rows[1]["agreement"] = 1.7
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    res = CliRunner().invoke(app, ["eval-rm", str(tmp_path), "--data", str(out), "-q"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert str(data) in lines[0] and "row 1: field 'agreement'" in lines[0] and "1.7" in lines[0]


def test_a_bad_exported_preference_row_stops_rm_before_training(workspace, built, tmp_path):
    """charm-train rm validates a charm-build preferenceTraining export against PreferencePair."""
    import json

    from typer.testing import CliRunner

    from charm_apps.train import app

    out = tmp_path / "exp"
    export_workspace(workspace, out, ExportOptions(fmt="jsonl", size=2, subset="all", grpo_fraction=0))
    data = out / "preferenceTraining" / "train.jsonl"
    rows = [json.loads(line) for line in data.read_text(encoding="utf-8").splitlines()]
    assert len(rows) >= 2
    rows[1]["chosen_best_votes"] = rows[1]["n_annotators"] + 1  # more votes than annotators
    data.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    run = tmp_path / "run"
    res = CliRunner().invoke(app, ["rm", "--data", str(out), "--out", str(run), "--max-steps", "1"])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert str(data) in lines[0] and "row 1" in lines[0] and "votes" in lines[0]
    assert not run.exists()

"""Each import format with good and malformed samples written by the tests."""

import json

import pytest

import schemas as s
from charm_builder.importers import detect_format, import_files, load_file
from charm_kernel.errors import CharmError, InputFormatError
from tests.helpers import run_cli

ROLE = {
    "name_cn": "孙小圣",
    "name_en": "Sun Xiaosheng",
    "desc": "一只会说话的猴子",
    "class": "小说",
    "source": "西游新编",
    "profile": "他住在花果山，性格顽皮。",
    "prompt": "你是孙小圣，说话俏皮。",
    "relatives": "[{'name': '老猴王', 'relationship': '师父', 'profile': '年迈的猴王', 'prompt': '你是老猴王'}]",
}


def write(path, data):
    path.write_text(data if isinstance(data, str) else json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def test_charm_roles_with_python_literal_relatives(tmp_path, workspace):
    roles = {
        "孙小圣": ROLE,
        "阿离": {
            **ROLE,
            "name_cn": "阿离",
            "name_en": "Ali",
            "class": "自定义",
            "relatives": [{"name": "阿宁", "relationship": "妹妹"}],
        },
    }
    f = write(tmp_path / "roles.json", roles)
    assert detect_format(f) == "charm-roles"
    import_files(workspace, [f])
    chars = {c.name.en: c for c in workspace.iter(s.Character)}
    assert chars["Sun Xiaosheng"].sub_category == "novels" and chars["Ali"].sub_category == "custom"
    assert chars["Sun Xiaosheng"].relatives[0].relationship == "师父"
    assert chars["Ali"].relatives[0].name == "阿宁"
    assert chars["Sun Xiaosheng"].system_prompt.zh == "你是孙小圣，说话俏皮。"


@pytest.mark.parametrize(
    "patch,field,problem",
    [
        ({"class": ["小说"]}, "class", "expected text, got list"),
        ({"relatives": "[{'name': "}, "relatives", "Python-literal list"),
        ({"prompt": ""}, "prompt", "missing"),
    ],
)
def test_charm_roles_malformed_names_file_record_field(tmp_path, workspace, patch, field, problem):
    f = write(tmp_path / "roles.json", {"好角色": ROLE, "坏角色": {**ROLE, "name_cn": "坏角色", **patch}})
    with pytest.raises(InputFormatError) as exc:
        import_files(workspace, [f])
    msg = str(exc.value)
    assert str(f) in msg and "record '坏角色'" in msg and f"field '{field}'" in msg and problem in msg
    assert workspace.count(s.Character) == 0  # nothing from that file, not even the good record


def test_charm_users(tmp_path, workspace):
    f = write(tmp_path / "users.json", {"小明": {"prompt": "你是一名大学生。"}, "amy": {"prompt": "You are Amy."}})
    assert detect_format(f) == "charm-users"
    import_files(workspace, [f])
    users = {u.name: u for u in workspace.iter(s.UserPersona)}
    assert users["小明"].prompt.zh == "你是一名大学生。" and users["amy"].prompt.en == "You are Amy."
    bad = write(tmp_path / "users_bad.json", {"x": {"prompt": "ok"}, "y": {"prompt": ""}})
    with pytest.raises(InputFormatError, match=r"record 'y': field 'prompt': missing"):
        load_file(bad)


CE_CONTEXT = (
    "林黛玉：宝玉，你今日怎么来迟了？\n贾宝玉:路上遇见了薛大姐姐。\n林黛玉：哼，我就知道。\n贾宝玉：好妹妹，别生气。"
)


@pytest.mark.parametrize("as_lines", [False, True])
def test_charactereval_dialogues_array_named_jsonl_or_real_lines(tmp_path, workspace, as_lines):
    recs = [
        {"id": 1, "role": "林黛玉", "novel_name": "红楼梦", "context": CE_CONTEXT},
        {"id": 2, "role": "贾宝玉", "novel_name": "红楼梦", "context": CE_CONTEXT},
    ]
    body = (
        "\n".join(json.dumps(r, ensure_ascii=False) for r in recs) if as_lines else json.dumps(recs, ensure_ascii=False)
    )
    f = write(tmp_path / "test_data.jsonl", body)
    profiles = write(tmp_path / "character_profiles.json", {"林黛玉": {"性别": "女", "性格": "敏感多思"}})
    import_files(workspace, [profiles, f])
    dialogues = list(workspace.iter(s.Dialogue))
    assert len(dialogues) == 2
    by_role = {workspace.get(s.Character, d.character_id).name.zh: d for d in dialogues}
    turns = by_role["林黛玉"].turns
    assert [t.role for t in turns] == ["character", "user", "character", "user"]
    assert turns[1].speaker == "贾宝玉" and turns[1].text == "路上遇见了薛大姐姐。"  # ASCII colon parsed
    assert [t.role for t in by_role["贾宝玉"].turns][:2] == ["user", "character"]
    # the real profile imported first is not overwritten by the dialogue's placeholder
    assert "敏感多思" in workspace.get(s.Character, by_role["林黛玉"].character_id).profile.zh
    assert workspace.count(s.Character) == 2


def test_charactereval_malformed_context_line(tmp_path, workspace):
    f = write(tmp_path / "test_data.jsonl", [{"id": 7, "role": "A", "novel_name": "N", "context": "没有冒号的一行"}])
    with pytest.raises(InputFormatError, match=r"record 1: field 'context': line 1 is not 'Name：utterance'"):
        import_files(workspace, [f])
    assert workspace.count(s.Dialogue) == 0


def test_native_jsonl_and_yaml(tmp_path, workspace):
    char = {
        "name": {"en": "Ada"},
        "sub_category": "scientists",
        "profile": {"en": "Mathematician."},
        "system_prompt": {"en": "You are Ada."},
    }
    user = {"name": "curious", "prompt": {"en": "You are curious."}}
    f = write(tmp_path / "mixed.jsonl", json.dumps(char) + "\n\n" + json.dumps(user) + "\n")
    y = write(tmp_path / "lib.yaml", "scenes:\n  - title: {en: Cafe}\n    description: {en: A rainy cafe.}\n")
    import_files(workspace, [f, y])
    assert (workspace.count(s.Character), workspace.count(s.UserPersona), workspace.count(s.Scene)) == (1, 1, 1)
    bad = write(tmp_path / "bad.jsonl", json.dumps(char) + "\n" + json.dumps({**char, "sub_category": "x"}) + "\n")
    with pytest.raises(InputFormatError, match=r"bad.jsonl: line 2: field 'sub_category'"):
        load_file(bad)
    broken = write(tmp_path / "broken.jsonl", json.dumps(char) + "\n{not json\n")
    with pytest.raises(InputFormatError, match=r"line 2: invalid JSON"):
        load_file(broken)


def test_import_is_idempotent(tmp_path, workspace):
    f = write(tmp_path / "roles.json", {"孙小圣": ROLE})
    import_files(workspace, [f])
    import_files(workspace, [f])
    assert workspace.count(s.Character) == 1


def test_unknown_format_and_missing_file(tmp_path):
    with pytest.raises(CharmError, match="no such file"):
        load_file(tmp_path / "missing.json")
    with pytest.raises(CharmError, match="unknown --format"):
        load_file(write(tmp_path / "a.json", "{}"), "csv")


def test_cli_malformed_file_exit_2_one_line_nothing_written(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws), "--empty").returncode == 0
    good = write(tmp_path / "good.json", {"孙小圣": ROLE})
    bad = write(tmp_path / "bad.json", {"坏": {**ROLE, "relatives": "not a list"}})
    proc = run_cli("import", str(good), str(bad), workspace=ws)
    assert proc.returncode == 2
    err = proc.stderr.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in proc.stderr
    assert err.startswith("error: ") and "bad.json: record '坏': field 'relatives':" in err
    stats = json.loads(run_cli("stats", "--json", workspace=ws).stdout)
    assert stats["characters"] == 0  # the good file was not written either

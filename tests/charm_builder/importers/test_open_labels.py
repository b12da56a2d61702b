"""Issue 13.1: a category label we did not foresee never rejects a record or a file.

The records below have the shape of the published Charm role file (calubkk/AAM,
Charm-DialogueQuality/roleplayeval_roles.json): the same keys, ``relatives`` as a JSON list of
{name, relationship, profile, prompt}, and custom characters whose keys come in another order
(desc first, ``source`` "evol_character"). The older Python-literal-string ``relatives`` is covered too.
"""

import json
import sqlite3

import pytest

import schemas as s
from charm_builder.importers import import_files, load_file
from charm_builder.importers.categories import map_label
from charm_builder.store import Workspace
from charm_kernel.errors import InputFormatError
from tests.helpers import run_cli


def relative(name: str) -> dict:
    return {
        "name": name,
        "relationship": f"{name}是好友。",
        "profile": f"{name}的简介。",
        "prompt": f"你正在扮演{name}。",
    }


def role(name: str, en: str, cls: str, source: str = "欧美", relatives=None) -> dict:
    return {
        "name_cn": name,
        "name_en": en,
        "relatives": [relative(f"{name}的朋友")] if relatives is None else relatives,
        "desc": f"{name}。 {name}是一位知名人物。",
        "class": cls,
        "source": source,
        "profile": f"{name}是一位知名人物。",
        "prompt": f"你正在扮演{name}（{en}）。",
    }


def custom_role(name: str, en: str) -> dict:  # key order of the file's evol_character records
    return {
        "desc": f"{name}. 一个原创角色。",
        "prompt": f"你正在扮演{name}。",
        "profile": f"{name}是一个原创角色。",
        "source": "evol_character",
        "class": "自定义",
        "name_cn": name,
        "name_en": en,
        "relatives": [relative("小林")],
    }


def roles_file() -> dict:
    literal = str([relative("老猴王")])  # the Python-literal string variant
    return {
        "泰勒·斯威夫特": role("泰勒·斯威夫特", "Taylor Swift", "音乐人"),
        "阿黛尔": role("阿黛尔", "Adele", "音乐人", relatives=literal),
        "网红甲": role("网红甲", "Influencer A", "网红"),
        "网红乙": role("网红乙", "Influencer B", "网红"),
        "网红丙": role("网红丙", "Influencer C", "网红"),
        "网络歌手甲": role("网络歌手甲", "Web Singer", "网络歌手"),
        "拉克丝": role("拉克丝", "Lux", "游戏", source="英雄联盟"),
        "齐藤真央子": custom_role("齐藤真央子", "Maoko Saito"),
    }


def write(path, data):
    path.write_text(json.dumps(data, ensure_ascii=False, indent=4), encoding="utf-8")
    return path


def test_unknown_classes_imported_mapped_kept_and_warned_once_per_label(tmp_path, workspace):
    f = write(tmp_path / "roleplayeval_roles.json", roles_file())
    loaded = load_file(f)
    assert loaded.format == "charm-roles" and len(loaded.records) == 8
    import_files(workspace, [f])
    assert workspace.count(s.Character) == 8
    chars = {c.name.zh: c for c in workspace.iter(s.Character)}
    assert (chars["泰勒·斯威夫特"].sub_category, chars["泰勒·斯威夫特"].source_class) == ("musicians", "音乐人")
    assert chars["阿黛尔"].relatives[0].name == "老猴王"  # Python-literal relatives still parsed
    assert {(chars[n].sub_category, chars[n].source_class) for n in ("网红甲", "网红乙", "网红丙")} == {
        ("custom", "网红")
    }
    assert chars["网红甲"].primary_category == "original"
    assert (chars["网络歌手甲"].sub_category, chars["网络歌手甲"].source_class) == ("musicians", "网络歌手")
    assert (chars["拉克丝"].sub_category, chars["齐藤真央子"].sub_category) == ("games", "custom")
    # one line per distinct unknown label, with its count; known labels (音乐人, 游戏, 自定义) are silent
    assert loaded.warnings == [
        f"{f}: 3 records with unknown class '网红' imported as 'custom' (original kept in source_class)",
        f"{f}: 1 record with unknown class '网络歌手' imported as 'musicians' (original kept in source_class)",
    ]


def test_source_class_does_not_change_identity(tmp_path, workspace):
    a = s.Character(name={"zh": "甲"}, sub_category="custom", profile={"zh": "p"}, system_prompt={"zh": "q"})
    b = a.model_copy(update={"source_class": "网红"})
    assert a.identity() == b.identity()
    f = write(tmp_path / "r.json", {"网红甲": role("网红甲", "A", "网红")})
    import_files(workspace, [f])
    import_files(workspace, [write(tmp_path / "r2.json", {"网红甲": role("网红甲", "A", "主播")})])
    assert workspace.count(s.Character) == 1  # re-labelled record updated in place, not duplicated
    assert next(workspace.iter(s.Character)).source_class == "主播"


@pytest.mark.parametrize(
    "label,expected",
    [
        ("动漫", "anime"),
        ("电影", "films"),
        ("电视剧", "tv"),
        ("游戏", "games"),
        ("小说", "novels"),
        ("音乐人", "musicians"),
        ("自定义", "custom"),
        ("musicians", "musicians"),
        ("Movie", "films"),
    ],
)
def test_labels_of_the_published_file_are_known(label, expected):
    assert map_label(label) == (expected, True)


@pytest.mark.parametrize(
    "label,expected",
    [
        ("网络歌手", "musicians"),
        ("漫威英雄", "films"),
        ("日本漫画", "comics"),
        ("娱乐圈", "actors"),
        ("武侠剧", "tv"),
        ("武侠", "novels"),
        ("国产剧", "tv"),
        ("网红", "custom"),
        ("", "custom"),
        ("Pop Singer", "musicians"),
    ],
)
def test_unknown_labels_go_to_the_closest_sub_category(label, expected):
    assert map_label(label) == (expected, False)


@pytest.mark.parametrize(
    "patch,field,problem",
    [
        ({"relatives": "[{'name': "}, "relatives", "Python-literal list"),
        ({"relatives": "{'name': 'x'}"}, "relatives", "expected a list of objects"),
        ({"prompt": ""}, "prompt", "missing"),
        ({"name_cn": "", "profile": "", "desc": ""}, "profile", "missing"),
    ],
)
def test_malformed_records_still_reject_the_whole_file(tmp_path, workspace, patch, field, problem):
    data = roles_file()
    data["坏角色"] = {**role("坏角色", "Bad", "网红"), **patch}
    f = write(tmp_path / "roles.json", data)
    with pytest.raises(InputFormatError) as exc:
        import_files(workspace, [f])
    msg = str(exc.value)
    assert "record '坏角色'" in msg and f"field '{field}'" in msg and problem in msg
    assert workspace.count(s.Character) == 0


def test_cli_warns_on_stderr_and_imports_everything(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws), "--empty").returncode == 0
    f = write(tmp_path / "roleplayeval_roles.json", roles_file())
    proc = run_cli("import", str(f), workspace=ws)
    assert proc.returncode == 0, proc.stderr
    warnings = [line for line in proc.stderr.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 2 and "'网红'" in warnings[0] and "3 records" in warnings[0]
    assert "imported      8 record(s)" in proc.stdout
    stats = json.loads(run_cli("stats", "--json", workspace=ws).stdout)
    assert stats["characters"] == 8
    # a broken file afterwards: exit 2, one line, counts and integrity unchanged
    broken = tmp_path / "broken.json"
    broken.write_text(f.read_text(encoding="utf-8")[:-40], encoding="utf-8")
    proc = run_cli("import", str(broken), workspace=ws)
    assert proc.returncode == 2 and len(proc.stderr.strip().splitlines()) == 1 and "invalid JSON" in proc.stderr
    assert json.loads(run_cli("stats", "--json", workspace=ws).stdout)["characters"] == 8
    with Workspace.open(ws) as opened:
        db = opened.db_path
    assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_charactereval_profile_with_nested_values_like_the_real_file(tmp_path, workspace):
    # shape of CharacterEval's character_profiles.json: flat strings plus nested objects and lists
    profiles = {
        "洛枳": {
            "姓名": "洛枳",
            "性别": "女",
            "昵称": ["洛洛"],
            "人物关系": {"丈夫": "盛淮南", "朋友": ["耿耿"]},
            "其他": "",
        }
    }
    f = tmp_path / "character_profiles.json"
    f.write_text(json.dumps(profiles, ensure_ascii=False, indent=2), encoding="utf-8")
    loaded = load_file(f)
    assert loaded.format == "charactereval-profiles" and loaded.warnings == []
    import_files(workspace, [f])
    profile = next(workspace.iter(s.Character)).profile.zh
    assert '人物关系：{"丈夫": "盛淮南", "朋友": ["耿耿"]}' in profile and '昵称：["洛洛"]' in profile
    assert "其他" not in profile

"""Issue 16.4 (importers): random and mutated inputs end in a clean import or one CharmError line.

Every importer (Charm roles/users, CharacterEval profiles/dialogues, native JSONL/YAML), the model
roster loader and the annotator roster loader get truncated JSON, wrong types, deep nesting, huge
strings, odd Unicode (lone surrogates, NUL, byte-order marks) and Python-literal strings. Allowed:
success, or a one-line CharmError naming the file, with the workspace's counts and
``PRAGMA integrity_check`` unchanged. Anything else (a traceback) fails. ``max_examples`` keeps the
file well under a minute.
"""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from annotation.sync import load_roster as load_annotators
from charm_builder.importers import import_files
from charm_builder.llm.errors import RosterError
from charm_builder.llm.roster import load_roster
from charm_builder.store import Workspace
from charm_kernel.errors import CharmError, InputFormatError
from tests.helpers import run_cli

FUZZ = settings(
    max_examples=60,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
FORMATS = [
    "auto",
    "charm-roles",
    "charm-users",
    "charactereval-profiles",
    "charactereval-dialogues",
    "jsonl",
    "yaml",
    "character",
    "user",
    "scene",
    "dialogue",
]

# any character, lone surrogates included (they reach the importers through "\ud800" JSON escapes)
odd_chars = st.characters(exclude_categories=())
odd_text = st.text(odd_chars, max_size=30)
scalars = st.none() | st.booleans() | st.integers() | st.floats() | odd_text
json_values = st.recursive(
    scalars, lambda inner: st.lists(inner, max_size=4) | st.dictionaries(odd_text, inner, max_size=4), max_leaves=12
)
python_literals = json_values.map(repr)  # Python-literal strings, like the role file's `relatives`

RELATIVE = {"name": "阿宁", "relationship": "妹妹", "profile": "阿宁的简介。", "prompt": "你正在扮演阿宁。"}
ROLE = {
    "name_cn": "孙小圣",
    "name_en": "Sun Xiaosheng",
    "relatives": [RELATIVE],
    "desc": "一只会说话的猴子",
    "class": "音乐人",
    "source": "西游新编",
    "profile": "他住在花果山。",
    "prompt": "你是孙小圣。",
}
SAMPLES: dict[str, str] = {
    "roles.json": json.dumps(
        {"孙小圣": ROLE, "阿离": {**ROLE, "name_cn": "阿离", "class": "网红", "relatives": str([RELATIVE])}},
        ensure_ascii=False,
        indent=4,
    ),
    "users.json": json.dumps(
        {"复读机用户": {"prompt": "你是一个复读机。"}, "amy": {"prompt": "You are Amy."}}, ensure_ascii=False, indent=4
    ),
    "character_profiles.json": json.dumps(
        {"林黛玉": {"性别": "女", "人物关系": {"表哥": "贾宝玉"}, "爱好": ["诗"]}}, ensure_ascii=False
    ),
    "test_data.jsonl": json.dumps(
        [{"id": 1, "role": "林黛玉", "novel_name": "红楼梦", "context": "林黛玉：你来了。\n贾宝玉：来了。"}],
        ensure_ascii=False,
    ),
    "mixed.jsonl": json.dumps(
        {
            "name": {"en": "Ada"},
            "sub_category": "scientists",
            "profile": {"en": "M."},
            "system_prompt": {"en": "You are Ada."},
        }
    )
    + "\n"
    + json.dumps({"name": "curious", "prompt": {"en": "You are curious."}, "tags": ["浪漫", "x"]})
    + "\n",
    "lib.yaml": "scenes:\n  - title: {en: Cafe}\n    description: {en: A rainy cafe.}\n"
    "users:\n  - {name: bob, prompt: {zh: 你好}}\n",
}


@pytest.fixture(scope="module")
def ws(tmp_path_factory):
    with Workspace.create(tmp_path_factory.mktemp("fuzz") / "ws") as opened:
        yield opened


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("fuzz-files")


def integrity(ws: Workspace) -> str:
    return ws.conn.execute("PRAGMA integrity_check").fetchone()[0]


def attempt(ws: Workspace, path: Path, fmt: str = "auto") -> str:
    """Import one file: 'imported', or 'rejected' with a one-line error and nothing written."""
    before = ws.counts()
    try:
        import_files(ws, [path], fmt)
    except CharmError as exc:
        message = str(exc)
        assert "\n" not in message and message.strip(), message
        if isinstance(exc, InputFormatError):
            assert str(path) in message
        assert ws.counts() == before
        assert integrity(ws) == "ok"
        return "rejected"
    assert integrity(ws) == "ok"
    return "imported"


def write(folder: Path, name: str, data: str | bytes) -> Path:
    path = folder / f"{uuid.uuid4().hex[:8]}-{name}"
    if isinstance(data, bytes):
        path.write_bytes(data)
    else:
        path.write_bytes(data.encode("utf-8", errors="surrogatepass"))
    return path


@FUZZ
@given(
    value=json_values,
    fmt=st.sampled_from(FORMATS),
    suffix=st.sampled_from([".json", ".jsonl", ".yaml"]),
    ascii_only=st.booleans(),
)
def test_random_json_in_any_format(ws, files, value, fmt, suffix, ascii_only):
    attempt(ws, write(files, f"random{suffix}", json.dumps(value, ensure_ascii=ascii_only)), fmt)


mutations = st.sampled_from(["truncate", "insert", "delete", "bytes"])


@FUZZ
@given(
    name=st.sampled_from(sorted(SAMPLES)),
    how=mutations,
    where=st.floats(0, 1),
    junk=odd_text,
    raw=st.binary(min_size=1, max_size=8),
)
@example(name="roles.json", how="truncate", where=0.5, junk="", raw=b"x")
@example(name="lib.yaml", how="bytes", where=0.3, junk="", raw=b"\xe9\xff")
def test_mutated_real_shapes(ws, files, name, how, where, junk, raw):
    text = SAMPLES[name]
    cut = int(len(text) * where)
    data: str | bytes = {
        "truncate": lambda: text[:cut],
        "insert": lambda: text[:cut] + junk + text[cut:],
        "delete": lambda: text[:cut] + text[cut + max(1, len(junk)) :],
        "bytes": lambda: text[:cut].encode() + raw + text[cut:].encode(),
    }[how]()
    attempt(ws, write(files, name, data))


ROLE_FIELDS = sorted(ROLE)


@FUZZ
@given(field=st.sampled_from(ROLE_FIELDS), value=json_values | python_literals | odd_text, drop=st.booleans())
@example(field="relatives", value="[" * 3000 + "]" * 3000, drop=False)
@example(field="relatives", value="{[1]: 2}", drop=False)
@example(field="profile", value="\ud800 lone surrogate", drop=False)
@example(field="class", value="9" * 5000, drop=False)
@example(field="profile", value="长" * 2_000_000, drop=False)  # a 2-million-character profile
def test_role_fields_of_any_type(ws, files, field, value, drop):
    role = {k: v for k, v in ROLE.items() if not (drop and k == field)}
    if not drop:
        role[field] = value
    outcome = attempt(ws, write(files, "roles.json", json.dumps({"甲" + uuid.uuid4().hex[:4]: role})))
    surrogate = isinstance(value, str) and any("\ud800" <= c <= "\udfff" for c in value)
    if field in ("class", "source", "desc", "name_en") and isinstance(value, str) and value.strip() and not surrogate:
        assert outcome == "imported"  # open-vocabulary text never rejects a record


@FUZZ
@given(
    records=st.lists(
        st.dictionaries(st.sampled_from(["id", "role", "novel_name", "context"]), json_values | odd_text, max_size=4),
        min_size=1,
        max_size=3,
    ),
    as_lines=st.booleans(),
)
def test_charactereval_dialogues_of_any_shape(ws, files, records, as_lines):
    body = "\n".join(json.dumps(r) for r in records) if as_lines else json.dumps(records)
    attempt(ws, write(files, "test_data.jsonl", body), "charactereval-dialogues")


ROSTER = "models:\n  a:\n    provider: openai\n    model: gpt-4o\n    params: {temperature: 0.5, max_tokens: 64}\n"


@FUZZ
@given(how=mutations, where=st.floats(0, 1), junk=odd_text | python_literals, raw=st.binary(min_size=1, max_size=8))
@example(how="insert", where=0.2, junk="[" * 3000, raw=b"x")
@example(how="insert", where=0.99, junk="9" * 5000, raw=b"x")
def test_model_roster_loader(files, how, where, junk, raw):
    cut = int(len(ROSTER) * where)
    data = {
        "truncate": ROSTER[:cut],
        "insert": ROSTER[:cut] + junk + ROSTER[cut:],
        "delete": ROSTER[:cut] + ROSTER[cut + 3 :],
        "bytes": ROSTER[:cut].encode() + raw + ROSTER[cut:].encode(),
    }[how]
    path = write(files, "roster.yaml", data)
    try:
        load_roster(path)
    except RosterError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)


@FUZZ
@given(
    value=json_values | st.lists(odd_text, max_size=4),
    suffix=st.sampled_from([".json", ".yaml", ".csv", ".txt"]),
    raw=st.binary(max_size=6),
)
@example(value=[{"username": "ann", "first_name": [1]}], suffix=".json", raw=b"")
@example(value=[], suffix=".txt", raw=b"\xff\xfe")
def test_annotator_roster_loader(files, value, suffix, raw):
    if suffix == ".json":
        data: str | bytes = json.dumps(value)
    elif suffix == ".csv":
        data = "username,first_name\n" + "\n".join(str(v) for v in (value if isinstance(value, list) else [value]))
    else:
        data = (
            json.dumps(value)
            if suffix == ".yaml"
            else "\n".join(map(str, value if isinstance(value, list) else [value]))
        )
    path = write(files, f"annotators{suffix}", data.encode("utf-8", errors="surrogatepass") + raw)
    try:
        entries = load_annotators(path)
    except CharmError as exc:
        assert "\n" not in str(exc) and str(path) in str(exc)
        return
    assert entries and all(isinstance(e.first_name, str | None) for e in entries)


def test_cli_rejects_with_exit_2_and_one_line(tmp_path):
    ws = tmp_path / "ws"
    assert run_cli("init", str(ws), "--empty").returncode == 0
    cases = {
        "deep.json": "[" * 100_000 + "]" * 100_000,
        "latin1.jsonl": b'{"name": "caf\xe9"}\n',
        "surrogate.json": json.dumps({"甲": {**ROLE, "profile": "\ud800"}}),
        "truncated.json": SAMPLES["roles.json"][:-30],
    }
    for name, data in cases.items():
        path = write(tmp_path, name, data)
        proc = run_cli("import", str(path), workspace=ws)
        assert proc.returncode == 2, (name, proc.stderr)
        assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
        assert proc.stderr.startswith("error: ") and str(path) in proc.stderr
    with Workspace.open(ws) as opened:
        assert sum(opened.counts().values()) == 0 and integrity(opened) == "ok"
    ok = run_cli("import", str(write(tmp_path, "bom.json", "\ufeff" + SAMPLES["roles.json"])), workspace=ws)
    assert ok.returncode == 0 and "imported      2 record(s)" in ok.stdout  # a byte-order mark is fine

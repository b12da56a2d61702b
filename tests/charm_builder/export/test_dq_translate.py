"""dq_annotations table, add_dq_annotation, and `translate` through the Translator protocol."""

from __future__ import annotations

import asyncio

import pytest

from charm_builder.export import (
    ExportOptions,
    PromptTranslator,
    Translator,
    add_dq_annotation,
    build_export,
    load_dq_annotations,
    run_translate,
)
from charm_kernel.errors import CharmError
from tests.charm_builder.export.helpers import TaggingTranslator


def _annotate(ws, built) -> None:
    for name, dim, query in (
        ("d13", "empathy", "我今天很难过。"),
        ("d13", "diversity", "换个说法？"),
        ("d12", "behavior", "你平时做什么？"),
    ):
        add_dq_annotation(
            ws,
            dialogue_id=built.dialogues[name].id,
            dimension=dim,
            language="zh",
            user_query=query,
            criteria=[f"{dim} 标准一", "保持角色"],
            annotator="ann1",
        )


def test_add_dq_annotation_validates_and_upserts(workspace, built):
    did = built.dialogues["d13"].id
    first = add_dq_annotation(
        workspace, dialogue_id=did, dimension="empathy", language="zh", user_query="q1", criteria=["c"], annotator="a"
    )
    again = add_dq_annotation(
        workspace,
        dialogue_id=did,
        dimension="empathy",
        language="zh",
        user_query="q2",
        criteria=["c", "d"],
        annotator="b",
    )
    assert first == again
    rows = load_dq_annotations(workspace).to_dicts()
    assert len(rows) == 1 and rows[0]["user_query"] == "q2" and rows[0]["criteria_json"] == '["c", "d"]'
    with pytest.raises(CharmError, match="field 'dimension'"):
        add_dq_annotation(
            workspace, dialogue_id=did, dimension="charm", language="zh", user_query="q", criteria=["c"], annotator="a"
        )
    with pytest.raises(CharmError, match="field 'criteria'"):
        add_dq_annotation(
            workspace, dialogue_id=did, dimension="empathy", language="zh", user_query="q", criteria=[], annotator="a"
        )
    with pytest.raises(CharmError, match="dialogue dlg_missing is not in the workspace"):
        add_dq_annotation(
            workspace,
            dialogue_id="dlg_missing",
            dimension="empathy",
            language="zh",
            user_query="q",
            criteria=["c"],
            annotator="a",
        )


def test_translate_fills_english_side_once(workspace, built):
    _annotate(workspace, built)
    fake = TaggingTranslator()
    assert isinstance(fake, Translator)
    report = run_translate(workspace, fake, src="zh", dst="en")
    assert (report.translated, report.already_done, report.failed) == (3, 0, [])
    # d13's context is shared by two items and "保持角色" by all three: each string is translated once
    assert len(fake.calls) == len(set(fake.calls))
    assert fake.calls.count("d13 hello") == 1
    dq = build_export(workspace, ExportOptions(size=4000, subset="dialogueQuality"))["dialogueQuality"].splits["test"]
    assert dq.group_by("language").len().sort("language").rows() == [("en", 3), ("zh", 3)]
    en = {(r["dialogue_id"], r["dimension"]): r for r in dq.to_dicts() if r["language"] == "en"}
    zh = {(r["dialogue_id"], r["dimension"]): r for r in dq.to_dicts() if r["language"] == "zh"}
    key = (built.dialogues["d13"].id, "empathy")
    assert en[key]["user_query"] == "[zh->en] 我今天很难过。"
    assert en[key]["criteria"] == ["[zh->en] empathy 标准一", "[zh->en] 保持角色"]
    assert [m["text"] for m in en[key]["context"]] == [
        "[zh->en] d13 hello",
        "[zh->en] d13 hi there",
        "[zh->en] d13 tell me more",
    ]
    assert en[key]["context"][1]["speaker"] == "Link"  # the character's English name, not a translation
    assert en[key]["system_prompt"] == "You are Link."  # the character has an English prompt
    nova = en[(built.dialogues["d12"].id, "behavior")]
    assert nova["system_prompt"] == "[zh->en] 你是诺娃。"  # Nova has none: translated
    assert en[key]["source_id"] is not None and zh[key]["source_id"] is None
    # re-running is a no-op
    again = run_translate(workspace, TaggingTranslator(), src="zh", dst="en")
    assert (again.translated, again.already_done) == (0, 3)


def test_translate_failures_are_reported_and_retried(workspace, built):
    _annotate(workspace, built)
    report = run_translate(workspace, TaggingTranslator(fail_on="d12"), src="zh", dst="en")
    assert report.translated == 2 and len(report.failed) == 1
    retry = run_translate(workspace, TaggingTranslator(), src="zh", dst="en")
    assert (retry.translated, retry.already_done, retry.failed) == (1, 2, [])


def test_prompt_translator_builds_the_chat_request():
    seen = []

    async def chat(messages):
        seen.append(messages)
        return "  Hello.  "

    out = asyncio.run(PromptTranslator(chat).translate("你好。", "zh", "en"))
    assert out == "Hello."
    assert seen[0][0]["role"] == "system" and "from Chinese to English" in seen[0][0]["content"]
    assert seen[0][1] == {"role": "user", "content": "你好。"}

"""Export rows read back through ``schemas.validate_rows``; dialogue turns as chat via ``schemas.to_chat``."""

from __future__ import annotations

import pytest

import schemas as s

CONTEXT = [
    {"role": "user", "speaker": "Ann", "text": "Hello."},
    {"role": "character", "speaker": "Holmes", "text": "Evening."},
    {"role": "user", "speaker": "Ann", "text": "Who are you?"},
]

IDS = {"candidate_set_id": "cset_1", "dialogue_id": "dlg_1", "character_id": "chr_1"}


def _pair(**kw):
    row = {
        **IDS,
        "language": "en",
        "prompt": s.to_chat(CONTEXT, "You are Holmes."),
        "chosen": "Sherlock Holmes, consulting detective.",
        "rejected": "I am an AI assistant.",
    }
    return {**row, **kw}


def _rr(**kw):
    row = {
        **IDS,
        "system_prompt": "You are Holmes.",
        "context": CONTEXT,
        "chosen": "Holmes.",
        "rejected": "An assistant.",
        "dimension": "attractiveness",
        "language": "zh",
        "n_annotators": 3,
        "agreement": 2 / 3,
    }
    return {**row, **kw}


def _dq(**kw):
    row = {
        "dialogue_id": "dlg_1",
        "character_id": "chr_1",
        "context": CONTEXT,
        "user_query": "What is your method?",
        "dimension": "knowledge",
        "criteria": ["Names deduction"],
        "language": "en",
    }
    return {**row, **kw}


@pytest.mark.parametrize(
    ("model", "make"), [(s.PreferencePair, _pair), (s.RoleRewardItem, _rr), (s.DialogueQualityItem, _dq)]
)
def test_rows_validate_to_schema_objects_and_keep_their_order(model, make) -> None:
    rows = [make(language="zh"), make(language="en")]
    items = s.validate_rows(model, rows, "x.jsonl")
    assert [type(i) for i in items] == [model, model]
    assert [i.language for i in items] == ["zh", "en"]
    assert items[0].id != items[1].id and items[0].id.startswith(model.id_prefix + "_")
    assert len(s.validate_rows(model, iter(rows), "x.jsonl", limit=1)) == 1
    assert set(s.required_columns(model)) <= set(make())
    extra = s.validate_rows(model, [make(__index_level_0__=7, notes="x")], "x.jsonl")[0]
    assert extra == model.model_validate(make())  # columns the schema does not know are ignored


@pytest.mark.parametrize(
    ("model", "rows", "expected"),
    [
        (s.DialogueQualityItem, [_dq(), _dq(dimension="charisma")], "dq.jsonl row 1: field 'dimension': "),
        (s.DialogueQualityItem, [_dq(context=[{"role": "user", "text": " "}])], "row 0: field 'context.0.text': "),
        (s.RoleRewardItem, [_rr(), _rr(), _rr(agreement=1.5)], "row 2: field 'agreement': "),
        (s.PreferencePair, [_pair(rejected=_pair()["chosen"])], "row 0: field 'row': "),
        (
            s.PreferencePair,
            [{k: v for k, v in _pair().items() if k != "prompt"}],
            "row 0: field 'prompt': Field required",
        ),
    ],
)
def test_a_bad_row_is_one_line_naming_source_row_and_field(model, rows, expected) -> None:
    with pytest.raises(s.RowError) as err:
        s.validate_rows(model, rows, "dq.jsonl")
    msg = str(err.value)
    assert msg.startswith("dq.jsonl row ") and expected in msg and "\n" not in msg


def test_a_bad_value_is_shown_truncated() -> None:
    with pytest.raises(s.RowError, match=r"\(got 'charisma'\)$"):
        s.validate_rows(s.DialogueQualityItem, [_dq(dimension="charisma")], "f")
    with pytest.raises(s.RowError) as err:
        s.validate_rows(s.DialogueQualityItem, [_dq(language="x" * 500)], "f")
    assert "..." in str(err.value) and len(str(err.value)) < 300


def test_to_chat_maps_turns_and_passes_chat_messages_through() -> None:
    turns = [s.Message(**t) for t in CONTEXT]
    assert s.to_chat(turns, "sys", "q") == [
        {"role": "system", "content": "sys"},
        {"role": "user", "content": "Hello."},
        {"role": "assistant", "content": "Evening."},
        {"role": "user", "content": "Who are you?"},
        {"role": "user", "content": "q"},
    ]
    assert s.to_chat(CONTEXT) == s.to_chat(turns)
    chat = [{"role": "system", "content": "given"}, {"role": "assistant", "content": "hi"}]
    assert s.to_chat(chat) == chat
    assert s.to_chat(turns[:2], speakers=True) == [
        {"role": "user", "content": "Ann: Hello."},
        {"role": "assistant", "content": "Holmes: Evening."},
    ]
    assert s.to_chat([s.Message(role="user", text="no name")], speakers=True)[0]["content"] == "no name"


def test_export_columns_are_pinned_and_name_model_fields():
    # The file order of each exported subset (a change here changes every export file).
    assert " ".join(s.TRAIN_COLUMNS) == (
        "id prompt chosen rejected margin_agreement margin_judge dialogue_id character_id candidate_set_id language "
        "dimension chosen_model rejected_model n_annotators chosen_best_votes rejected_worst_votes margin_bws "
        "label_confidence"
    )
    assert " ".join(s.GRPO_COLUMNS) == "id prompt dialogue_id character_id candidate_set_id language dimension"
    assert " ".join(s.ROLE_REWARD_COLUMNS) == (
        "id context system_prompt chosen rejected dimension language character_id dialogue_id candidate_set_id "
        "n_annotators agreement"
    )
    assert " ".join(s.ROLE_REWARD_SCORED_COLUMNS) == "id context system_prompt chosen rejected dimension language"
    assert " ".join(s.DIALOGUE_QUALITY_COLUMNS) == (
        "id context system_prompt user_query dimension criteria language character_id dialogue_id source_id"
    )
    assert s.PAIR_TEXT_COLUMNS == ("prompt", "chosen", "rejected")
    assert s.VOTE_COLUMNS == ("n_annotators", "chosen_best_votes", "rejected_worst_votes", "margin_bws")
    with pytest.raises(ValueError, match="no field"):
        s.columns(s.PreferencePair, "prompt", "chosn")
    with pytest.raises(ValueError, match="lack"):
        s.columns(s.PreferencePair, "prompt", every=True)
    assert s.columns(s.ChatMessage) == ("role", "content")

import json

import pytest
from pydantic import ValidationError

import schemas as s


def _char(**kw):
    base = dict(
        name={"zh": "林星", "en": "Lin Xing"},
        sub_category="anime",
        source={"en": "Star Harbor"},
        profile={"en": "A pilot."},
        system_prompt={"en": "You are Lin Xing."},
    )
    return s.Character(**{**base, **kw})


def _cset(labels=("A", "B")):
    return s.CandidateSet(
        dialogue_id="dlg_1",
        context=[{"role": "user", "speaker": "u", "text": "hi"}],
        candidates=[{"label": lab, "model_id": f"m{lab}", "text": f"reply {lab}"} for lab in labels],
    )


def test_character_id_is_deterministic_and_stable_across_profile_edits():
    a, b = _char(), _char(profile={"en": "A pilot who lost her ship."})
    assert a.id == b.id and a.id.startswith("chr_")
    assert _char(name={"en": "Someone else"}).id != a.id


def test_primary_category_is_derived_and_checked():
    assert _char().primary_category == "fiction"
    assert _char(sub_category="scientists").primary_category == "real_person"
    with pytest.raises(ValidationError, match="belongs to 'fiction'"):
        _char(primary_category="original")


@pytest.mark.parametrize("field,value", [("sub_category", "cartoons"), ("profile", {"zh": "  "}), ("name", {})])
def test_character_rejects_bad_fields(field, value):
    with pytest.raises(ValidationError) as exc:
        _char(**{field: value})
    assert exc.value.errors()[0]["loc"][0] == field


def test_message_rejects_empty_text_and_unknown_role():
    with pytest.raises(ValidationError, match="non-empty"):
        s.Message(role="user", text="   ")
    with pytest.raises(ValidationError):
        s.Message(role="narrator", text="x")


def test_dialogue_rejects_unknown_language():
    with pytest.raises(ValidationError) as exc:
        s.Dialogue(character_id="c", language="fr", turns=[{"role": "user", "text": "bonjour"}])
    assert exc.value.errors()[0]["loc"] == ("language",)


def test_candidate_set_rejects_duplicate_labels_and_non_user_last_turn():
    assert _cset(("A", "B", "C", "D", "E", "F")).by_label("F").model_id == "mF"
    with pytest.raises(ValidationError, match="duplicate candidate labels: A"):
        _cset(("A", "A"))
    with pytest.raises(ValidationError, match="end with a user turn"):
        s.CandidateSet(
            dialogue_id="d",
            context=[{"role": "character", "text": "x"}],
            candidates=[{"label": "A", "model_id": "m", "text": "a"}, {"label": "B", "model_id": "n", "text": "b"}],
        )


def test_annotation_rejects_best_equal_worst_and_incomplete_submission():
    ok = s.Annotation(candidate_set_id="c", annotator="ann1", best="A", worst="F")
    assert ok.id == s.Annotation(candidate_set_id="c", annotator="ann1", best="B", worst="C").id
    with pytest.raises(ValidationError, match="best and worst are the same candidate"):
        s.Annotation(candidate_set_id="c", annotator="ann1", best="C", worst="C")
    with pytest.raises(ValidationError, match="needs both best and worst"):
        s.Annotation(candidate_set_id="c", annotator="ann1", best="C")
    assert s.Annotation(candidate_set_id="c", annotator="a", status="draft", best="C").worst is None


def test_items_validate():
    ids = {"candidate_set_id": "c", "dialogue_id": "d", "character_id": "x", "language": "en"}
    question = [{"role": "user", "content": "q"}]
    pair = s.PreferencePair(**ids, prompt=[{"role": "system", "content": "You are X"}], chosen="good", rejected="bad")
    assert pair.id.startswith("pair_")
    with pytest.raises(ValidationError, match="identical"):
        s.PreferencePair(**ids, prompt=question, chosen="same", rejected="same")
    with pytest.raises(ValidationError, match="3 votes but n_annotators is 2"):
        s.PreferencePair(**ids, prompt=question, chosen="a", rejected="b", n_annotators=2, chosen_best_votes=3)
    counted = s.PreferencePair.model_validate(
        {**pair.model_dump(exclude={"id"}), "n_annotators": 3, "chosen_best_votes": 2, "margin_agreement": 0.5}
    )
    assert counted.id == pair.id  # vote counts and margins describe the pair; they are not its identity
    with pytest.raises(ValidationError):
        s.DialogueQualityItem(
            dialogue_id="d",
            character_id="x",
            context=[{"role": "user", "text": "q"}],
            user_query="q?",
            dimension="empathy",
            criteria=[],
            language="zh",
        )


def test_every_model_exports_json_schema():
    for name, model in {**s.MODELS, **s.EXTRA_SCHEMAS}.items():
        schema = model.model_json_schema()
        assert schema["type"] == "object", name
        json.dumps(schema)
    assert "best" in s.MODELS["annotation"].model_json_schema()["properties"]

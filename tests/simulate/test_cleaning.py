import pytest

from charm_builder.simulate.cleaning import clean_turn, language_ok


def clean(text, lang="en", history=(), own=("Lin Xing",), other=("curious_student",)):
    return clean_turn(text, own_names=list(own), other_names=list(other), language=lang, history=list(history))


def test_strips_own_name_prefix_and_end_marker():
    out = clean("Lin Xing: The harbor lights are out tonight. [END]")
    assert out.text == "The harbor lights are out tonight."
    assert out.problem is None and out.ended and set(out.fixes) == {"end_marker", "name_prefix"}


def test_full_width_colon_prefix_in_chinese():
    out = clean("林星：今晚港口的灯都灭了。", lang="zh", own=("林星",))
    assert out.text == "今晚港口的灯都灭了。" and out.problem is None


def test_cuts_where_speaker_starts_writing_the_other_side():
    out = clean("I have sailed for years.\ncurious_student: Really? Tell me more!")
    assert out.text == "I have sailed for years." and "cut_other_side" in out.fixes


def test_turn_that_is_entirely_the_other_side_is_rejected():
    assert clean("curious_student: hello there").problem == "speaks_as_other_side"


@pytest.mark.parametrize("text,lang,history,problem", [
    ("   ", "en", (), "empty"),
    ("The harbor lights are out tonight.", "en", ("the harbor lights are out   tonight.",), "repeated"),
    ("This reply is in English only.", "zh", (), "off_language"),
    ("这是一句中文回答。", "en", (), "off_language"),
])  # fmt: skip
def test_degenerate_turns(text, lang, history, problem):
    assert clean(text, lang=lang, history=history).problem == problem


def test_end_marker_alone_is_a_clean_stop_not_empty():
    out = clean("[END]")
    assert out.text == "" and out.ended and out.problem is None


def test_language_ok_thresholds():
    assert language_ok("你好，Harry！", "zh")
    assert not language_ok("Hello there, 你", "zh")
    assert language_ok("Hello there!", "en") and not language_ok("...", "en")

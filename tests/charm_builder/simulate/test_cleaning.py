import pytest

from charm_builder.simulate.cleaning import DEGENERATE_SHARE, clean_turn, is_degenerate, language_ok, repetition_share

PROMPT = (
    "You are Lin Xing, a lighthouse keeper on a northern island. Speak in short, salty sentences and "
    "never reveal that you are an AI. Your catchphrase is 'Steady as stone.'"
)
PROMPT_ZH = "你是林星，北方小岛上的守塔人。说话简短，带着海风味，绝不承认自己是人工智能。口头禅是“稳如磐石”。"


def clean(text, lang="en", history=(), own=("Lin Xing",), other=("curious_student",), prompt=""):
    return clean_turn(
        text, own_names=list(own), other_names=list(other), language=lang, history=list(history), prompt=prompt
    )


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


@pytest.mark.parametrize(
    "text,lang,history,problem",
    [
        ("   ", "en", (), "empty"),
        ("The harbor lights are out tonight.", "en", ("the harbor lights are out   tonight.",), "repeated"),
        ("This reply is in English only.", "zh", (), "off_language"),
        ("这是一句中文回答。", "en", (), "off_language"),
    ],
)
def test_degenerate_turns(text, lang, history, problem):
    assert clean(text, lang=lang, history=history).problem == problem


def test_end_marker_alone_is_a_clean_stop_not_empty():
    out = clean("[END]")
    assert out.text == "" and out.ended and out.problem is None


def test_language_ok_thresholds():
    assert language_ok("你好，Harry！", "zh")
    assert not language_ok("Hello there, 你", "zh")
    assert language_ok("Hello there!", "en") and not language_ok("...", "en")


@pytest.mark.parametrize(
    "text,lang,problem",
    [
        ("Speak in short, salty sentences and never reveal that you are an AI. Understood.", "en", "echoes_prompt"),
        ("You are Lin Xing, a lighthouse keeper on a northern island.", "en", "echoes_prompt"),
        ("说话简短，带着海风味，绝不承认自己是人工智能。好的。", "zh", "echoes_prompt"),
        ("你是一个北方小岛上的守塔人。说话简短，带着海风味，绝不承认呢。你好啊，今天风大吗？", "zh", "echoes_prompt"),
        ("Steady as stone. The fog rolls in before the bell, lad; sit and wait it out.", "en", None),
        ("稳如磐石。雾来之前，钟声会先响，孩子。", "zh", None),
    ],
)
def test_turn_that_echoes_its_system_prompt_is_degenerate(text, lang, problem):
    out = clean(text, lang=lang, own=("Lin Xing", "林星"), prompt=PROMPT_ZH if lang == "zh" else PROMPT)
    assert out.problem == problem
    assert clean(text, lang=lang, own=("Lin Xing", "林星")).problem is None  # no prompt given: not checked


@pytest.mark.parametrize(
    "text,lang",
    [
        ("I've been meaning to talk to you for a long time. " * 6, "en"),
        ("The sea, the sea, the sea, the sea, the sea, the sea, the sea, the sea, the sea.", "en"),
        ("我一直想和你好好谈一谈。" * 5, "zh"),
        ("你好你好你好你好你好你好你好你好你好你好", "zh"),
    ],
)
def test_looping_text_is_degenerate_in_english_and_chinese(text, lang):
    assert repetition_share(text) > DEGENERATE_SHARE and is_degenerate(text)
    assert clean(text, lang=lang, own=("Lin Xing", "林星")).problem == "degenerate"


@pytest.mark.parametrize(
    "text,lang",
    [
        (
            "The harbor lights are out tonight, and the boats have not come back yet. I keep the lamp burning, "
            "pour another cup of tea and wait by the window until I see their masts.",
            "en",
        ),
        ("今晚港口的灯都灭了，渔船还没有回来。我守着灯塔，坐在窗边喝茶，等着他们平安归来，等到天亮也没关系。", "zh"),
        ("Steady as stone. Steady as stone.", "en"),  # too short to judge
    ],
)
def test_ordinary_text_is_not_degenerate(text, lang):
    assert not is_degenerate(text)
    assert clean(text, lang=lang, own=("Lin Xing", "林星")).problem is None


def test_repetition_share_counts_chinese_characters_not_whitespace_words():
    # one "word" for a whitespace splitter, but 4-grams of characters repeat
    assert repetition_share("他说好的他说好的他说好的他说好的") > 0.5
    assert repetition_share("甲乙丙丁戊己庚辛壬癸子丑寅卯辰巳") == 0.0

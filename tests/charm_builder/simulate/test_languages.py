"""simulate picks the languages the roster's models speak: English only on the offline roster."""

from charm_builder.llm import load_roster
from charm_builder.simulate.plan import fit_languages


def _fit(roster_name, asked, explicit):
    roster = load_roster(roster_name)
    return fit_languages(roster.name, roster.languages_of(roster.names), asked, explicit=explicit)


def test_offline_roster_defaults_to_english_and_says_so_in_one_line():
    languages, note = _fit("offline", ("zh", "en"), explicit=False)
    assert languages == ("en",)
    assert "English only" in note and "--language zh" in note and "\n" not in note


def test_explicit_chinese_on_the_offline_roster_is_allowed_with_a_warning():
    languages, note = _fit("offline", ("zh",), explicit=True)
    assert languages == ("zh",) and "warning" in note and "Chinese" in note
    assert _fit("offline", ("en",), explicit=True) == (("en",), None)


def test_rosters_without_languages_keep_what_was_asked():
    assert _fit("paper", ("zh", "en"), explicit=False) == (("zh", "en"), None)

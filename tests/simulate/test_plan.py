import pytest

from charm_builder.errors import CharmError
from charm_builder.importers import import_files
from charm_builder.library import library_files
from charm_builder.simulate.plan import parse_turns, plan_dialogues
from schemas import Character


def test_parse_turns():
    assert parse_turns("13") == (13, 13) and parse_turns("5..9") == (5, 9) and parse_turns(None) == (9, 17)
    for bad in ("x", "9..5", "0"):
        with pytest.raises(CharmError, match="--turns"):
            parse_turns(bad)


def test_plan_is_balanced_deterministic_and_odd(workspace):
    import_files(workspace, library_files())
    specs = plan_dialogues(workspace, limit=52, seed=3, turns=(4, 10))
    again = plan_dialogues(workspace, limit=52, seed=3, turns=(4, 10))
    assert [s.key for s in specs] == [s.key for s in again]
    assert len({s.key for s in specs}) == 52
    assert all(s.turns % 2 == 1 and 3 <= s.turns <= 10 for s in specs)
    cats = {workspace.get(Character, s.character_id).sub_category for s in specs}
    assert len(cats) == 13  # 52 = 13 categories x 2 languages x 2 dimensions
    assert {s.language for s in specs} == {"zh", "en"}
    assert sum(s.language == "zh" for s in specs) == 26
    assert {s.dimension for s in specs} == {"knowledge_consistency", "attractiveness"}
    assert plan_dialogues(workspace, limit=5, seed=4, turns=(5, 5))[0].key != specs[0].key


def test_plan_needs_characters_and_users(workspace):
    with pytest.raises(CharmError, match="no characters to simulate"):
        plan_dialogues(workspace, limit=1, seed=0, turns=(3, 3))

"""`charm-build show`: a dialogue with its setting, candidates, votes and cleaning flags in the terminal."""

from __future__ import annotations

import re

import pytest
from typer.testing import CliRunner

from charm_apps.build import app
from charm_builder.browse import dialogue_view, select_dialogues
from charm_builder.store import Workspace
from tests.charm_builder.browse.helpers import BrowseData
from tests.helpers import PAPER_MODELS

runner = CliRunner()


def _show(data: BrowseData, *args: str):
    return runner.invoke(app, ["show", "--workspace", str(data.root), *args], env={"COLUMNS": "220", "NO_COLOR": "1"})


def test_show_renders_setting_turns_candidates_votes_and_flags(browse_data: BrowseData) -> None:
    result = _show(browse_data, browse_data.en.id)
    assert result.exit_code == 0, result.output
    out = result.output
    for text in (
        "Sun Wukong",
        "Flower-Fruit Mountain",
        "A curious student who loves myths",
        "master of 72",
        "How many transformations do you know? (en 0)",
        "Seventy-two, little one!",
        "turn 2: cleaned speaker_prefix",
        "refine: qwen-refiner rewrote turns [2]",
        "knowledge_consistency",
    ):
        assert text in out, text
    assert not any(m in out for m in PAPER_MODELS), "model names must stay hidden without --reveal"
    # best votes A=2, E=1; worst F=2, D=1 (the draft is listed but not counted)
    row_a = next(line for line in out.splitlines() if "Seventy-two, little one!" in line)
    assert re.search(r"│\s*2\s*│\s*0\s*│", row_a), row_a
    row_f = next(line for line in out.splitlines() if "Who knows?" in line)
    assert re.search(r"│\s*0\s*│\s*2\s*│", row_f), row_f
    assert "ann-4 best B worst – (draft)" in out and "3 submitted" in out
    assert "empty" in next(line for line in out.splitlines() if re.match(r"│\s*│\s*D\s", line))
    assert '<script>window.__pwned=2</script> & "quotes"' in out  # literal text, not rich markup


def test_show_reveal_names_the_models(browse_data: BrowseData) -> None:
    result = _show(browse_data, browse_data.cset.id, "--reveal")  # a candidate set id finds its dialogue
    assert result.exit_code == 0, result.output
    for model in PAPER_MODELS:
        assert model in result.output


def test_show_filters_by_character_and_language(browse_data: BrowseData) -> None:
    result = _show(browse_data, "--character", "孙悟空", "--language", "zh", "--limit", "5")
    assert result.exit_code == 0, result.output
    assert "(zh 1)" in result.output and "(en 0)" not in result.output
    assert "no candidate sets yet" in result.output and "cleaning: no flags" in result.output


def test_random_draws_are_repeatable_with_a_seed(browse_data: BrowseData) -> None:
    with Workspace.open(browse_data.root) as ws:
        draws = [[d.id for d in select_dialogues(ws, sample=1, seed=s)] for s in range(8)]
        assert all(draws[i] == [d.id for d in select_dialogues(ws, sample=1, seed=i)] for i in range(8))
        assert {d[0] for d in draws} == {browse_data.en.id, browse_data.zh.id}
        assert len(select_dialogues(ws, sample=10, seed=0)) == 2
        view = dialogue_view(ws, browse_data.en)
    (cset,) = view.candidate_sets
    assert [(c.label, c.best_votes, c.worst_votes) for c in cset.candidates] == [
        ("A", 2, 0),
        ("B", 0, 0),
        ("C", 0, 0),
        ("D", 0, 1),
        ("E", 1, 0),
        ("F", 0, 2),
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["dlg_doesnotexist"], "no dialogue or candidate set with id 'dlg_doesnotexist'"),
        (["--character", "Nobody"], "no character named 'Nobody'"),
        (["--language", "fr"], "--language must be zh or en"),
        (["--character", "Marie Curie"], "no dialogues in workspace"),
    ],
)
def test_show_bad_selection_is_one_line_exit_2(browse_data: BrowseData, args: list[str], message: str) -> None:
    result = _show(browse_data, *args)
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output

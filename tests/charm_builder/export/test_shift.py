"""Shift-aware exports: held-out groups absent from training, no leakage, JS divergences by hand."""

from __future__ import annotations

import math

import numpy as np
import polars as pl
import pytest
from pydantic import ValidationError

from charm_builder.export import ExportOptions, build_export, check_export, export_workspace
from charm_builder.export import divergence as dv
from charm_builder.export.card import parse_card
from charm_builder.export.inputs import read_inputs
from charm_builder.export.shift import load_users, plan_shift, set_features
from charm_kernel.errors import CharmError
from tests.charm_builder.export.shift_world import ShiftWorld, build_shift_workspace


@pytest.fixture
def world(workspace) -> ShiftWorld:
    return build_shift_workspace(workspace)


def features(ws) -> pl.DataFrame:
    return set_features(read_inputs(ws), load_users(ws))


def shift_export(ws, **kw) -> dict:
    opts = ExportOptions(size=8, grpo_fraction=0.2, shift_embeddings=False, **kw)
    data = build_export(ws, opts)
    return {
        "train": data["preferenceTraining"].splits["train"],
        "grpo": data["preferenceTraining"].splits["grpo"],
        **data["roleReward"].splits,
        "charm": data["roleReward"].charm,
    }


def owners_by_split(out: dict, column: str, owner_of) -> dict[str, set]:
    """The owners (users or characters) of each split's rows, by `owner_of(id)` on `column`."""
    return {
        name: {owner_of(i) for i in out[name][column].to_list()} for name in ("train", "grpo", "test_id", "test_ood")
    }


# ------------------------------------------------------------------------------------ JS by hand


def test_js_divergence_hand_computed_values():
    # P = (1/2, 1/2), Q = (1, 0): M = (3/4, 1/4)
    # KL(P||M) = 1/2 log2(2/3) + 1/2 log2(2) = 0.2075187...; KL(Q||M) = log2(4/3) = 0.4150375...
    expected = 0.5 * (0.5 * math.log2(2 / 3) + 0.5) + 0.5 * math.log2(4 / 3)
    assert expected == pytest.approx(0.3112781, abs=1e-7)
    assert dv.js_divergence([0.5, 0.5], [1.0, 0.0]) == pytest.approx(expected)
    assert dv.js_divergence({"a": 2, "b": 2}, {"a": 7}) == pytest.approx(expected)  # counts, missing keys
    assert dv.categorical_js(["x", "x", "y", "y"], ["x"] * 5) == pytest.approx(expected)
    assert dv.js_divergence([1, 0], [0, 1]) == 1.0  # disjoint supports
    assert dv.js_divergence([3, 1], [6, 2]) == 0.0
    # P = (1/4, 3/4), Q = (3/4, 1/4): M = (1/2, 1/2); JS = 1 - H(1/4) = 1 - 0.8112781 = 0.1887219
    assert dv.js_divergence([1, 3], [3, 1]) == pytest.approx(1 - (0.25 * 2 + 0.75 * math.log2(4 / 3)))
    assert dv.categorical_js([], ["x"]) is None
    with pytest.raises(ValueError):
        dv.js_divergence([1, 2], [1, 2, 3])


def test_embedding_js_on_separated_and_identical_clouds():
    rng = np.random.default_rng(0)
    a = np.array([1.0, 0, 0]) + 0.01 * rng.normal(size=(40, 3))
    b = np.array([0, 1.0, 0]) + 0.01 * rng.normal(size=(30, 3))
    assert dv.embedding_js(a, b, k=2) == 1.0  # two clusters, one per side
    assert dv.embedding_js(a, a.copy(), k=4) == 0.0  # same points -> same histogram
    # half of the test side shares train's cluster: P = (1, 0), Q = (1/2, 1/2) -> 0.3112781
    mixed = np.concatenate([a[:15], b[:15]])
    assert dv.embedding_js(a, mixed, k=2) == pytest.approx(0.3112781, abs=1e-6)
    _, labels = dv.kmeans(np.concatenate([a, b]), 2, seed=3)
    assert len(set(labels[:40])) == 1 and len(set(labels[40:])) == 1 and labels[0] != labels[40]


# ------------------------------------------------------------------------------------ planning


def test_default_holdout_is_deterministic_closest_to_a_fifth(workspace, world):
    f = features(workspace)
    # users: zh-culture 50 %, western 25 %, japanese 25 % -> tie at 25 % -> alphabetical: japanese
    plan = plan_shift(f, "user")
    assert plan.holdout == ["japanese"] and plan.group_shares["zh-culture"] == pytest.approx(0.5)
    assert {
        world.user_of(d)
        for d in f.filter(pl.col("candidate_set_id").is_in(list(plan.ood_sets)))["dialogue_id"].to_list()
    } == {"kenji"}
    # characters: fiction 50 %, real_person 25 %, original 25 % -> original
    assert plan_shift(f, "character").holdout == ["original"]
    # contexts of 1, 3, 5 turns, a third each: > 1 holds out 2/3 (over half), > 3 holds out 1/3
    dplan = plan_shift(f, "dialogue")
    assert dplan.threshold == 3 and len(dplan.ood_sets) == 16
    assert plan_shift(f, "user", "western").ood_sets != plan.ood_sets
    assert plan_shift(f, "user").ood_sets == plan.ood_sets  # same choice every time


@pytest.mark.parametrize(
    ("shift", "holdout", "match"),
    [
        ("user", "klingon", "--holdout klingon: no persona has this tag"),
        ("user", "lang:fr", "--holdout lang:fr: no dialogue in language 'fr'"),
        ("character", "anime", "--holdout anime: no character of this category"),
        ("dialogue", "long", "expected a number of turns"),
        ("character", "fiction,real_person,original", "holds out every candidate set"),
        ("dialogue", "9", "matches no candidate set"),
    ],
)
def test_bad_holdouts_are_one_line_errors(workspace, world, shift, holdout, match):
    with pytest.raises(CharmError, match=match):
        plan_shift(features(workspace), shift, holdout)


def test_bad_export_options_are_validation_errors():
    # the options model validates itself (the CLI turns these into one line naming the option)
    with pytest.raises(ValidationError, match="--holdout needs --shift"):
        ExportOptions(holdout="western")
    with pytest.raises(ValidationError, match="Input should be 'user', 'character' or 'dialogue'"):
        ExportOptions(shift="users")


# ------------------------------------------------------------------------------------ splits


def test_user_shift_keeps_the_held_out_personas_out_of_training(workspace, world):
    out = shift_export(workspace, shift="user", holdout="western")
    users = owners_by_split(out, "dialogue_id", world.user_of)
    assert users["test_ood"] == {"tom"}
    assert "tom" not in users["train"] | users["grpo"] | users["test_id"]
    assert out["train"].height and out["test_id"].height and out["grpo"].height
    # every targeted usable set of tom's (8 of 12) is in test_ood, capped at 2 per dimension x language cell
    assert out["test_ood"]["language"].unique().to_list() == ["en"] and out["test_ood"].height == 4
    for a, b in [("train", "test_id"), ("train", "test_ood"), ("test_id", "test_ood"), ("grpo", "test_ood")]:
        assert not set(out[a]["dialogue_id"]) & set(out[b]["dialogue_id"]), (a, b)
    div = out["charm"]["shift"]["divergence"]
    assert div["user"]["user_group"]["test_ood"] == 1.0  # train has no western persona at all
    assert div["user"]["user_group"]["test_id"] < 1.0
    assert "embedding" not in div["user"]  # --no-shift-embeddings


def test_user_shift_language_marginal_matches_a_hand_count(workspace, world):
    out = shift_export(workspace, shift="user", holdout="western")
    train_sets = out["train"].unique("candidate_set_id")
    zh, en = (train_sets["language"] == "zh").sum(), (train_sets["language"] == "en").sum()
    # test_ood (tom) is all English: JS((zh, en), (0, 1)) by the closed form
    p_zh, p_en = zh / (zh + en), en / (zh + en)
    m_zh, m_en = p_zh / 2, (p_en + 1) / 2
    hand = 0.5 * (p_zh * math.log2(p_zh / m_zh) + p_en * math.log2(p_en / m_en)) + 0.5 * math.log2(1 / m_en)
    assert out["charm"]["shift"]["divergence"]["user"]["language"]["test_ood"] == pytest.approx(hand, abs=1e-4)


def test_character_shift_holds_out_real_people(workspace, world):
    out = shift_export(workspace, shift="character", holdout="real_person")
    chars = owners_by_split(out, "character_id", world.char_of)
    assert chars["test_ood"] == {"curie"}
    assert "curie" not in chars["train"] | chars["grpo"] | chars["test_id"]
    div = out["charm"]["shift"]["divergence"]["character"]
    assert div["primary_category"]["test_ood"] == 1.0 and div["sub_category"]["test_ood"] == 1.0


def test_dialogue_shift_trains_short_and_tests_long_recombined_contexts(workspace, world):
    out = shift_export(workspace, shift="dialogue")
    lengths = {name: set(out[name]["context"].list.len().to_list()) for name in ("test_id", "test_ood")}
    train_len = set(out["train"]["prompt"].list.len().to_list())  # system + context
    assert max(train_len) - 1 <= 3 and lengths["test_id"] <= {1, 3} and lengths["test_ood"] == {5}
    # long contexts extend training dialogues (shared dialogues) but never repeat a context
    assert set(out["train"]["dialogue_id"]) & set(out["test_ood"]["dialogue_id"])
    assert not set(out["train"]["dialogue_id"]) & set(out["test_id"]["dialogue_id"])
    shift = out["charm"]["shift"]
    assert shift["threshold"] == 3 and shift["divergence"]["dialogue"]["n_turns"]["test_ood"] == 1.0
    assert 0 < shift["ood_turns_seen_in_train"] <= 1


@pytest.mark.parametrize("kind,holdout", [("user", "western"), ("character", "real_person"), ("dialogue", "3")])
def test_written_shift_export_passes_check_and_card_reports_js(workspace, world, tmp_path, kind, holdout):
    out = tmp_path / f"shift-{kind}"
    summary = export_workspace(
        workspace, out, ExportOptions(size=8, shift=kind, holdout=holdout, shift_embeddings=False)
    )
    assert set(summary.rows["roleReward"]) == {"test_id", "test_ood"}
    assert check_export(out).rows == summary.rows
    header = parse_card(out / "roleReward" / "README.md")
    assert header["charm"]["shift"]["kind"] == kind
    text = (out / "roleReward" / "README.md").read_text()
    assert "## Distribution shift" in text and "JS(train, test_ood)" in text

"""annotation.pairwise: blinding, order randomisation, win/tie/loss un-blinding, tallies, Figure-4 PNG."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from annotation.pairwise import (
    QUESTION,
    PairwiseError,
    PairwiseItem,
    Vote,
    blind_pairs,
    items_from_candidate_sets,
    outcome,
    pairwise_settings,
    parse_models,
    plot_win_tie_loss,
    settings_spec,
    tally,
    to_argilla_record,
    votes_from_records,
)


def items(n: int = 40) -> list[PairwiseItem]:
    return [
        PairwiseItem(
            f"ctx-{i}",
            [{"role": "user", "content": f"question {i}"}],
            "Sherlock",
            "en",
            {"grpo": f"grpo reply {i}", "gpt-4o": f"gpt reply {i}", "claude": f"claude reply {i}"},
        )
        for i in range(n)
    ]


def test_parse_models() -> None:
    assert parse_models("grpo, gpt-4o,claude") == ("grpo", ["gpt-4o", "claude"])
    with pytest.raises(PairwiseError, match="at least one opponent"):
        parse_models("grpo")
    with pytest.raises(PairwiseError, match="duplicate"):
        parse_models("a,b,a")


def test_blinding_is_deterministic_balanced_and_keeps_replies_with_their_model() -> None:
    pairs = blind_pairs(items(), "grpo", ["gpt-4o", "claude"], seed=7)
    assert len(pairs) == 80 and len({p.record_id for p in pairs}) == 80
    assert pairs == blind_pairs(items(), "grpo", ["gpt-4o", "claude"], seed=7)  # re-push: same records
    first = sum(p.model_1 == "grpo" for p in pairs)
    assert 25 <= first <= 55  # both orders occur (a fair coin per record)
    other_seed = blind_pairs(items(), "grpo", ["gpt-4o", "claude"], seed=8)
    assert [p.model_1 for p in other_seed] != [p.model_1 for p in pairs]
    for p in pairs:
        assert {p.model_1, p.model_2} == {"grpo", p.opponent}
        idx = p.context_id.split("-")[1]
        prefix = {"grpo": "grpo", "gpt-4o": "gpt", "claude": "claude"}
        assert p.reply_1 == f"{prefix[p.model_1]} reply {idx}" and p.reply_2 == f"{prefix[p.model_2]} reply {idx}"


def test_missing_reply_is_an_error() -> None:
    bad = PairwiseItem("ctx-x", [{"role": "user", "content": "q"}], "", "en", {"grpo": "hi", "gpt-4o": " "})
    with pytest.raises(PairwiseError, match="ctx-x: no reply from model 'gpt-4o'"):
        blind_pairs([bad], "grpo", ["gpt-4o"])


def test_settings_spec_blinds_models_and_asks_n_annotators() -> None:
    spec = settings_spec(annotators=5)
    assert spec["min_submitted"] == 5
    assert [f["name"] for f in spec["fields"]] == ["context", "character", "reply_1", "reply_2"]
    (q,) = [q for q in spec["questions"] if q["name"] == QUESTION]
    assert set(q["labels"]) == {"1", "tie", "2"} and q["required"]
    hidden = {m["name"] for m in spec["metadata"] if not m["visible_for_annotators"]}
    assert {"target", "opponent", "model_1", "model_2"} <= hidden
    with pytest.raises(PairwiseError):
        settings_spec(annotators=0)


def offline_argilla_client():
    """An ``rg.Argilla`` handle with no server: the SDK wants a client to build settings objects and
    checks it with one GET /api/v1/me at construction, which this in-process transport answers."""
    import argilla as rg
    import httpx

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.url.path == "/api/v1/me", request.url  # nothing else may be called
        return httpx.Response(
            200,
            json={
                "id": str(uuid.uuid4()),
                "username": "owner",
                "role": "owner",
                "first_name": "o",
                "inserted_at": "2026-01-01T00:00:00",
                "updated_at": "2026-01-01T00:00:00",
            },
        )

    return rg.Argilla(api_url="http://argilla.invalid", api_key="k", mounts={"http://": httpx.MockTransport(handler)})


def test_argilla_settings_and_record_hide_model_names() -> None:
    settings = pairwise_settings(annotators=3, client=offline_argilla_client())
    assert settings.distribution.min_submitted == 3
    assert [f.name for f in settings.fields] == ["context", "character", "reply_1", "reply_2"]
    assert [q.name for q in settings.questions] == [QUESTION, "reason"]
    assert {m.name: m.visible_for_annotators for m in settings.metadata}["model_1"] is False
    pair = blind_pairs(items(1), "grpo", ["gpt-4o"])[0]
    rec = to_argilla_record(pair)
    assert rec.id == pair.record_id
    shown = " ".join(str(v) for v in rec.fields.values())
    assert "grpo" not in shown.replace("grpo reply", "") and "gpt-4o" not in shown
    assert rec.metadata["model_1"] == pair.model_1 and rec.metadata["target"] == "grpo"


def meta(model_1: str, model_2: str, opponent: str) -> dict[str, str]:
    return {"target": "grpo", "opponent": opponent, "model_1": model_1, "model_2": model_2}


def test_outcome_unblinds_positions() -> None:
    assert outcome(Vote("ann", "1", meta("grpo", "gpt-4o", "gpt-4o"))) == "win"
    assert outcome(Vote("ann", "2", meta("grpo", "gpt-4o", "gpt-4o"))) == "loss"
    assert outcome(Vote("ann", "2", meta("gpt-4o", "grpo", "gpt-4o"))) == "win"
    assert outcome(Vote("ann", "1", meta("gpt-4o", "grpo", "gpt-4o"))) == "loss"
    assert outcome(Vote("ann", "tie", meta("gpt-4o", "grpo", "gpt-4o"))) == "tie"
    with pytest.raises(PairwiseError, match="unknown answer"):
        outcome(Vote("ann", "3", meta("grpo", "gpt-4o", "gpt-4o")))


def test_tally_per_opponent_and_annotator_and_chart(tmp_path: Path) -> None:
    g, c = meta("grpo", "gpt-4o", "gpt-4o"), meta("claude", "grpo", "claude")
    votes = [
        Vote("u1", "1", g),
        Vote("u1", "1", g),
        Vote("u2", "tie", g),
        Vote("u2", "2", g),
        Vote("u1", "2", c),
        Vote("u2", "1", c),
        Vote("u3", "tie", c),
    ]
    t = {x.opponent: x for x in tally(votes, {"u1": "alice", "u2": "bob"})}
    assert t["gpt-4o"].total == {"win": 2, "tie": 1, "loss": 1} and t["gpt-4o"].n == 4
    assert t["gpt-4o"].by_annotator == {
        "alice": {"win": 2, "tie": 0, "loss": 0},
        "bob": {"win": 0, "tie": 1, "loss": 1},
    }
    assert t["gpt-4o"].rates() == {"win": 0.5, "tie": 0.25, "loss": 0.25}
    assert t["gpt-4o"].mean_annotator_rates() == pytest.approx({"win": 0.5, "tie": 0.25, "loss": 0.25})
    assert t["claude"].total == {"win": 1, "tie": 1, "loss": 1}
    assert set(t["claude"].by_annotator) == {"alice", "bob", "u3"}
    png = plot_win_tie_loss(list(t.values()), tmp_path / "pairwise.png", "grpo")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(PairwiseError, match="no submitted"):
        plot_win_tie_loss([], tmp_path / "x.png", "grpo")


def test_votes_from_pulled_records_keep_only_submitted() -> None:
    import argilla as rg

    pair = blind_pairs(items(1), "grpo", ["gpt-4o"])[0]
    u1, u2, u3 = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    rec = rg.Record(
        id=pair.record_id,
        fields={"context": pair.context, "reply_1": "a", "reply_2": "b"},
        metadata=pair.metadata(),
        responses=[
            rg.Response(QUESTION, "1", user_id=u1, status="submitted"),
            rg.Response(QUESTION, "tie", user_id=u2, status="submitted"),
            rg.Response(QUESTION, "2", user_id=u3, status="draft"),
        ],
    )
    votes = votes_from_records([rec])
    assert [(v.annotator, v.value) for v in votes] == [(str(u1), "1"), (str(u2), "tie")]
    expected = "win" if pair.model_1 == "grpo" else "loss"
    assert outcome(votes[0]) == expected


def test_items_from_candidate_sets() -> None:
    from types import SimpleNamespace as NS

    msg = [
        NS(role="user", speaker="Ann", text="Hi"),
        NS(role="character", speaker="Holmes", text="Evening."),
        NS(role="user", speaker="Ann", text="Who are you?"),
    ]
    cs = NS(
        id="cset-1",
        dialogue_id="d1",
        language="en",
        context=msg,
        candidates=[
            NS(model_id="grpo", text="Holmes.", flags=[]),
            NS(model_id="gpt-4o", text="I am.", flags=[]),
            NS(model_id="claude", text="", flags=["empty"]),
        ],
    )
    got = items_from_candidate_sets([cs], ["grpo", "gpt-4o"], {"d1": "Sherlock profile"})
    assert len(got) == 1 and got[0].replies == {"grpo": "Holmes.", "gpt-4o": "I am."}
    assert got[0].context[1] == {"role": "assistant", "content": "Holmes: Evening."}
    assert got[0].character == "Sherlock profile"
    assert items_from_candidate_sets([cs], ["grpo", "claude"]) == []

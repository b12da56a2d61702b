"""Human pairwise evaluation (AAM paper appendix A.2, Figure 4): blinded A-vs-B comparisons in Argilla.

``annotate push --task pairwise --models A,B[,C...]`` compares the *target* model A against each
opponent on the same contexts. One Argilla record per (context, opponent) shows the conversation, the
character and two replies as ``Reply 1`` / ``Reply 2``; which model sits at which position is a
deterministic per-record shuffle (seeded by the record id and a run seed) and is stored only in
metadata hidden from annotators, as are the model names. The single question asks which reply is
better: ``1``, ``tie`` or ``2``. ``N`` annotators (``min_submitted``) answer each record.

``annotate report`` un-blinds every submitted vote into win/tie/loss *for the target*, tallies them
per opponent and per annotator, and draws Figure 4: one horizontal stacked bar per opponent
(average over annotators) plus one panel per opponent with each annotator's breakdown.

Everything is pure except the ``argilla`` SDK objects built by :func:`pairwise_settings` and
:func:`to_argilla_record`, which need no server.
"""

from __future__ import annotations

import hashlib
import os
import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from schemas import to_chat

QUESTION = "preference"
LABELS: dict[str, str] = {
    "1": "Reply 1 is better · 回复1更好",
    "tie": "Tie · 平局",
    "2": "Reply 2 is better · 回复2更好",
}
OUTCOMES: tuple[str, ...] = ("win", "tie", "loss")
Outcome = Literal["win", "tie", "loss"]
DEFAULT_ANNOTATORS = 5  # the paper: five annotators per comparison
GUIDELINES = (
    "# Pairwise comparison · 成对比较\n\n"
    "Read the conversation and the character profile, then the two replies to the last user turn. "
    "Choose the reply that plays the character better — in character, consistent with the conversation, "
    "knowledgeable, engaging and fluent — or *Tie* if neither is better. The replies come from different "
    "systems in random order; do not guess which is which.\n\n"
    "阅读对话和角色简介，然后比较对最后一条用户消息的两个回复。选择更好地扮演角色的回复（符合角色、与上下文一致、"
    "知识正确、有吸引力、流畅），若不分高下请选“平局”。两个回复来自不同系统，顺序随机。"
)


class PairwiseError(ValueError):
    """Bad pairwise input (missing reply, fewer than two models, ...); the message names it."""


@dataclass(frozen=True)
class PairwiseItem:
    """One context and every compared model's reply to it (``replies``: model -> text)."""

    context_id: str
    context: list[dict[str, str]]  # [{role: user|assistant, content}], ends with the user turn
    character: str
    language: str
    replies: Mapping[str, str]


@dataclass(frozen=True)
class BlindPair:
    """A record as annotators see it (``reply_1``/``reply_2``) plus the hidden position -> model map."""

    record_id: str
    context_id: str
    target: str
    opponent: str
    model_1: str
    model_2: str
    reply_1: str
    reply_2: str
    context: list[dict[str, str]]
    character: str
    language: str

    def metadata(self) -> dict[str, str]:
        return {
            "context_id": self.context_id,
            "target": self.target,
            "opponent": self.opponent,
            "model_1": self.model_1,
            "model_2": self.model_2,
            "language": self.language,
        }


@dataclass(frozen=True)
class Vote:
    """One annotator's submitted answer on one record, with the record's hidden metadata."""

    annotator: str
    value: str  # "1" | "tie" | "2"
    metadata: Mapping[str, Any]


@dataclass
class Tally:
    """win/tie/loss counts of the target against one opponent, overall and per annotator."""

    opponent: str
    total: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    by_annotator: dict[str, dict[str, int]] = field(default_factory=dict)

    @property
    def n(self) -> int:
        return sum(self.total.values())

    def rates(self) -> dict[str, float]:
        """Share of win/tie/loss (0-1) over all votes."""
        return {o: self.total[o] / self.n if self.n else 0.0 for o in OUTCOMES}

    def annotator_rates(self) -> dict[str, dict[str, float]]:
        out = {}
        for name, counts in sorted(self.by_annotator.items()):
            n = sum(counts.values())
            out[name] = {o: counts[o] / n if n else 0.0 for o in OUTCOMES}
        return out

    def mean_annotator_rates(self) -> dict[str, float]:
        """Figure 4's bar: the average of each annotator's win/tie/loss shares."""
        per = self.annotator_rates()
        if not per:
            return dict.fromkeys(OUTCOMES, 0.0)
        return {o: sum(r[o] for r in per.values()) / len(per) for o in OUTCOMES}


# --------------------------------------------------------------------------------- blinding


def parse_models(models: str | Sequence[str]) -> tuple[str, list[str]]:
    """``"A,B,C"`` -> (target ``A``, opponents ``[B, C]``)."""
    names = [m.strip() for m in (models.split(",") if isinstance(models, str) else models) if m.strip()]
    if len(names) < 2:
        raise PairwiseError(f"--models needs the target and at least one opponent (got {', '.join(names) or 'none'})")
    if len(set(names)) != len(names):
        raise PairwiseError(f"--models: duplicate model in {', '.join(names)}")
    return names[0], names[1:]


def record_id(context_id: str, target: str, opponent: str) -> str:
    """Deterministic record id of one comparison (re-pushing never duplicates)."""
    digest = hashlib.sha256(f"{context_id}\x00{target}\x00{opponent}".encode()).hexdigest()[:16]
    return f"pw-{digest}"


def target_first(rid: str, seed: int = 0) -> bool:
    """Whether the target sits at position 1: a fair coin seeded by the record id and the run seed."""
    h = int.from_bytes(hashlib.sha256(f"{seed}\x00{rid}".encode()).digest()[:8], "big")
    return random.Random(h).random() < 0.5


def blind_pairs(items: Iterable[PairwiseItem], target: str, opponents: Sequence[str], seed: int = 0) -> list[BlindPair]:
    """One blinded, order-randomised pair per (item, opponent). Raises if a needed reply is missing."""
    pairs = []
    for item in items:
        for opp in opponents:
            for model in (target, opp):
                if not (item.replies.get(model) or "").strip():
                    raise PairwiseError(f"context {item.context_id}: no reply from model {model!r}")
            rid = record_id(item.context_id, target, opp)
            first, second = (target, opp) if target_first(rid, seed) else (opp, target)
            pairs.append(
                BlindPair(
                    rid,
                    item.context_id,
                    target,
                    opp,
                    first,
                    second,
                    item.replies[first],
                    item.replies[second],
                    list(item.context),
                    item.character,
                    item.language,
                )
            )
    return pairs


def items_from_candidate_sets(
    candidate_sets: Iterable[Any], models: Sequence[str], characters: Mapping[str, str] | None = None
) -> list[PairwiseItem]:
    """Pairwise items from ``schemas.CandidateSet`` objects that hold a candidate of every model.

    ``characters``: dialogue id -> character profile text (optional). Sets missing a model are skipped.
    """
    items = []
    for cs in candidate_sets:
        replies = {c.model_id: c.text for c in cs.candidates if "empty" not in c.flags}
        if not all(m in replies for m in models):
            continue
        context = to_chat(cs.context, speakers=True)
        items.append(
            PairwiseItem(
                cs.id,
                context,
                (characters or {}).get(cs.dialogue_id, ""),
                getattr(cs, "language", "") or "",
                {m: replies[m] for m in models},
            )
        )
    return items


# ------------------------------------------------------------------------------ argilla objects


HIDDEN_METADATA: tuple[str, ...] = ("context_id", "target", "opponent", "model_1", "model_2")


def settings_spec(annotators: int = DEFAULT_ANNOTATORS) -> dict[str, Any]:
    """The pairwise dataset settings as plain data (what :func:`pairwise_settings` builds in Argilla)."""
    if annotators < 1:
        raise PairwiseError("annotators must be at least 1")
    return {
        "guidelines": GUIDELINES,
        "fields": [
            {"kind": "chat", "name": "context", "title": "Conversation · 对话", "required": True},
            {"kind": "text", "name": "character", "title": "Character profile · 角色简介", "required": False},
            {"kind": "text", "name": "reply_1", "title": "Reply 1 · 回复1", "required": True},
            {"kind": "text", "name": "reply_2", "title": "Reply 2 · 回复2", "required": True},
        ],
        "questions": [
            {
                "kind": "label",
                "name": QUESTION,
                "title": "Which reply plays the character better? · 哪个回复更好？",
                "labels": dict(LABELS),
                "required": True,
            },
            {"kind": "text", "name": "reason", "title": "Why? (optional) · 理由（可选）", "required": False},
        ],
        "metadata": [{"name": "language", "title": "Language", "visible_for_annotators": True}]
        + [{"name": name, "title": name, "visible_for_annotators": False} for name in HIDDEN_METADATA],
        "min_submitted": annotators,
    }


def pairwise_settings(annotators: int = DEFAULT_ANNOTATORS, client: Any | None = None) -> Any:
    """Argilla ``Settings`` from :func:`settings_spec`: conversation, character, two replies, one 1/tie/2
    question, N annotators per record. ``client``: the ``rg.Argilla`` the push uses (the SDK's default
    client when None)."""
    import argilla as rg

    spec = settings_spec(annotators)
    fields: list[Any] = []
    for f in spec["fields"]:
        if f["kind"] == "chat":
            fields.append(
                rg.ChatField(
                    name=f["name"], title=f["title"], use_markdown=False, required=f["required"], _client=client
                )
            )
        else:
            fields.append(
                rg.TextField(
                    name=f["name"],
                    title=f["title"],
                    use_markdown=f["name"] == "character",
                    required=f["required"],
                    client=client,
                )
            )
    questions: list[Any] = []
    for q in spec["questions"]:
        if q["kind"] == "label":
            questions.append(
                rg.LabelQuestion(
                    name=q["name"], title=q["title"], labels=q["labels"], required=q["required"], client=client
                )
            )
        else:
            questions.append(rg.TextQuestion(name=q["name"], title=q["title"], required=q["required"], client=client))
    metadata = [
        rg.TermsMetadataProperty(
            name=m["name"], title=m["title"], visible_for_annotators=m["visible_for_annotators"], client=client
        )
        for m in spec["metadata"]
    ]
    return rg.Settings(
        guidelines=spec["guidelines"],
        fields=fields,
        questions=questions,
        metadata=metadata,
        distribution=rg.TaskDistribution(min_submitted=spec["min_submitted"]),
        allow_extra_metadata=False,
    )


def to_argilla_record(pair: BlindPair) -> Any:
    """The Argilla record of a blinded pair (model names only in hidden metadata)."""
    import argilla as rg

    fields = {"context": pair.context, "reply_1": pair.reply_1, "reply_2": pair.reply_2}
    if pair.character:
        fields["character"] = pair.character
    return rg.Record(id=pair.record_id, fields=fields, metadata=pair.metadata())


def votes_from_records(records: Iterable[Any]) -> list[Vote]:
    """Submitted answers of pulled Argilla records (drafts and discarded answers are ignored)."""
    votes = []
    for rec in records:
        meta = dict(rec.metadata or {})
        for resp in rec.responses[QUESTION] if QUESTION in _response_names(rec) else []:
            status = getattr(resp.status, "value", resp.status)
            if status in (None, "submitted"):
                votes.append(Vote(str(resp.user_id), str(resp.value), meta))
    return votes


def _response_names(rec: Any) -> set[str]:
    try:
        return {r.question_name for r in rec.responses}
    except TypeError:  # pragma: no cover - older SDK shapes
        return set()


# ----------------------------------------------------------------------------- tallies + chart


def outcome(vote: Vote) -> Outcome:
    """Un-blind one vote into the target's win / tie / loss."""
    if vote.value == "tie":
        return "tie"
    if vote.value not in ("1", "2"):
        raise PairwiseError(f"unknown answer {vote.value!r} (expected 1, tie or 2)")
    chosen = vote.metadata["model_1"] if vote.value == "1" else vote.metadata["model_2"]
    return "win" if chosen == vote.metadata["target"] else "loss"


def tally(votes: Iterable[Vote], annotator_names: Mapping[str, str] | None = None) -> list[Tally]:
    """win/tie/loss per opponent (in first-seen order), overall and per annotator."""
    tallies: dict[str, Tally] = {}
    for v in votes:
        t = tallies.setdefault(v.metadata["opponent"], Tally(v.metadata["opponent"]))
        o = outcome(v)
        name = (annotator_names or {}).get(v.annotator, v.annotator)
        t.total[o] += 1
        t.by_annotator.setdefault(name, dict.fromkeys(OUTCOMES, 0))[o] += 1
    return list(tallies.values())


COLORS = {"win": "#4C9F70", "tie": "#B8B8B8", "loss": "#D1605E"}


def plot_win_tie_loss(tallies: Sequence[Tally], path: str | os.PathLike[str], target: str) -> Path:
    """Figure 4 as a PNG: the average bar per opponent, then each opponent's per-annotator bars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not tallies:
        raise PairwiseError("no submitted pairwise votes to plot")
    panels = 1 + len(tallies)
    fig, axes = plt.subplots(
        panels,
        1,
        figsize=(8, 1.2 + 0.45 * sum(max(1, len(t.by_annotator)) for t in tallies) + 0.5 * len(tallies)),
        squeeze=False,
    )

    def bars(ax: Any, labels: list[str], rates: list[dict[str, float]], title: str) -> None:
        left = [0.0] * len(labels)
        ys = list(range(len(labels)))[::-1]
        for o in OUTCOMES:
            widths = [100 * r[o] for r in rates]
            ax.barh(ys, widths, left=left, color=COLORS[o], label=o, height=0.6)
            for y, x0, w in zip(ys, left, widths, strict=True):
                if w >= 6:
                    ax.text(x0 + w / 2, y, f"{w:.0f}%", ha="center", va="center", fontsize=8)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_yticks(ys, labels)
        ax.set_xlim(0, 100)
        ax.set_title(title, fontsize=10)

    bars(
        axes[0][0],
        [f"vs {t.opponent} (n={t.n})" for t in tallies],
        [t.mean_annotator_rates() for t in tallies],
        f"{target}: win / tie / loss (mean over annotators)",
    )
    axes[0][0].legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), fontsize=8, ncol=3, frameon=False)
    for ax, t in zip(axes[1:, 0], tallies, strict=True):
        per = t.annotator_rates()
        bars(ax, list(per), list(per.values()), f"vs {t.opponent}: per annotator")
    axes[-1][0].set_xlabel("% of comparisons")
    fig.tight_layout()
    target_path = Path(path)
    tmp = target_path.with_name(f".{target_path.name}.tmp.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    os.replace(tmp, target_path)
    return target_path


# ------------------------------------------------------------------------------ push / report


@dataclass
class PairwisePush:
    dataset: str
    pushed: int
    contexts: int
    skipped_contexts: int


def push_pairwise(
    client: Any,
    store: Any,
    *,
    models: str | Sequence[str],
    dataset: str,
    workspace: str,
    annotators: int = DEFAULT_ANNOTATORS,
    seed: int = 0,
) -> PairwisePush:
    """Push blinded, order-randomised A-vs-B pairs for every candidate set holding all ``models``.

    Record ids are deterministic, so pushing again updates the same records instead of adding new ones.
    """
    from annotation.sync import ensure_dataset
    from schemas import CandidateSet, Character, Dialogue

    target, opponents = parse_models(models)
    sets = list(store.iter(CandidateSet))
    profiles: dict[str, str] = {}
    for cs in sets:
        dialogue = store.get(Dialogue, cs.dialogue_id)
        character = store.get(Character, dialogue.character_id) if dialogue else None
        if character is not None:
            profiles[cs.dialogue_id] = character.profile.get(dialogue.language)
    items = items_from_candidate_sets(sets, [target, *opponents], profiles)
    if not items:
        raise PairwiseError(f"no candidate set has replies from all of {', '.join([target, *opponents])}")
    pairs = blind_pairs(items, target, opponents, seed)
    ds = ensure_dataset(client, dataset, workspace, pairwise_settings(annotators, client=client))
    ds.records.log([to_argilla_record(p) for p in pairs])
    return PairwisePush(dataset, len(pairs), len(items), len(sets) - len(items))


def report_pairwise(
    client: Any, *, dataset: str, workspace: str, out_dir: str | os.PathLike[str]
) -> tuple[list[Tally], Path]:
    """win/tie/loss per opponent (and per annotator) from submitted answers, plus the Figure-4 PNG."""
    from annotation.sync import get_dataset

    ds = get_dataset(client, dataset, workspace)
    records = list(ds.records(with_responses=True))
    votes = votes_from_records(records)
    if not votes:
        raise PairwiseError(f"dataset {dataset!r} has no submitted pairwise answers yet")
    tallies = tally(votes, {str(u.id): u.username for u in client.users})
    target = votes[0].metadata["target"]
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    png = plot_win_tie_loss(tallies, Path(out_dir) / f"pairwise-{dataset}.png", target)
    return tallies, png

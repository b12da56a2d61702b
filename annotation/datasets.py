"""Argilla dataset settings and record builders for the Charm annotation tasks.

Two dataset types:

* **preference** (one record per :class:`schemas.CandidateSet`): one custom field ``compare`` (an HTML
  template, ``templates/compare.html``) that puts the six candidates ``A``–``F`` side by side in a grid
  right under the last turns of the conversation, with the target dimension as a badge and the character
  profile and earlier turns collapsed; candidates are in a per-record shuffled order (deterministic from
  the record id). Questions ``best`` and ``worst`` (single choice A–F) and optional per-dimension notes.
  Which model wrote which candidate lives only in metadata hidden from annotators. Texts in the field's
  value have ``&``, ``<`` and ``>`` escaped (the template decodes them): Argilla writes the record into an
  inline ``<script>``, which a reply containing ``</script>`` could otherwise end.
* **dialogue quality** (the dialogueQuality subset): given a context and a dimension the annotator writes
  a user query and a list of evaluation criteria.

Everything here is pure (no server calls) except that it builds ``argilla`` SDK objects.
"""

from __future__ import annotations

import hashlib
import html
import random
from dataclasses import dataclass
from importlib import resources
from typing import Any

import argilla as rg

from schemas import DIALOGUE_QUALITY_DIMENSIONS, LABELS, ROLE_REWARD_DIMENSIONS, CandidateSet, Message, to_chat

DISPLAY_LABELS: tuple[str, ...] = LABELS
ALL_DIMENSIONS: tuple[str, ...] = ROLE_REWARD_DIMENSIONS + DIALOGUE_QUALITY_DIMENSIONS
DEFAULT_MIN_SUBMITTED = 3
#: Hidden integer metadata: annotators this record needs when it differs from the dataset's ``min_submitted``
#: (``push --overlap``). Honoured by the embedded server (``server/launcher.py``, ``per_record_min_submitted``).
RECORD_MIN_SUBMITTED = "min_submitted"
#: Integer metadata, visible (annotators can sort on it): rank from ``annotate next --push`` (1 = first). The
#: embedded server's queue serves records that have one first, in rank order (``server/search_engine.py``).
PRIORITY = "priority"

DIMENSION_TITLES: dict[str, str] = {
    "knowledge_consistency": "Knowledge consistency · 知识一致性",
    "attractiveness": "Attractiveness · 吸引力",
    "consistency": "Consistency · 一致性",
    "knowledge": "Knowledge · 知识性",
    "behavior": "Behavior · 行为",
    "empathy": "Empathy · 共情",
    "diversity": "Diversity · 多样性",
    "fluency": "Fluency · 流畅性",
}

#: The preference dataset's one field: conversation tail + candidate grid (``templates/compare.html``).
COMPARE_FIELD = "compare"
#: Turns shown above the candidates; earlier ones are collapsed.
SHOWN_TURNS = 2

#: Hidden metadata: display label -> model id / original candidate label.
MODEL_KEY = "model_{label}"
SOURCE_KEY = "source_{label}"


def guidelines(kind: str = "preference") -> str:
    """The bilingual (zh/en) annotation guidelines, as Markdown."""
    name = {"preference": "preference.md", "dialogue_quality": "dialogue_quality.md"}[kind]
    return resources.files("annotation").joinpath("guidelines", name).read_text(encoding="utf-8")


def compare_template() -> str:
    """The HTML/JS template of the ``compare`` custom field (Argilla "advanced mode": it reads ``record``)."""
    return resources.files("annotation").joinpath("templates", "compare.html").read_text(encoding="utf-8")


def in_overlap(record_id: str, overlap: float) -> bool:
    """Whether ``record_id`` belongs to the share ``overlap`` (0..1) of records that several annotators label.

    A hash of the id, so the choice never changes between pushes (a resumed push agrees with the first)."""
    if overlap >= 1.0:
        return True
    digest = hashlib.sha256(f"overlap:{record_id}".encode()).digest()[:8]
    return int.from_bytes(digest, "big") / 2**64 < overlap


def preference_settings(
    min_submitted: int = DEFAULT_MIN_SUBMITTED,
    dimensions: tuple[str, ...] = ROLE_REWARD_DIMENSIONS,
    overlap: float = 1.0,
    priority: bool = False,
) -> rg.Settings:
    """Settings of a best/worst preference dataset (one record per candidate set).

    ``overlap`` < 1: records need one annotator, except the share ``overlap`` of them (see :func:`in_overlap`)
    that carry the hidden metadata :data:`RECORD_MIN_SUBMITTED` = ``min_submitted``. ``priority``: with the
    integer metadata :data:`PRIORITY` (``annotate next --push``)."""
    if min_submitted < 1:
        raise ValueError("min_submitted must be at least 1")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError("overlap must be between 0 and 1")
    fields: list[Any] = [
        rg.CustomField(
            name=COMPARE_FIELD,
            title="Compare the replies · 比较候选回复",
            template=compare_template(),
            advanced_mode=True,
        )
    ]
    label_options = {label: label for label in DISPLAY_LABELS}
    questions: list[Any] = [
        rg.LabelQuestion(
            name="best",
            title="Best reply · 最好的回复",
            labels=label_options,
            description="The candidate that is best on the target dimension. 按目标维度最好的候选。",
        ),
        rg.LabelQuestion(
            name="worst",
            title="Worst reply · 最差的回复",
            labels=label_options,
            description="The candidate that is worst on the target dimension; must differ from best. "
            "按目标维度最差的候选，不能与最好的相同。",
        ),
    ]
    questions += [
        rg.TextQuestion(name=f"note_{dim}", title=f"Note: {DIMENSION_TITLES.get(dim, dim)}", required=False)
        for dim in dimensions
    ]
    metadata: list[Any] = [
        rg.TermsMetadataProperty(name="target_dimension", title="Dimension"),
        rg.TermsMetadataProperty(name="language", title="Language"),
        rg.TermsMetadataProperty(name="candidate_set_id", visible_for_annotators=False),
        rg.TermsMetadataProperty(name="dialogue_id", visible_for_annotators=False),
    ]
    for label in DISPLAY_LABELS:
        metadata.append(rg.TermsMetadataProperty(name=MODEL_KEY.format(label=label), visible_for_annotators=False))
        metadata.append(rg.TermsMetadataProperty(name=SOURCE_KEY.format(label=label), visible_for_annotators=False))
    if overlap < 1.0:
        metadata.append(rg.IntegerMetadataProperty(name=RECORD_MIN_SUBMITTED, visible_for_annotators=False))
    if priority:
        metadata.append(priority_property())
    return rg.Settings(
        guidelines=guidelines("preference"),
        fields=fields,
        questions=questions,
        metadata=metadata,
        distribution=rg.TaskDistribution(min_submitted=1 if overlap < 1.0 else min_submitted),
        allow_extra_metadata=False,
    )


def priority_property() -> rg.IntegerMetadataProperty:
    """The :data:`PRIORITY` metadata property (visible, so annotators can sort their queue on it)."""
    return rg.IntegerMetadataProperty(name=PRIORITY, title="Priority (1 = annotate first)", visible_for_annotators=True)


def dialogue_quality_settings(min_submitted: int = 1) -> rg.Settings:
    """Settings of the dialogueQuality authoring dataset (write a user query + evaluation criteria)."""
    return rg.Settings(
        guidelines=guidelines("dialogue_quality"),
        fields=[
            rg.ChatField(name="context", title="Conversation · 对话", use_markdown=False),
            rg.TextField(name="dimension", title="Dimension · 维度"),
            rg.TextField(name="character", title="Character profile · 角色简介", use_markdown=True),
        ],
        questions=[
            rg.TextQuestion(name="user_query", title="User query · 用户提问", use_markdown=False),
            rg.TextQuestion(
                name="criteria", title="Evaluation criteria, one per line · 评价标准（每行一条）", use_markdown=False
            ),
        ],
        metadata=[
            rg.TermsMetadataProperty(name="target_dimension", title="Dimension"),
            rg.TermsMetadataProperty(name="language", title="Language"),
            rg.TermsMetadataProperty(name="dialogue_id", visible_for_annotators=False),
        ],
        distribution=rg.TaskDistribution(min_submitted=min_submitted),
        allow_extra_metadata=False,
    )


def chat_messages(turns: list[Message]) -> list[dict[str, str]]:
    """A dialogue as Argilla chat messages: roles user/assistant, speaker names in the text."""
    return to_chat(turns, speakers=True)


def display_order(record_id: str, labels: list[str]) -> list[str]:
    """The candidates' labels in the order shown as A, B, ... — a shuffle seeded by ``record_id``."""
    seed = int.from_bytes(hashlib.sha256(record_id.encode("utf-8")).digest()[:8], "big")
    order = list(labels)
    random.Random(seed).shuffle(order)
    return order


@dataclass(frozen=True)
class RecordContext:
    """What a record shows besides the candidate set: dimension, character profile, language."""

    dimension: str = ""
    character: str = ""
    language: str = ""
    character_name: str = ""
    profile: str = ""


@dataclass(frozen=True)
class JudgeSuggestion:
    """An LLM judge's best and worst candidate (the candidate set's own labels) with their 1-10 scores."""

    agent: str
    best: str
    worst: str
    best_score: float
    worst_score: float


def judge_suggestions(suggestion: JudgeSuggestion, order: list[str]) -> list[rg.Suggestion]:
    """Argilla suggestions pre-selecting the judge's best/worst as displayed (``order`` = shown order).

    Scores are the judge's 1-10 scores mapped to [0, 1] as support for the pick: best (s - 1) / 9,
    worst (10 - s) / 9, so a reply scored 10 suggested as best and one scored 1 suggested as worst both show 1.0.
    """
    shown = {source: display for display, source in zip(DISPLAY_LABELS, order, strict=False)}
    return [
        rg.Suggestion(
            "best",
            shown[suggestion.best],
            score=round((suggestion.best_score - 1) / 9, 4),
            agent=suggestion.agent,
            type="model",
        ),
        rg.Suggestion(
            "worst",
            shown[suggestion.worst],
            score=round((10 - suggestion.worst_score) / 9, 4),
            agent=suggestion.agent,
            type="model",
        ),
    ]


def preference_record(
    cset: CandidateSet,
    context: RecordContext,
    suggestion: JudgeSuggestion | None = None,
    min_submitted: int | None = None,
    priority: int | None = None,
) -> rg.Record:
    """One preference record for ``cset``; its id is the candidate set id, so re-pushing upserts.
    With ``suggestion`` the judge's best/worst come pre-selected (see :func:`judge_suggestions`);
    ``min_submitted`` sets this record's own annotator count (hidden metadata :data:`RECORD_MIN_SUBMITTED`);
    ``priority`` its rank from ``annotate next`` (metadata :data:`PRIORITY`)."""
    order = display_order(cset.id, [c.label for c in cset.candidates])
    compare: dict[str, Any] = {
        "dimension": DIMENSION_TITLES.get(context.dimension, context.dimension) or "—",
        "language": context.language,
        "character": _safe(context.character_name),
        "profile": _safe(context.profile),
        "turns": [{"role": t.role, "speaker": _safe(t.speaker), "text": _safe(t.text)} for t in cset.context],
        "shown_turns": SHOWN_TURNS,
        "candidates": [],
    }
    fields: dict[str, Any] = {COMPARE_FIELD: compare}
    metadata: dict[str, Any] = {
        "candidate_set_id": cset.id,
        "dialogue_id": cset.dialogue_id,
        "target_dimension": context.dimension or "unspecified",
        "language": context.language or "unknown",
    }
    if min_submitted is not None:
        metadata[RECORD_MIN_SUBMITTED] = int(min_submitted)
    if priority is not None:
        metadata[PRIORITY] = int(priority)
    for display, source in zip(DISPLAY_LABELS, order, strict=False):
        candidate = cset.by_label(source)
        compare["candidates"].append({"label": display, "text": _safe(candidate.text)})
        metadata[MODEL_KEY.format(label=display)] = candidate.model_id
        metadata[SOURCE_KEY.format(label=display)] = source
    suggestions = judge_suggestions(suggestion, order) if suggestion is not None else None
    return rg.Record(id=cset.id, fields=fields, metadata=metadata, suggestions=suggestions)


def _safe(text: str) -> str:
    """``&``, ``<``, ``>`` escaped, so no value can end the inline script Argilla puts the record in."""
    return html.escape(text, quote=False)


def dialogue_quality_record(record_id: str, turns: list[Message], dimension: str, context: RecordContext) -> rg.Record:
    """One dialogueQuality authoring record (``record_id`` should be deterministic, e.g. dialogue+dimension)."""
    return rg.Record(
        id=record_id,
        fields={
            "context": chat_messages(turns),
            "dimension": DIMENSION_TITLES.get(dimension, dimension),
            "character": context.character or "—",
        },
        metadata={
            "target_dimension": dimension,
            "language": context.language or "unknown",
            "dialogue_id": record_id.split(":", 1)[0],
        },
    )


def source_label(metadata: dict[str, Any], display_label: str) -> str | None:
    """Map a label the annotator chose (as displayed) back to the candidate set's own label."""
    return metadata.get(SOURCE_KEY.format(label=display_label))

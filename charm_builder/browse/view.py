"""What `show` and `preview` display: one dialogue with everything around it, read from the workspace.

``select_dialogues`` picks dialogues by id, character, language or at random; ``dialogue_view``
gathers the dialogue's character, persona, scene, candidate sets, annotation votes and cleaning
flags into plain dataclasses that the terminal and HTML renderers share.

Judge scores: the per-candidate LLM judge scores stored by ``charm-build judge`` (``JudgeScore``) fill
``CandidateView.scores``; without them the mapping stays empty
and the renderers leave the score column out.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field

from charm_builder.store import Workspace
from charm_kernel.errors import CharmError
from schemas import Annotation, CandidateSet, Character, Dialogue, JudgeScore, Scene, UserPersona


@dataclass(frozen=True)
class CandidateView:
    label: str
    model_id: str
    text: str
    flags: tuple[str, ...] = ()
    best_votes: int = 0
    worst_votes: int = 0
    scores: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class VoteView:
    annotator: str
    status: str
    best: str | None
    worst: str | None


@dataclass(frozen=True)
class CandidateSetView:
    id: str
    context_turns: int
    candidates: tuple[CandidateView, ...]
    votes: tuple[VoteView, ...]

    @property
    def submitted(self) -> int:
        return sum(v.status == "submitted" for v in self.votes)

    @property
    def score_names(self) -> list[str]:
        """Judge names with a score on any candidate, in first-seen order (the score columns)."""
        return list(dict.fromkeys(name for c in self.candidates for name in c.scores))


@dataclass(frozen=True)
class DialogueView:
    dialogue: Dialogue
    character_name: str
    character_category: str
    character_profile: str
    persona_name: str = ""
    persona_prompt: str = ""
    scene_title: str = ""
    scene_description: str = ""
    candidate_sets: tuple[CandidateSetView, ...] = ()

    @property
    def id(self) -> str:
        return self.dialogue.id

    @property
    def flags(self) -> list[str]:
        """Cleaning and refine notes recorded while the dialogue was produced."""
        return list(self.dialogue.provenance.notes)


def _scores(ws: Workspace, cset_id: str) -> dict[str, dict[str, float]]:
    """label -> {judge: score} from ``charm-build judge`` (parsed scores only)."""
    out: dict[str, dict[str, float]] = {}
    for s in ws.iter(JudgeScore, candidate_set_id=cset_id):
        if s.score is not None:
            out.setdefault(s.label, {})[s.judge] = s.score
    return out


def candidate_set_view(ws: Workspace, cset: CandidateSet) -> CandidateSetView:
    """Candidates with their best/worst vote counts (submitted annotations only) and judge scores."""
    annotations = list(ws.iter(Annotation, candidate_set_id=cset.id))
    submitted = [a for a in annotations if a.status == "submitted"]
    best, worst = Counter(a.best for a in submitted), Counter(a.worst for a in submitted)
    scores = _scores(ws, cset.id)
    candidates = tuple(
        CandidateView(
            label=c.label,
            model_id=c.model_id,
            text=c.text,
            flags=tuple(c.flags),
            best_votes=best[c.label],
            worst_votes=worst[c.label],
            scores=dict(scores.get(c.label, {})),
        )
        for c in cset.candidates
    )
    votes = tuple(
        VoteView(a.annotator, a.status, a.best, a.worst) for a in sorted(annotations, key=lambda a: a.annotator)
    )
    return CandidateSetView(cset.id, len(cset.context), candidates, votes)


def dialogue_view(ws: Workspace, dialogue: Dialogue) -> DialogueView:
    """Everything ``show``/``preview`` display about one dialogue."""
    lang = dialogue.language
    character = ws.get(Character, dialogue.character_id)
    persona = ws.get(UserPersona, dialogue.user_id) if dialogue.user_id else None
    scene = ws.get(Scene, dialogue.scene_id) if dialogue.scene_id else None
    sets = tuple(candidate_set_view(ws, s) for s in ws.iter(CandidateSet, dialogue_id=dialogue.id))
    return DialogueView(
        dialogue=dialogue,
        character_name=character.name.get(lang) if character else dialogue.character_id,
        character_category=character.sub_category if character else "",
        character_profile=character.profile.get(lang) if character else "",
        persona_name=persona.name if persona else "",
        persona_prompt=persona.prompt.get(lang) if persona else "",
        scene_title=scene.title.get(lang) if scene else "",
        scene_description=scene.description.get(lang) if scene else "",
        candidate_sets=sets,
    )


def _character_ids(ws: Workspace, name: str) -> list[str]:
    wanted = name.strip().casefold()
    ids = [
        c.id
        for c in ws.iter(Character)
        if wanted in {c.id.casefold(), *(n.casefold() for n in (c.name.zh, c.name.en) if n)}
    ]
    if not ids:
        raise CharmError(f"no character named {name!r} in workspace {ws.root} (give its zh or en name, or its id)")
    return ids


def _by_id(ws: Workspace, ident: str) -> Dialogue:
    dialogue = ws.get(Dialogue, ident)
    if dialogue is None and (cset := ws.get(CandidateSet, ident)) is not None:
        dialogue = ws.get(Dialogue, cset.dialogue_id)
    if dialogue is None:
        matches = [i for i in ws.ids(Dialogue) if i.startswith(ident)] if len(ident) >= 6 else []
        if len(matches) == 1:
            dialogue = ws.get(Dialogue, matches[0])
    if dialogue is None:
        raise CharmError(f"no dialogue or candidate set with id {ident!r} in workspace {ws.root}")
    return dialogue


def select_dialogues(
    ws: Workspace,
    ident: str | None = None,
    *,
    character: str | None = None,
    language: str | None = None,
    sample: int | None = None,
    seed: int | None = None,
    limit: int | None = None,
) -> list[Dialogue]:
    """Dialogues by id (a dialogue or candidate set id, or a unique dialogue-id prefix), else filtered by
    character and language, then ``sample`` drawn at random (``seed`` makes it repeatable), then cut to
    ``limit``. Raises ``CharmError`` when nothing matches."""
    if ident:
        return [_by_id(ws, ident)]
    if language is not None and language not in ("zh", "en"):
        raise CharmError(f"--language must be zh or en, not {language!r}")
    if sample is not None and sample < 1:
        raise CharmError("--random must be at least 1")
    where: dict[str, str] = {"language": language} if language else {}
    ids = _character_ids(ws, character) if character else [None]
    found = [d for cid in ids for d in ws.iter(Dialogue, **where, **({"character_id": cid} if cid else {}))]
    if sample is not None:
        found = random.Random(seed).sample(found, min(sample, len(found)))
    if limit is not None:
        found = found[:limit]
    if not found:
        what = ", ".join(f"{k}={v}" for k, v in (("character", character), ("language", language)) if v)
        raise CharmError(f"no dialogues in workspace {ws.root}" + (f" with {what}" if what else ""))
    return found

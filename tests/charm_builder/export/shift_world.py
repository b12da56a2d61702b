"""A workspace built for shift tests: known personas (tags), characters (categories) and context lengths.

4 characters (games/fiction, novels/fiction, scientists/real_person, custom/original) x 4 personas
(two zh-culture, one western, one japanese) = 16 dialogues of 6 turns. Each dialogue has three
candidate sets, cut after turn 1, 3 and 5 (context lengths 1, 3, 5), so every length holds a
third of the sets and each long context extends the shorter ones of its dialogue. Every set has
three submitted annotations: best A, A, B and worst F, F, F (agreement 5/6). Dimensions cycle
through knowledge_consistency, attractiveness and none by dialogue.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import schemas as s
from charm_builder.store import Workspace
from tests.charm_builder.export.helpers import LABELS, character
from tests.helpers import paper_candidates

USERS: dict[str, tuple[str, ...]] = {
    "mei": ("student", "zh-culture"),
    "li": ("elderly", "zh-culture"),
    "tom": ("adult", "western"),
    "kenji": ("teen", "japanese"),
}
CHARACTERS: dict[str, str] = {"link": "games", "holmes": "novels", "curie": "scientists", "nova": "custom"}
DIMENSIONS = ("knowledge_consistency", "attractiveness", None)
VOTES = [("A", "F"), ("A", "F"), ("B", "F")]


@dataclass
class ShiftWorld:
    users: dict[str, s.UserPersona] = field(default_factory=dict)
    chars: dict[str, s.Character] = field(default_factory=dict)
    dialogues: dict[str, s.Dialogue] = field(default_factory=dict)  # "char/user" -> dialogue
    sets: dict[str, s.CandidateSet] = field(default_factory=dict)  # "char/user/len" -> set

    def user_of(self, dialogue_id: str) -> str:
        return next(k.split("/")[1] for k, d in self.dialogues.items() if d.id == dialogue_id)

    def char_of(self, character_id: str) -> str:
        return next(k for k, c in self.chars.items() if c.id == character_id)


def build_shift_workspace(ws: Workspace) -> ShiftWorld:
    w = ShiftWorld()
    for name, tags in USERS.items():
        w.users[name] = s.UserPersona(
            name=name,
            prompt={"en": f"You are {name}, a {' '.join(tags)} person.", "zh": f"你是{name}。"},
            tags=list(tags),
        )
    for name, sub in CHARACTERS.items():
        w.chars[name] = character(name.title(), sub, f"你是{name}。", f"You are {name.title()}.")
    ws.upsert_many([*w.users.values(), *w.chars.values()])
    i = 0
    for cname, char in w.chars.items():
        for uname, user in w.users.items():
            lang = "zh" if "zh-culture" in USERS[uname] else "en"
            turns = [
                s.Message(
                    role="user" if k % 2 == 0 else "character",
                    speaker=uname if k % 2 == 0 else cname,
                    text=f"{cname}/{uname} turn {k}",
                )
                for k in range(6)
            ]
            dlg = s.Dialogue(
                character_id=char.id, user_id=user.id, language=lang, turns=turns, target_dimension=DIMENSIONS[i % 3]
            )  # type: ignore[arg-type]
            i += 1
            w.dialogues[f"{cname}/{uname}"] = dlg
            ws.upsert(dlg)
            for n in (1, 3, 5):
                cset = s.CandidateSet(
                    dialogue_id=dlg.id,
                    context=turns[:n],
                    candidates=paper_candidates([f"{cname}/{uname}/{n} reply {lab}" for lab in LABELS]),
                )
                w.sets[f"{cname}/{uname}/{n}"] = cset
                ws.upsert(cset)
                ws.upsert_many(
                    s.Annotation(candidate_set_id=cset.id, annotator=f"ann{a}", best=b, worst=wst)  # type: ignore[arg-type]
                    for a, (b, wst) in enumerate(VOTES)
                )
    return w

"""A seeded workspace (about 150 dialogues) that exercises every export rule at once, for the streaming tests.

It has: dialogues in both languages over three target dimensions (and none), personas with culture tags,
contexts repeated across dialogues (context-overlap drops), candidate sets without annotations, ties,
best == worst, flagged (empty/duplicate) and identical replies, synthetic annotations, judge scores,
dialogueQuality annotations with a translation, and a dialogue without candidate set. Everything goes
through the store's API, so ids are content-derived and the same seed gives the same workspace.

``golden_rows.json`` holds (as row digests, in order) what the export produced for this workspace before it streamed
(``python -m tests.charm_builder.export.streaming_fixture`` rewrites it: only do that for a deliberate change of the
export's content).
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path
from typing import Any

import schemas as s
from charm_builder.store import Workspace
from tests.helpers import PAPER_MODELS, paper_candidates

LABELS = "ABCDEF"
WORDS = ["moon", "river", "tea", "storm", "letter", "garden", "castle", "winter", "dragon", "song", "月亮", "茶"]
GOLDEN = Path(__file__).with_name("golden_rows.json")

# name -> ExportOptions keyword arguments; each is exported and compared row by row.
OPTION_SETS: dict[str, dict[str, Any]] = {
    "default": {},
    "size_all_pairs": {"size": 10, "pairs": "all", "grpo_fraction": 0.3, "seed": 3},
    "by_character": {
        "split_by": "character",
        "min_annotators": 2,
        "train_min_annotators": 2,
        "size": 2,
        "dq_per_language": 1,
        "grpo_fraction": 0.5,
    },
    "synthetic_judge": {"include_synthetic": True, "judge": "judge-b", "size": 8, "dq_per_language": 2},
    "user_shift": {"shift": "user", "holdout": "western", "shift_embeddings": False, "size": 8},
    "dialogue_shift": {"shift": "dialogue", "shift_embeddings": False, "size": 8},
}


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n))


def build_streaming_workspace(ws: Workspace, seed: int = 0, n_dialogues: int = 150) -> None:
    """Fill ``ws`` (see the module docstring)."""
    rng = random.Random(seed)
    subs = ["games", "novels", "scientists", "custom", "anime"]
    chars = [
        s.Character(
            name={"en": f"Hero {i}", "zh": f"英雄{i}"},
            sub_category=subs[i],
            profile={"en": f"profile {i}"},
            system_prompt={"zh": f"你是英雄{i}。" if i != 1 else None, "en": f"You are hero {i}." if i != 3 else None},
        )
        for i in range(len(subs))
    ]
    users = [
        s.UserPersona(name=f"user{i}", prompt={"en": f"persona {i}", "zh": f"用户{i}"}, tags=[tag, "curious"])
        for i, tag in enumerate(["western", "zh-culture", "japanese", "western"])
    ]
    ws.upsert_many([*chars, *users])
    dims = ["knowledge_consistency", "attractiveness", None]
    records: list[s.Record] = []
    previous_turns: list[list[s.Message]] = []
    for i in range(n_dialogues):
        char = chars[i % len(chars)]
        lang = "zh" if i % 3 == 0 else "en"
        n_turns = 3 if i % 4 else 5
        if previous_turns and i % 17 == 5:  # the same context under another character: a context overlap
            turns = previous_turns[rng.randrange(len(previous_turns))]
        else:
            turns = [
                s.Message(
                    role="user" if t % 2 == 0 else "character",
                    speaker="Ann" if t % 2 == 0 else char.name.en or "",
                    text=f"{i}-{t} {_text(rng, 4)}",
                )
                for t in range(n_turns)
            ]
            previous_turns.append(turns)
        dlg = s.Dialogue(
            character_id=char.id,
            user_id=users[i % len(users)].id,
            language=lang,
            target_dimension=dims[i % 3],
            turns=turns,
            provenance={
                "models": {"user": "sim-user", "character": PAPER_MODELS[i % 2]},
                "params": {"temperature": 0.8, "planned_turns": n_turns},
            },
        )
        records.append(dlg)
        if i % 29 == 7:
            continue  # a dialogue without candidate set
        texts = [f"{i}{lab} {_text(rng, 3)}" for lab in LABELS]
        flags: dict[str, list[str]] = {}
        if i % 11 == 3:
            texts[1] = texts[0]  # two identical replies
        if i % 13 == 4:
            flags[LABELS[rng.randrange(6)]] = ["empty"]
        if i % 7 == 2:
            flags[LABELS[rng.randrange(6)]] = ["duplicate", "degenerate"]
        cset = s.CandidateSet(
            dialogue_id=dlg.id,
            context=turns,
            candidates=paper_candidates(texts, flags),
        )
        records.append(cset)
        n_ann = [0, 1, 2, 3, 3, 3, 4][rng.randrange(7)]
        best, worst = rng.sample(LABELS, 2)
        for a in range(n_ann):
            b, w = (best, worst) if rng.random() < 0.7 else tuple(rng.sample(LABELS, 2))
            status = "submitted" if rng.random() < 0.9 else "draft"
            records.append(
                s.Annotation(candidate_set_id=cset.id, annotator=f"ann{(i + a) % 6}", status=status, best=b, worst=w)
            )
        if i % 5 == 0:
            b, w = rng.sample(LABELS, 2)
            records.append(
                s.Annotation(candidate_set_id=cset.id, annotator="judge:judge-a", source="synthetic", best=b, worst=w)
            )
        for judge, version in (("judge-a", "v2"), ("judge-b", "v2")):
            if (i + len(judge)) % 3:
                for lab in LABELS:
                    score = None if rng.random() < 0.1 else float(rng.randint(1, 10))
                    records.append(
                        s.JudgeScore(
                            candidate_set_id=cset.id, label=lab, judge=judge, prompt_version=version, score=score
                        )
                    )
    ws.upsert_many(records)
    _add_dq(ws, [r for r in records if isinstance(r, s.Dialogue)])


def _add_dq(ws: Workspace, dialogues: list[s.Dialogue]) -> None:
    from charm_builder.export import add_dq_annotation

    dims = ["consistency", "knowledge", "behavior", "empathy", "diversity", "fluency"]
    for k, dlg in enumerate(dialogues[:40:3]):
        dq_id = add_dq_annotation(
            ws,
            dialogue_id=dlg.id,
            dimension=dims[k % 6],
            language=dlg.language,
            user_query=f"query {k}",
            criteria=[f"criterion {k}", "stays in role"],
            annotator="writer",
        )
        if k % 4 == 0:
            other = "en" if dlg.language == "zh" else "zh"
            add_dq_annotation(
                ws,
                dialogue_id=dlg.id,
                dimension=dims[k % 6],
                language=other,
                user_query=f"translated query {k}",
                criteria=[f"translated criterion {k}"],
                annotator="translator",
                context=[{"role": "user", "speaker": "Ann", "text": f"translated {k}"}],
                system_prompt=f"translated prompt {k}",
                source_id=dq_id,
            )


# Columns added after the golden rows were taken, left out of a row's digest while null (majority votes).
ADDED_COLUMNS = ("label_confidence",)


def row_digest(row: dict[str, Any]) -> str:
    """A row as ``id:digest`` (16 hex digits of SHA-256 over its canonical JSON): equal iff every field is."""
    row = {k: v for k, v in row.items() if not (k in ADDED_COLUMNS and v is None)}
    blob = json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return f"{row['id']}:{hashlib.sha256(blob.encode()).hexdigest()[:16]}"


def export_rows(ws_dir: Path, out: Path, options: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
    """Export with ``options`` as JSON Lines: every row's digest (in file order), manifests and card blocks."""
    from charm_builder.export import ExportOptions, export_workspace
    from charm_builder.export.card import parse_card

    with Workspace.open(ws_dir) as ws:
        export_workspace(ws, out, ExportOptions(fmt="jsonl", **options), overwrite=True, **kwargs)
    result: dict[str, Any] = {}
    top = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    for subset in top["subsets"]:
        folder = out / subset
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
        charm = parse_card(folder / "README.md")["charm"]
        charm.pop("created_by", None)
        rows = {
            split: [
                row_digest(json.loads(line))
                for line in (folder / f"{split}.jsonl").read_text(encoding="utf-8").splitlines()
            ]
            for split in manifest["counts"]
        }
        result[subset] = {"counts": manifest["counts"], "ids": manifest["ids"], "charm": charm, "rows": rows}
    result["_skipped"] = top["skipped"]
    return result


def golden_from_workspace() -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        ws_dir = Path(tmp) / "ws"
        with Workspace.create(ws_dir) as ws:
            build_streaming_workspace(ws)
        return {name: export_rows(ws_dir, Path(tmp) / name, opts) for name, opts in OPTION_SETS.items()}


if __name__ == "__main__":
    GOLDEN.write_text(
        json.dumps(golden_from_workspace(), ensure_ascii=False, indent=0, sort_keys=True) + "\n", encoding="utf-8"
    )
    print(f"wrote {GOLDEN}", file=sys.stderr)

"""Tiny preference and roleReward rows (Sherlock Holmes), and training a reward model through the command line."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from charm_apps.train import app
from training.rm.model import MARKER


def train_rm(data: Path, out: Path, model: Path, *args: str) -> dict:
    """Run ``charm-train rm -d DATA -o OUT --model MODEL ARGS -q`` in-process, assert it succeeded and
    return the run's charm_rm.json."""
    res = CliRunner().invoke(app, ["rm", "-d", str(data), "-o", str(out), "--model", str(model), *args, "-q"])
    assert res.exit_code == 0, res.output
    return json.loads((out / MARKER).read_text())


def train_one_margin_step(data: Path, out: Path, model: Path, batch_size: int, *args: str) -> tuple[dict, dict]:
    """One margin-loss step (``ARGS`` pick the margin) over a batch of ``batch_size`` pairs via :func:`train_rm`;
    returns the run's charm_rm.json and that step's logged metrics."""
    meta = train_rm(
        data,
        out,
        model,
        "--loss",
        "margin",
        *args,
        "--batch-size",
        str(batch_size),
        "--max-steps",
        "1",
        "--max-length",
        "128",
        "--logging-steps",
        "1",
    )
    return meta, json.loads((out / "train_log.jsonl").read_text().splitlines()[0])


CHARACTER = "You are Sherlock Holmes, the consulting detective of 221B Baker Street. Stay in character."

QUERIES = [
    "Who are you?",
    "What do you make of this muddy boot?",
    "Can you help me find my lost dog?",
    "Where do you live?",
    "What is your opinion of Scotland Yard?",
    "Do you play any instrument?",
    "Who is your closest friend?",
    "What do you do when you are bored?",
]

GOOD = [
    "Sherlock Holmes, consulting detective. I observe what others merely see.",
    "The red clay on the heel says you walked from Brixton this morning, my friend.",
    "Describe the dog, the collar and the last street you saw it in; the game is afoot.",
    "221B Baker Street, with Mrs Hudson below and a violin by the window.",
    "Lestrade is energetic but quite without imagination, I fear.",
    "The violin. It helps me think when a case is three pipes deep.",
    "Dr John Watson, the one fixed point in a changing age.",
    "I crave mental exaltation; give me problems, give me work.",
]

BAD = ["As an AI language model, I cannot help with that request."] * len(QUERIES)


def preference_rows(n: int = 8) -> list[dict]:
    rows = []
    for i in range(n):
        q, good, bad = QUERIES[i % len(QUERIES)], GOOD[i % len(GOOD)], BAD[i % len(BAD)]
        rows.append(
            {
                "prompt": [{"role": "system", "content": CHARACTER}, {"role": "user", "content": q}],
                "chosen": [{"role": "assistant", "content": good}],
                "rejected": [{"role": "assistant", "content": bad}],
                "margin_agreement": 0.5 + 0.05 * i,
                "margin_judge": float(i % 3),
            }
        )
    return rows


def role_reward_rows() -> list[dict]:
    rows = []
    for i, (dim, lang) in enumerate(
        [(d, lang) for d in ("knowledge_consistency", "attractiveness") for lang in ("zh", "en")] * 2
    ):
        q = QUERIES[i % len(QUERIES)]
        rows.append(
            {
                "id": f"rr-{i}",
                "context": [{"role": "user", "content": q}],
                "system_prompt": CHARACTER,
                "chosen": GOOD[i % len(GOOD)],
                "rejected": BAD[0],
                "dimension": dim,
                "language": lang,
            }
        )
    return rows

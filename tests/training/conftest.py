"""Shared fixtures: tiny preference / roleReward datasets and a tiny random Llama with the real tokenizer."""

from __future__ import annotations

from pathlib import Path

import pytest

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


@pytest.fixture()
def pref_export(tmp_path: Path) -> Path:
    """A preferenceTraining export: DatasetDict with `train` pairs and a prompt-only `grpo` split."""
    from datasets import Dataset, DatasetDict

    rows = preference_rows(8)
    grpo = Dataset.from_list([{"prompt": r["prompt"]} for r in rows[:2]])
    path = tmp_path / "preferenceTraining"
    DatasetDict({"train": Dataset.from_list(rows), "grpo": grpo}).save_to_disk(str(path))
    return path


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


@pytest.fixture()
def role_reward_export(tmp_path: Path) -> Path:
    from datasets import Dataset

    path = tmp_path / "roleReward"
    Dataset.from_list(role_reward_rows()).save_to_disk(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model_dir(tiny_llama: Path) -> Path:
    """The shared tiny random Llama (tests/conftest.py), under the name the training tests use."""
    return tiny_llama

"""A tiny preferenceTraining export as the export stage writes it, with a `grpo` prompt split."""

from __future__ import annotations

from pathlib import Path

CHARACTER = "You are Sherlock Holmes, the consulting detective of 221B Baker Street. Stay in character."

QUERIES = [
    "Who are you?",
    "What do you make of this muddy boot?",
    "Where do you live?",
    "Do you play any instrument?",
    "Who is your closest friend?",
    "What do you do when bored?",
]

GOOD = [
    "Sherlock Holmes, consulting detective. I observe what others merely see.",
    "The red clay on the heel says you walked from Brixton this morning.",
    "221B Baker Street, with Mrs Hudson below and a violin by the window.",
    "The violin. It helps me think when a case is three pipes deep.",
    "Dr John Watson, the one fixed point in a changing age.",
    "I crave mental exaltation; give me problems, give me work.",
]

BAD = "As an AI language model, I cannot help with that request."


def grpo_prompt(i: int) -> list[dict[str, str]]:
    return [
        {"role": "system", "content": CHARACTER},
        {"role": "user", "content": "Good evening, Mr Holmes."},
        {"role": "assistant", "content": "Good evening. Sit down, you look tired."},
        {"role": "user", "content": QUERIES[i % len(QUERIES)]},
    ]


def write_export(path: Path, n_grpo: int = 4) -> Path:
    """preferenceTraining export as the export stage writes it: `train` pairs and a `grpo` prompt split."""
    from datasets import Dataset, DatasetDict

    train = [
        {
            "prompt": [{"role": "system", "content": CHARACTER}, {"role": "user", "content": q}],
            "chosen": [{"role": "assistant", "content": g}],
            "rejected": [{"role": "assistant", "content": BAD}],
        }
        for q, g in zip(QUERIES, GOOD, strict=True)
    ]
    grpo = [
        {
            "id": f"g{i}",
            "dialogue_id": f"d{i}",
            "character_id": "sherlock",
            "language": "en",
            "dimension": "attractiveness",
            "prompt": grpo_prompt(i),
        }
        for i in range(n_grpo)
    ]
    DatasetDict({"train": Dataset.from_list(train), "grpo": Dataset.from_list(grpo)}).save_to_disk(str(path))
    return path

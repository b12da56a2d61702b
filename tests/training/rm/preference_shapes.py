"""Small preference files in the exact shapes public datasets are published in.

* Skywork/Skywork-Reward-Preference-80K-v0.2 (parquet, split ``train``): columns ``chosen``, ``rejected``
  (whole conversations: lists of ``{content, role}``, the prompt being their shared beginning) and
  ``source``; no ``prompt`` column.
* HuggingFaceH4/ultrafeedback_binarized (splits ``train_prefs``/``test_prefs``): ``prompt`` (string),
  ``prompt_id``, ``chosen`` / ``rejected`` ([user, assistant] conversations), ``messages`` (= chosen),
  ``score_chosen``, ``score_rejected``.
* TRL's explicit-prompt formats: ``prompt`` + string ``chosen``/``rejected`` (standard) and ``prompt``
  message list + one-assistant-message ``chosen``/``rejected`` (conversational).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path


def _msg(role: str, content: str) -> dict[str, str]:
    return {"content": content, "role": role}  # the published struct order: content, role


MATH_Q = "What is 17 * 24? Show your work."
CODE_Q = "Write a Python function that reverses a string."
CHAT_Q1 = "I have a job interview tomorrow and I'm nervous."
CHAT_A1 = "That's completely normal. What kind of role is it for?"
CHAT_Q2 = "A junior data analyst position. Any tips?"


def skywork_rows() -> list[dict]:
    """Four pairs: math, code, a two-turn chat, and a pair with a system message."""
    return [
        {
            "chosen": [_msg("user", MATH_Q), _msg("assistant", "17 * 24 = 17 * 20 + 17 * 4 = 340 + 68 = 408.")],
            "rejected": [_msg("user", MATH_Q), _msg("assistant", "17 * 24 = 398.")],
            "source": "magpie_ultra",
        },
        {
            "chosen": [_msg("user", CODE_Q), _msg("assistant", "def reverse(s: str) -> str:\n    return s[::-1]")],
            "rejected": [_msg("user", CODE_Q), _msg("assistant", "Use a loop.")],
            "source": "magpie_pro_llama3.1",
        },
        {
            "chosen": [
                _msg("user", CHAT_Q1),
                _msg("assistant", CHAT_A1),
                _msg("user", CHAT_Q2),
                _msg("assistant", "Review SQL joins, prepare one project story, and ask about their data stack."),
            ],
            "rejected": [
                _msg("user", CHAT_Q1),
                _msg("assistant", CHAT_A1),
                _msg("user", CHAT_Q2),
                _msg("assistant", "Just relax."),
            ],
            "source": "helpsteer2",
        },
        {
            "chosen": [
                _msg("system", "You are a concise assistant."),
                _msg("user", "Name the capital of France."),
                _msg("assistant", "Paris."),
            ],
            "rejected": [
                _msg("system", "You are a concise assistant."),
                _msg("user", "Name the capital of France."),
                _msg("assistant", "The capital of France is a city in Europe that many people visit every year."),
            ],
            "source": "offsetbias",
        },
    ]


def ultrafeedback_rows() -> list[dict]:
    """Three pairs as HuggingFaceH4/ultrafeedback_binarized publishes them."""
    items = [
        ("How do I boil an egg?", "Place the egg in boiling water for 9 minutes, then cool it.", "Eggs are food.", 9.0),
        ("Translate 'good morning' to Spanish.", "Buenos días.", "Buenas noches.", 10.0),
        ("Give a synonym for 'happy'.", "Joyful.", "Sad.", 8.5),
    ]
    rows = []
    for prompt, good, bad, score in items:
        chosen = [_msg("user", prompt), _msg("assistant", good)]
        rows.append(
            {
                "prompt": prompt,
                "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
                "chosen": chosen,
                "rejected": [_msg("user", prompt), _msg("assistant", bad)],
                "messages": chosen,
                "score_chosen": score,
                "score_rejected": score - 4.0,
            }
        )
    return rows


def write_parquet(rows: list[dict], path: Path) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def write_jsonl(rows: list[dict], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    return path

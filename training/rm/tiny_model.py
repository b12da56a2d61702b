"""A tiny random Llama (2 layers, hidden size 32) with SmolLM2's real tokenizer and chat template.

It trains and scores in milliseconds on a CPU, so the tests of the training loops (``tests/conftest.py``)
and the simulations in ``benchmarks/`` (e.g. ``bench_active.py``) need not load the real model. It learns
surface kinds (the wrong language, an off-topic turn) in a few dozen steps, not names or facts.
"""

from __future__ import annotations

from pathlib import Path


def save_tiny_llama(path: Path, seed: int = 0) -> Path:
    """Write the tiny model and the offline SmolLM2 tokenizer to ``path`` (weights drawn with ``seed``)."""
    import torch
    from transformers import AutoTokenizer, LlamaConfig, LlamaForCausalLM

    from charm_builder.offline_models import offline_model_dir

    tok = AutoTokenizer.from_pretrained(offline_model_dir())
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=1,
        max_position_embeddings=512,
        tie_word_embeddings=True,
        pad_token_id=tok.pad_token_id,
        eos_token_id=tok.eos_token_id,
        bos_token_id=tok.bos_token_id,
    )
    torch.manual_seed(seed)
    LlamaForCausalLM(cfg).save_pretrained(path)
    tok.save_pretrained(path)
    return path

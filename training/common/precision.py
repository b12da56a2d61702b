"""Training precision: ``--precision auto|bf16|fp32`` (``charm-train rm`` and ``grpo``)."""

from __future__ import annotations


def use_bf16(precision: str) -> bool:
    """bf16 mixed precision? ``auto``: on a CUDA GPU that supports bfloat16, else float32."""
    if precision != "auto":
        return precision == "bf16"
    import torch

    return torch.cuda.is_available() and torch.cuda.is_bf16_supported()

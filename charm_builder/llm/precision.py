"""Which floating-point precision local models run in.

``auto`` means bfloat16 where the CPU computes it natively (x86 AVX512-BF16 or AMX, Arm BF16), else
float32; see docs/design.md#local-precision (figures in benchmarks/README.md).
"""

from __future__ import annotations

import functools
import re
from pathlib import Path
from typing import Literal

Precision = Literal["auto", "fp32", "bf16"]
"""The values of ``charm-train --precision`` too."""

_NATIVE_BF16_FLAGS = {"avx512_bf16", "amx_bf16", "bf16"}  # x86 AVX512 / AMX; "bf16" is Arm's feature name


@functools.cache
def native_bf16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether the CPU advertises native bfloat16 arithmetic (Linux; other systems: False)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = set()
    for line in text.splitlines():
        if line.lower().startswith(("flags", "features")):
            flags.update(re.split(r"\s+", line.split(":", 1)[-1].strip()))
    return bool(flags & _NATIVE_BF16_FLAGS)


def resolve(precision: Precision) -> Literal["fp32", "bf16"]:
    """``auto`` -> bf16 on a CPU with native bfloat16, else fp32; others unchanged."""
    if precision == "auto":
        return "bf16" if native_bf16() else "fp32"
    return precision

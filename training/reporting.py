"""Files every evaluation run writes (eval-rm, eval-dq, eval-ce), so `charm-train compare` can read any."""

from __future__ import annotations

import csv
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def write_table_files(
    folder: Path, markdown: str, header: list[str], cells: list[Any], method: str, summary: dict[str, Any]
) -> None:
    """``results.md``, ``results.csv`` (one row per method) and ``summary.json`` into ``folder``."""
    (folder / "results.md").write_text(markdown, encoding="utf-8")
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Method", *header])
        writer.writerow([method, *cells])
    (folder / "summary.json").write_text(
        json.dumps({"method": method, **summary}, indent=2, ensure_ascii=False), encoding="utf-8"
    )


def write_atomically(out_dir: str | os.PathLike[str], fill: Callable[[Path], None]) -> Path:
    """Let ``fill`` write a run's files into a temporary folder next to ``out_dir``, then move them in.

    A run that fails while writing leaves ``out_dir`` as it was (no half-written report); files of an
    earlier run that this one does not write (e.g. ``llm_cache.db``) are kept.
    """
    target = Path(out_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    try:
        fill(tmp)
        if target.exists():
            for f in sorted(tmp.iterdir()):
                os.replace(f, target / f.name)
        else:
            tmp.rename(target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def write_jsonl(path: Path, records: Any) -> None:
    """One JSON object per line (UTF-8, non-ASCII kept)."""
    with path.open("w", encoding="utf-8") as fh:
        for r in records:
            fh.write(json.dumps(r, ensure_ascii=False) + "\n")

"""Files every evaluation run writes (eval-rm and eval-dq), so `charm-train compare` can read either."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def write_table_files(folder: Path, markdown: str, header: list[str], cells: list[Any], method: str,
                      summary: dict[str, Any]) -> None:
    """``results.md``, ``results.csv`` (one row per method) and ``summary.json`` into ``folder``."""
    (folder / "results.md").write_text(markdown, encoding="utf-8")
    with (folder / "results.csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["Method", *header])
        writer.writerow([method, *cells])
    (folder / "summary.json").write_text(json.dumps({"method": method, **summary}, indent=2, ensure_ascii=False),
                                         encoding="utf-8")  # fmt: skip

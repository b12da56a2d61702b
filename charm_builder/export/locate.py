"""One rule for every command that reads an export: give it the export root or the subset folder.

``charm-build export --out EXPORT`` writes ``EXPORT/{roleReward,dialogueQuality,preferenceTraining}``;
``charm-train rm --data EXPORT`` and ``--data EXPORT/preferenceTraining`` mean the same thing.
"""

from __future__ import annotations

import json
from pathlib import Path

from charm_builder.export.card import MANIFEST
from charm_kernel.errors import CharmError


def _manifest(folder: Path) -> dict:
    try:
        data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def subset_path(path: str | Path, subset: str, option: str = "--data") -> Path:
    """The folder (or file) holding ``subset`` when ``path`` is an export root or that subset itself.

    * an export root (``manifest.json`` of kind ``export``, or a folder with a ``subset`` sub-folder)
      -> ``path/subset``; a root without that subset is a one-line error naming what it has;
    * a subset folder of another subset (e.g. roleReward given to a trainer) -> a one-line error;
    * anything else (the subset folder, a parquet/jsonl file or folder of one's own) -> ``path``.
    """
    p = Path(path)
    if not p.is_dir():
        return p
    manifest = _manifest(p)
    if manifest.get("kind") == "export":
        have = [str(s) for s in manifest.get("subsets") or []]
        if subset not in have:
            raise CharmError(
                f"{option} {p}: this export has no {subset} subset (has: {', '.join(have) or 'none'}); "
                f"export it with `charm-build export --subset {subset}`"
            )
        return p / subset
    if manifest.get("kind") == "subset" and manifest.get("subset") not in (None, subset):
        sibling = p.parent / subset
        hint = f"; did you mean {sibling}?" if sibling.is_dir() else ""
        raise CharmError(f"{option} {p}: a {manifest['subset']} export, but this command reads {subset}{hint}")
    if not manifest and (p / subset).is_dir():
        return p / subset
    return p

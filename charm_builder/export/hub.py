"""Optional upload of an export to the Hugging Face Hub (needs a token; not exercised offline)."""

from __future__ import annotations

from pathlib import Path

from charm_builder.export import card as cards
from charm_builder.export.write import read_splits, to_dataset
from charm_kernel.errors import CharmError


def hub_token() -> str:
    """The user's Hugging Face token, or a one-line CharmError saying how to get one."""
    from huggingface_hub import get_token

    token = get_token()
    if not token:
        raise CharmError("--push-to-hub needs a Hugging Face token: run `hf auth login` or set HF_TOKEN")
    return token


def push_export(out: Path, repo: str, *, private: bool = True) -> list[str]:
    """Push every subset of a written export as one config of ``repo``; returns the configs pushed.

    The subset cards and manifests are uploaded next to the data as ``<subset>/README.md`` and
    ``<subset>/manifest.json`` (the Hub manages the top-level README's config metadata itself).
    """
    import datasets
    from huggingface_hub import HfApi

    token = hub_token()
    top = cards.read_manifest(out)
    api = HfApi(token=token)
    pushed = []
    for name in top.get("subsets", []):
        folder = out / name
        manifest = cards.read_manifest(folder)
        frames = read_splits(folder, manifest["format"], list(manifest["ids"]))
        dd = datasets.DatasetDict({s: to_dataset(f) for s, f in frames.items()})
        dd.push_to_hub(repo, config_name=name, data_dir=name, private=private, token=token)
        for file in (cards.CARD, cards.MANIFEST):
            api.upload_file(
                path_or_fileobj=str(folder / file), path_in_repo=f"{name}/{file}", repo_id=repo, repo_type="dataset"
            )
        pushed.append(name)
    return pushed

"""`charm-build annotate next`: rank the unannotated candidate sets (``annotation.active``), with a
trained reward model (``training.rm.set_scores``) for the RM strategies, and optionally push the top k.

An app command because it joins two stages: annotation ranks and pushes, training scores.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from annotation.active import rank_candidate_sets, ranking_json
from annotation.cli import ApiKeyOpt, ApiUrlOpt, ArgillaWsOpt, DatasetOpt, argilla_client
from annotation.datasets import DEFAULT_MIN_SUBMITTED
from annotation.sync import push_candidate_sets
from charm_builder.store import open_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console
from schemas import CandidateSet
from training.rm.set_scores import score_run


def next_sets(
    strategy: Annotated[
        str,
        typer.Option(
            help="judge-disagreement (the LLM judge's 1-10 scores leave best/worst unsure), rm-uncertainty "
            "(entropy of the reward model's softmax over the candidates; needs --rm), aam-margin (smallest "
            "AAM-LD margin between the RM's own top and bottom candidate; needs --rm) or random (seeded shuffle)."
        ),
    ] = "judge-disagreement",
    k: Annotated[int, typer.Option("--k", "-k", min=1, help="How many candidate sets to rank (and push).")] = 50,
    rm: Annotated[
        Path | None,
        typer.Option("--rm", metavar="RUN", help="A `charm-train rm` output folder (rm-uncertainty, aam-margin)."),
    ] = None,
    judge: Annotated[
        str | None,
        typer.Option(help="judge-disagreement: the judge whose scores count (default: the only one scored)."),
    ] = None,
    seed: Annotated[int, typer.Option(help="random: seed of the shuffle.")] = 0,
    out: Annotated[
        Path | None,
        typer.Option(help="Also write the ranking as JSON here (default: <workspace>/exports/annotation/next.json)."),
    ] = None,
    do_push: Annotated[
        bool,
        typer.Option(
            "--push",
            help="Push the k sets to Argilla in rank order with a `priority` metadata (1 = first; the `annotate "
            "serve` server serves them first, annotators elsewhere can sort on it); records already there get "
            "their priority, their responses stay.",
        ),
    ] = False,
    workspace: WorkspaceOpt = None,
    dataset: DatasetOpt = "charm-preference",
    argilla_workspace: ArgillaWsOpt = "charm",
    min_submitted: Annotated[
        int, typer.Option(help="--push: annotators needed per record (as `annotate push`).")
    ] = DEFAULT_MIN_SUBMITTED,
    overlap: Annotated[
        float, typer.Option(min=0.0, max=1.0, help="--push: as `annotate push --overlap` (the dataset's own).")
    ] = 1.0,
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Rank the candidate sets nobody has annotated yet by how much a label would teach the reward model,
    and optionally push the top k to Argilla first. Synthetic (judge) annotations do not count as annotated.

    Examples:
      charm-build annotate next --strategy judge-disagreement --k 100
      charm-build annotate next --strategy rm-uncertainty --rm runs/demo-rm --k 50 --push
      charm-build annotate next --strategy aam-margin --rm runs/rm-ld --k 200 --out next.json
      charm-build annotate next --strategy random --seed 1 --k 50 --push --dataset charm-preference
    """
    store = open_workspace(workspace)
    ranking = rank_candidate_sets(store, strategy, None, rm, seed, judge=judge, scorer=score_run)
    unscored = sum(r.score is None for r in ranking) if strategy != "random" else 0
    top = ranking[:k]
    client = argilla_client(workspace, api_url, api_key) if do_push else None
    table = Table("rank", "candidate set", "score", "why", title=f"Annotate next ({strategy})")
    for r in top:
        table.add_row(str(r.rank), r.candidate_set_id, "—" if r.score is None else f"{r.score:.4f}", r.why)
    console.print(table)
    console.print(
        f"{len(top)} of {len(ranking)} unannotated candidate set(s) ranked"
        + (f"; {unscored} could not be scored by {strategy} (ranked last)" if unscored else "")
        + "."
    )
    if client is not None:
        _push_ranked(client, store, top, dataset, argilla_workspace, min_submitted, overlap)
    target = out or store.root / "exports" / "annotation" / "next.json"
    about = {"strategy": strategy, "k": k, "unannotated": len(ranking), "unscored": unscored, "seed": seed}
    about |= {"rm": str(rm) if rm else None, "judge": judge, "pushed_to": dataset if do_push else None}
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(ranking_json(top, **about), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    tmp.replace(target)
    console.print(f"Wrote {target}")


def _push_ranked(
    client: Any, store: Any, top: list[Any], dataset: str, argilla_workspace: str, min_submitted: int, overlap: float
) -> None:
    """Push the ranked sets in rank order with their ``priority`` (``annotate next --push``)."""
    sets = [store.get(CandidateSet, r.candidate_set_id) for r in top]
    result = push_candidate_sets(
        client,
        store,
        dataset=dataset,
        workspace=argilla_workspace,
        min_submitted=min_submitted,
        candidate_sets=[s for s in sets if s is not None],
        overlap=overlap,
        priorities={r.candidate_set_id: r.rank for r in top},
    )
    console.print(
        f"{result.dataset}: {result.pushed} record(s) sent with priority 1-{len(top)} in rank order "
        "(new ones added, ones already there re-ranked; their responses kept)."
    )

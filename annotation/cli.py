"""``charm-build annotate``: run an Argilla server, manage annotators, push/pull, progress, QA report.

The lead mounts :data:`annotate_app` with ``app.add_typer(annotate_app, name="annotate")``. Each command
is a thin wrapper over :mod:`annotation.sync`, :mod:`annotation.report` and
:mod:`annotation.server.embedded`. User errors raise :class:`annotation.sync.AnnotationError`
(a ``CharmError``), which the top-level CLI prints as one line; ``python -m annotation.cli`` does the same.
"""

from __future__ import annotations

import json
import signal
import time
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from annotation.datasets import ALL_DIMENSIONS, DEFAULT_MIN_SUBMITTED
from annotation.sync import API_KEY_ENV, API_URL_ENV, AnnotationError, server_dir
from charm_builder.export import add_dq_annotation
from charm_builder.store import open_workspace
from charm_kernel.cli import WorkspaceOpt
from charm_kernel.console import console
from charm_kernel.formatting import fmt
from charm_kernel.progress import progress_bar

annotate_app = typer.Typer(
    name="annotate",
    help="Annotate best/worst candidates in Argilla: `serve` a local server, create `users`, `push`, "
    "`pull`, check `status`, and build the QA `report`; `synthetic` turns LLM-judge scores into annotations.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)

ApiUrlOpt = Annotated[
    str | None,
    typer.Option("--api-url", envvar=API_URL_ENV, help="Argilla URL (default: the `annotate serve` server)."),
]
ApiKeyOpt = Annotated[
    str | None,
    typer.Option(
        "--api-key",
        envvar=API_KEY_ENV,
        show_default=False,
        help="Owner/admin API key (default: the `annotate serve` owner).",
    ),
]
DatasetOpt = Annotated[str, typer.Option("--dataset", "-d", help="Argilla dataset name.")]
ArgillaWsOpt = Annotated[str, typer.Option("--argilla-workspace", help="Argilla workspace (team) name.")]


def _root(workspace: Path | None) -> Path:
    from charm_builder.store.workspace import resolve_workspace

    return resolve_workspace(workspace)


def argilla_client(workspace: Path | None, api_url: str | None, api_key: str | None) -> Any:
    from annotation.sync import connect

    return connect(_root(workspace), api_url, api_key)


@annotate_app.command()
def serve(
    workspace: WorkspaceOpt = None,
    port: Annotated[int, typer.Option(help="Port of the web UI and API.")] = 6900,
    host: Annotated[str, typer.Option(help="Interface to bind (0.0.0.0 to share on the network).")] = "127.0.0.1",
    database: Annotated[
        str,
        typer.Option(
            help="sqlite (default) or postgresql: a private PostgreSQL cluster in <workspace>/argilla/postgres "
            "for larger annotation teams (needs Debian's `postgresql` package)."
        ),
    ] = "sqlite",
    web_workers: Annotated[
        int | None,
        typer.Option(
            min=1,
            help="argilla-server web processes (a process serves on one core; a team submitting back to back "
            "needs several). [default: the CPU count, at most 4]",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Run Argilla 2.8 locally without Docker (Redis + argilla-server on SQLite or PostgreSQL + worker);
    Ctrl-C stops it.

    The owner password comes from CHARM_ARGILLA_OWNER_PASSWORD, or is generated once and stored (0600)
    in <workspace>/argilla/secrets/owner.json, which also holds the owner's API key.

    Examples:
      charm-build annotate serve
      charm-build annotate serve --port 6901 --host 0.0.0.0
      charm-build annotate serve --database postgresql
      charm-build annotate serve --web-workers 4
    """
    from annotation.server.embedded import EmbeddedArgilla, ServerStartError, default_web_workers
    from annotation.server.postgres import DATABASES

    if database not in DATABASES:
        raise AnnotationError(f"--database must be {' or '.join(DATABASES)}, not {database!r}")
    root = _root(workspace)
    workers = web_workers or default_web_workers()
    server = EmbeddedArgilla(server_dir(root), port=port, host=host, database=database, web_workers=workers)
    stop_requested: list[int] = []

    def _request_stop(signum: int, _frame: Any) -> None:
        stop_requested.append(signum)

    previous = {sig: signal.signal(sig, _request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        console.print("Starting Argilla (first run builds its virtualenv: a few minutes)...")
        try:
            server.start()
        except ServerStartError as exc:
            raise AnnotationError(str(exc)) from None
        console.print(
            f"[green]Argilla is running:[/] {server.url} ({workers} web process{'es' if workers > 1 else ''})"
        )
        console.print(
            f"Owner: [bold]{server.credentials.username}[/]; password and API key are in "
            f"{server.credentials_file} (mode 0600)"
            + (" — password from CHARM_ARGILLA_OWNER_PASSWORD" if server.credentials.password_from_env else "")
        )
        console.print(
            f"Logs: {server.logs_dir}   Stop with Ctrl-C. A child that dies is restarted (logs/supervisor.log)."
        )
        while not stop_requested:
            if server.failure:
                raise AnnotationError(f"giving up: {server.failure.splitlines()[0]}")
            time.sleep(0.5)
        console.print("Stopping Argilla...")
    finally:
        server.stop()
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    console.print("Stopped.")


@annotate_app.command()
def users(
    roster: Annotated[Path, typer.Argument(help="Roster: YAML/JSON list, CSV with 'username', or one name a line.")],
    workspace: WorkspaceOpt = None,
    argilla_workspace: ArgillaWsOpt = "charm",
    passwords_file: Annotated[Path | None, typer.Option(help="0600 JSON file for new passwords.")] = None,
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Create the Argilla workspace and annotator accounts; new passwords go once into a 0600 file."""
    from annotation.server.embedded import EmbeddedArgilla
    from annotation.sync import create_users, load_roster

    entries = load_roster(roster)
    client = argilla_client(workspace, api_url, api_key)
    target = passwords_file or EmbeddedArgilla(server_dir(_root(workspace))).secrets_dir / "annotators.json"
    result = create_users(client, argilla_workspace, entries, target)
    console.print(
        f"Workspace [bold]{argilla_workspace}[/]: created {len(result.created)} account(s), "
        f"{len(result.existing)} already existed, {len(result.added_to_workspace)} added as members."
    )
    if result.created:
        console.print(f"Passwords of new accounts: {target} (mode 0600; hand them out privately).")


def _progress() -> Progress:
    return progress_bar(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
    )


@annotate_app.command()
def push(
    workspace: WorkspaceOpt = None,
    dataset: DatasetOpt = "charm-preference",
    argilla_workspace: ArgillaWsOpt = "charm",
    min_submitted: Annotated[int, typer.Option(help="Annotators needed per record.")] = DEFAULT_MIN_SUBMITTED,
    overlap: Annotated[
        float,
        typer.Option(
            min=0.0,
            max=1.0,
            help="preference: share of records that need --min-submitted annotators (for agreement); the "
            "others need one. 1.0 = every record. Needs the `annotate serve` server. "
            "Example: --min-submitted 3 --overlap 0.1",
        ),
    ] = 1.0,
    kind: Annotated[
        str,
        typer.Option(
            "--kind",
            "--task",
            help="preference (best/worst), dialogue-quality (query + criteria) or pairwise (A vs B win/tie/loss).",
        ),
    ] = ("preference"),
    models: Annotated[str | None, typer.Option(help="pairwise: TARGET,OPPONENT[,OPPONENT...] model ids.")] = None,
    seed: Annotated[int, typer.Option(help="pairwise: seed of the per-record order randomisation.")] = 0,
    dimension: Annotated[list[str] | None, typer.Option(help="dialogue-quality dimensions (repeatable).")] = None,
    language: Annotated[str | None, typer.Option(help="dialogue-quality: only dialogues in zh or en.")] = None,
    batch_size: Annotated[int, typer.Option(help="Records per request.")] = 100,
    suggestions: Annotated[
        str | None,
        typer.Option(
            "--suggestions",
            metavar="JUDGE",
            help="preference: pre-select "
            "this LLM judge's best/worst (scores from `charm-build judge`) "
            "as Argilla suggestions; records already there are updated.",
        ),
    ] = None,
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Push candidate sets (or dialogueQuality tasks, or blinded pairwise comparisons); rerunning skips or
    updates what is already there.

    Examples:
      charm-build annotate push
      charm-build annotate push --min-submitted 3 --overlap 0.1   # a tenth by three annotators, the rest by one
      charm-build annotate push --kind dialogue-quality --dimension empathy --language zh
      charm-build annotate push --task pairwise --models my-rm-policy,gpt-4o,claude-3.5-sonnet --dataset pairwise --min-submitted 5
      charm-build annotate push --suggestions gpt-4o      # after `charm-build judge --judge gpt-4o`
    """
    from annotation.sync import push_candidate_sets, push_dialogue_quality

    if kind not in ("preference", "dialogue-quality", "pairwise"):
        raise AnnotationError(f"--kind must be 'preference', 'dialogue-quality' or 'pairwise', not {kind!r}")
    store = open_workspace(workspace)
    picks = _judge_suggestions(store, suggestions) if suggestions else None
    if picks is not None and kind != "preference":
        raise AnnotationError("--suggestions works with --kind preference only")
    if overlap < 1.0 and kind != "preference":
        raise AnnotationError("--overlap works with --kind preference only")
    client = argilla_client(workspace, api_url, api_key)
    if kind == "pairwise":
        _push_pairwise(client, store, models, dataset, argilla_workspace, min_submitted, seed)
        return
    with _progress() as progress:
        task = progress.add_task(f"push {dataset}", total=None)

        def on_progress(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        if kind == "preference":
            result = push_candidate_sets(
                client,
                store,
                dataset=dataset,
                workspace=argilla_workspace,
                min_submitted=min_submitted,
                batch_size=batch_size,
                on_progress=on_progress,
                suggestions=picks,
                overlap=overlap,
            )
        else:
            dims = tuple(dimension or ALL_DIMENSIONS[2:])
            unknown = sorted(set(dims) - set(ALL_DIMENSIONS))
            if unknown:
                raise AnnotationError(f"--dimension: unknown {', '.join(unknown)}; use {', '.join(ALL_DIMENSIONS)}")
            result = push_dialogue_quality(
                client,
                store,
                dataset=dataset,
                workspace=argilla_workspace,
                dimensions=dims,
                language=language,
                min_submitted=max(1, min_submitted),
                batch_size=batch_size,
                on_progress=on_progress,
            )
    console.print(
        f"{result.dataset}: {result.pushed} record(s) pushed, {result.skipped_existing} already there "
        f"({result.total} in total)"
        + (f"; {result.suggested} with {suggestions}'s suggestions." if suggestions else ".")
    )


def _push_pairwise(
    client: Any, store: Any, models: str | None, dataset: str, argilla_workspace: str, annotators: int, seed: int
) -> None:
    """``annotate push --task pairwise``: blinded A-vs-B records of the target model against each opponent."""
    from annotation.pairwise import PairwiseError, push_pairwise

    if not models:
        raise AnnotationError("--task pairwise needs --models TARGET,OPPONENT[,...]")
    try:
        res = push_pairwise(
            client,
            store,
            models=models,
            dataset=dataset,
            workspace=argilla_workspace,
            annotators=annotators,
            seed=seed,
        )
    except PairwiseError as exc:
        raise AnnotationError(str(exc)) from None
    console.print(
        f"{res.dataset}: {res.pushed} blinded pair(s) from {res.contexts} context(s) pushed; "
        f"{res.skipped_contexts} candidate set(s) lack one of the models."
    )


def _judge_suggestions(store: Any, judge: str) -> dict[str, Any]:
    """Candidate set id -> JudgeSuggestion from the judge's stored scores (error when there are none)."""
    from annotation.datasets import JudgeSuggestion
    from charm_builder.judge import judge_picks, judges_in

    picks = judge_picks(store, judge)
    if not picks:
        known = judges_in(store)
        raise AnnotationError(
            f"--suggestions {judge!r}: no scores from this judge in {store.root}; run "
            f"`charm-build judge --judge {judge}` first" + (f" (judges: {', '.join(known)})" if known else "")
        )
    # a tie-break pick (every candidate scored the same) is no suggestion: the judge had no preference
    return {
        sid: JudgeSuggestion(judge, p.best, p.worst, p.best_score, p.worst_score)
        for sid, p in picks.items()
        if not p.tied
    }


@annotate_app.command()
def pull(
    workspace: WorkspaceOpt = None,
    dataset: DatasetOpt = "charm-preference",
    argilla_workspace: ArgillaWsOpt = "charm",
    kind: Annotated[str, typer.Option(help="preference (best/worst) or dialogue-quality (query + criteria).")] = (
        "preference"
    ),
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Store submitted best/worst responses as annotations (reject and report best == worst), or write
    dialogueQuality items to <workspace>/exports/annotation/dialogue-quality-<dataset>.jsonl."""
    from annotation.sync import pull_annotations, pull_dialogue_quality

    if kind not in ("preference", "dialogue-quality"):
        raise AnnotationError(f"--kind must be 'preference' or 'dialogue-quality', not {kind!r}")
    store = open_workspace(workspace)
    client = argilla_client(workspace, api_url, api_key)
    out_dir = store.root / "exports" / "annotation"
    rejected_file = out_dir / f"rejected-{dataset}.json"
    if kind == "preference":
        result = pull_annotations(
            client, store, dataset=dataset, workspace=argilla_workspace, rejected_file=rejected_file
        )
        rejected = result.rejected
        console.print(
            f"{dataset}: {result.imported} annotation(s) stored, {len(rejected)} rejected, "
            f"{result.skipped_not_submitted} draft/discarded skipped."
        )
    else:
        pulled, rejected = pull_dialogue_quality(client, store, dataset=dataset, workspace=argilla_workspace)
        items = [item for item, _ in pulled]
        with store.transaction():  # the export stage reads them from the dq_annotations table
            for item, annotator in pulled:
                add_dq_annotation(
                    store,
                    dialogue_id=item.dialogue_id,
                    dimension=item.dimension,
                    language=item.language,
                    user_query=item.user_query,
                    criteria=item.criteria,
                    annotator=annotator,
                )
        out_dir.mkdir(parents=True, exist_ok=True)
        target = out_dir / f"dialogue-quality-{dataset}.jsonl"
        tmp = target.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(item.model_dump_json() + "\n" for item in items), encoding="utf-8")
        tmp.replace(target)
        rejected_file.write_text(json.dumps([asdict(r) for r in rejected], indent=2, ensure_ascii=False) + "\n")
        console.print(
            f"{dataset}: {len(items)} dialogueQuality item(s) stored (and written to {target}), {len(rejected)} rejected."
        )
    if rejected:
        table = Table("record", "annotator", "best", "worst", "reason", title="Rejected responses")
        for r in rejected:
            table.add_row(r.record_id, r.annotator, str(r.best), str(r.worst), r.reason)
        console.print(table)
        console.print(f"Rejected list: {rejected_file}")


@annotate_app.command()
def status(
    workspace: WorkspaceOpt = None,
    dataset: DatasetOpt = "charm-preference",
    argilla_workspace: ArgillaWsOpt = "charm",
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """Server, dataset progress and per-annotator progress."""
    from annotation.sync import annotator_progress

    client = argilla_client(workspace, api_url, api_key)
    console.print(f"Argilla at {client.api_url}: up, logged in as {client.me.username}")
    restarts = _server_restarts(workspace) if not api_url else {}
    if restarts:
        console.print("Restarts since start: " + ", ".join(f"{name} {n}" for name, n in sorted(restarts.items())))
    totals, rows = annotator_progress(client, dataset=dataset, workspace=argilla_workspace)
    console.print(f"{dataset}: {totals['completed']}/{totals['total']} records completed, {totals['pending']} pending")
    table = Table("annotator", "submitted", "draft", "discarded", title="Per annotator")
    for row in rows:
        table.add_row(row.username, str(row.submitted), str(row.draft), str(row.discarded))
    console.print(table)


def _server_restarts(workspace: Path | None) -> dict[str, int]:
    """Restart counts of the embedded server's children, from its server.json (empty when none runs)."""
    from annotation.server.embedded import EmbeddedArgilla

    info = EmbeddedArgilla(server_dir(_root(workspace))).running_info()
    return {str(k): int(v) for k, v in (info.get("restarts") or {}).items()}


@annotate_app.command()
def report(
    workspace: WorkspaceOpt = None,
    out: Annotated[Path | None, typer.Option(help="Output folder (default: <workspace>/plots).")] = None,
    task: Annotated[
        str,
        typer.Option(
            "--task", help="preference (pulled best/worst annotations) or pairwise (win/tie/loss from the server)."
        ),
    ] = "preference",
    dataset: Annotated[str, typer.Option(help="pairwise: the Argilla dataset.")] = "pairwise",
    argilla_workspace: ArgillaWsOpt = "charm",
    api_url: ApiUrlOpt = None,
    api_key: ApiKeyOpt = None,
) -> None:
    """QA report over pulled annotations: Krippendorff's alpha on best/worst, annotators ranked by reliability
    (one-coin Dawid-Skene accuracy with a 95% bootstrap interval, likely random clickers flagged), BWS per
    model (PNG), ambiguities;
    or, with --task pairwise, the win/tie/loss chart per opponent with a per-annotator breakdown.

    Examples:
      charm-build annotate report
      charm-build annotate report --task pairwise --dataset pairwise
    """
    from annotation.report import build_report, write_report
    from schemas import Annotation, CandidateSet

    store = open_workspace(workspace)
    if task == "pairwise":
        _pairwise_report(store, workspace, out, dataset, argilla_workspace, api_url, api_key)
        return
    if task != "preference":
        raise AnnotationError(f"--task must be 'preference' or 'pairwise', not {task!r}")
    from charm_builder.judge import judge_picks, judges_in

    annotations = list(store.iter(Annotation))
    if not any(a.source == "human" for a in annotations):
        raise AnnotationError(f"{store.root}: no human annotations yet; run `charm-build annotate pull` first")
    sets = {s.id: s for s in store.iter(CandidateSet)}
    picks = {
        name: {sid: (p.best, p.worst) for sid, p in judge_picks(store, name).items() if not p.tied}
        for name in judges_in(store)
    }  # tie-break picks carry no judge preference
    result = write_report(build_report(annotations, sets, picks), out or store.root / "plots")

    def alpha(value: float | None) -> str:
        return fmt(value, 3, missing="n/a (too few overlapping annotations)")

    console.print(
        f"{result.annotations} annotations by {len(result.annotators)} annotator(s) "
        f"on {result.candidate_sets} candidate set(s)"
    )
    console.print(f"Krippendorff's alpha (nominal): best {alpha(result.alpha_best)}, worst {alpha(result.alpha_worst)}")
    if result.reliability:
        console.print(reliability_table(result.reliability))
    table = Table("model", "best", "worst", "appearances", "BWS score", title="Best-worst scaling")
    for s in result.scores:
        table.add_row(s.model_id, str(s.best), str(s.worst), str(s.appearances), f"{s.score:+.3f}")
    console.print(table)
    if result.ambiguous:
        amb = Table("candidate set", "why", title="Ties / ambiguous records")
        for a in result.ambiguous:
            amb.add_row(a.candidate_set_id, "; ".join(a.reasons))
        console.print(amb)
    if result.synthetic_ignored:
        console.print(f"{result.synthetic_ignored} synthetic (LLM-judge) annotation(s) left out of these figures.")
    if result.judges:
        console.print(judge_agreement_table(result.judges))
    console.print(f"Wrote {result.files['json']} and {result.files['chart']}")


def judge_agreement_table(judges: list[Any]) -> Table:
    """``annotate report``: how often the annotators' best/worst match each judge's, overall and per annotator."""
    agree = Table(
        "judge",
        "annotator",
        "compared",
        "best == judge's best",
        "worst == judge's worst",
        title="Annotator vs judge agreement",
    )
    for j in judges:
        agree.add_row(
            j.judge, "all", str(j.compared), _share(j.best_matches, j.compared), _share(j.worst_matches, j.compared)
        )
        for name, row in sorted(j.by_annotator.items()):
            agree.add_row(
                "",
                name,
                str(row["compared"]),
                _share(row["best"], row["compared"]),
                _share(row["worst"], row["compared"]),
            )
    return agree


def reliability_table(rows: list[dict[str, Any]]) -> Table:
    """Annotators best first: accuracy on shared sets with its 95% interval; random clickers flagged."""
    table = Table(
        "annotator",
        "shared sets",
        "picks",
        "accuracy [95% CI]",
        "",
        title="Annotator reliability (one-coin Dawid-Skene on best/worst)",
        caption="chance = 1/6; likely random: the interval reaches chance or stays under 0.5",
    )
    for r in rows:
        flag = "likely random" if r["likely_random"] else ""
        if not r["shared_sets"]:
            flag = "no shared sets: prior only"
        table.add_row(
            str(r["annotator"]),
            str(r["shared_sets"]),
            str(r["picks"]),
            f"{r['accuracy']:.2f} [{r['lo']:.2f}, {r['hi']:.2f}]",
            flag,
        )
    return table


def _share(hits: int, n: int) -> str:
    return f"{hits}/{n} ({hits / n:.1%})" if n else "n/a"


@annotate_app.command()
def synthetic(
    judge: Annotated[str, typer.Option("--judge", "-j", help="Judge whose stored scores become annotations.")],
    workspace: WorkspaceOpt = None,
) -> None:
    """Turn an LLM judge's scores into synthetic best/worst annotations (annotator judge:<JUDGE>).

    Best = the highest score, worst = the lowest; ties are broken by a hash of (set, label), also when all
    scores are equal (such picks are marked tied: the judge had no preference); candidates flagged empty or
    duplicate are never picked; a set needs two scored candidates. The
    annotations are marked synthetic: `stats` counts them apart, `annotate report` ignores them, and
    `export` leaves them out unless --include-synthetic. Rerunning replaces, never duplicates.

    Examples:
      charm-build judge --judge smollm2-plain --all && charm-build annotate synthetic --judge smollm2-plain
      charm-build export --out exports/synthetic --include-synthetic --train-min-annotators 1
    """
    from charm_builder.judge import judges_in, synthetic_annotations

    store = open_workspace(workspace)
    if judge not in judges_in(store):
        raise AnnotationError(
            f"--judge {judge!r}: no scores from this judge in {store.root}; run "
            f"`charm-build judge --judge {judge} --all` first"
        )
    rep = synthetic_annotations(store, judge)
    console.print(
        f"judge:{judge}: {rep.written} synthetic annotation(s) stored from {rep.sets_scored} scored "
        f"candidate set(s); {rep.no_pick} with fewer than two scored candidates."
    )
    if rep.tied:
        console.print(
            f"[yellow]{rep.tied} of them are tie-breaks: the judge gave every candidate the same score "
            "(no preference; margin_judge 0)[/]"
        )


def _pairwise_report(store, workspace, out, dataset, argilla_workspace, api_url, api_key) -> None:
    from annotation.pairwise import OUTCOMES, PairwiseError, report_pairwise

    client = argilla_client(workspace, api_url, api_key)
    try:
        tallies, png = report_pairwise(
            client, dataset=dataset, workspace=argilla_workspace, out_dir=out or store.root / "plots"
        )
    except PairwiseError as exc:
        raise AnnotationError(str(exc)) from None
    table = Table("opponent", "annotator", *OUTCOMES, "n", title="Pairwise win / tie / loss (target's view)")
    for t in tallies:
        table.add_row(t.opponent, "all", *(str(t.total[o]) for o in OUTCOMES), str(t.n))
        for name, counts in sorted(t.by_annotator.items()):
            table.add_row("", name, *(str(counts[o]) for o in OUTCOMES), str(sum(counts.values())))
    console.print(table)
    console.print(f"Wrote {png}")


def main() -> None:
    """Standalone entry point (``python -m annotation.cli``) with one-line user errors."""
    from charm_kernel.cli import run_app

    run_app(annotate_app)


if __name__ == "__main__":
    main()

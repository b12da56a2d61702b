"""Benchmark the embedded annotation server with a team of annotators working like the web UI.

Starts ``annotate serve``'s stack (Redis + argilla-server + worker, on SQLite or a private PostgreSQL
cluster: ``--database sqlite|postgresql|both``) in a temporary folder,
pushes R candidate sets, creates N annotator accounts and drives them over HTTP with the UI's
endpoints (``annotators.py``: JWT login, a page of the pending queue, then best/worst submits), in two
phases:

* paced: every annotator submits once every ``--interval`` seconds for ``--paced-seconds``;
* burst: every annotator submits its remaining records back to back.

Then it pulls the annotations into a workspace and checks that every acknowledged (2xx) submission
is stored exactly once (``lost`` counts the missing ones, ``dupes`` the doubles).

    PYTHONPATH=. python benchmarks/bench_annotation.py [--annotators 20] [--records 250]
        [--paced-seconds 300] [--interval 2] [--database sqlite|postgresql|both]

Targets (issue 16): p95 <= 300 ms paced, <= 1 s back to back. The last line (one per database)
reads ``database=D p95_paced_ms=X p95_burst_ms=Y lost=N``.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from annotation.server.embedded import EmbeddedArgilla, default_web_workers, free_port
from annotation.sync import create_users, load_roster, pull_annotations, push_candidate_sets
from benchmarks.annotators import Annotator, percentile_ms
from charm_builder.store.workspace import Workspace
from schemas import Annotation, Candidate, CandidateSet, Character, Dialogue, Localized, Message

MODELS = ["gpt-4o", "claude-3.5-sonnet", "doubao-character", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b"]
PAGE = 10  # records the UI asks for at a time


def build_store(root: Path, n_sets: int) -> Workspace:
    store = Workspace.create(root)
    character = Character(
        name=Localized(en="Captain Mira"),
        sub_category="novels",
        source=Localized(en="The Salt Road"),
        profile=Localized(en="A smuggler captain with a soft spot for stray cats. " * 8),
        system_prompt=Localized(en="You are Captain Mira. Stay in character."),
    )
    store.upsert(character)
    with store.transaction():
        for i in range(n_sets):
            turns = [
                Message(role="user", speaker="Ann", text=f"Captain, where do we sail tonight? ({i})"),
                Message(role="character", speaker="Mira", text="Wherever the tide lets us, love. " * 5),
                Message(role="user", speaker="Ann", text=f"And if the harbour guards stop us? ({i})"),
            ]
            dialogue = Dialogue(
                character_id=character.id, language="en", turns=turns, target_dimension="attractiveness"
            )
            store.upsert(dialogue)
            cands = [
                Candidate(label="ABCDEF"[k], model_id=m, text=f"Reply {i}-{k}: " + "We talk our way past. " * 12)
                for k, m in enumerate(MODELS)
            ]
            store.upsert(CandidateSet(dialogue_id=dialogue.id, context=turns, candidates=cands))
    return store


def run_phase(annotators: list[Annotator], *, seconds: float | None, interval: float) -> tuple[list[float], float, int]:
    """Drive every annotator in its own thread; paced when ``seconds`` is given, else back to back."""
    marks = [len(a.stats.submit_s) for a in annotators]
    errors_before = sum(len(a.stats.errors) for a in annotators)

    def paced(a: Annotator, offset: float) -> None:
        time.sleep(offset)
        deadline = time.monotonic() + (seconds or 0)
        next_at = time.monotonic()
        while time.monotonic() < deadline:
            record = a.next_record()
            if record is None:
                return
            a.submit(record)
            next_at += interval
            time.sleep(max(0.0, next_at - time.monotonic()))

    def burst(a: Annotator) -> None:
        a.work()

    start = time.perf_counter()
    threads = [
        threading.Thread(target=paced, args=(a, interval * i / len(annotators)))
        if seconds
        else threading.Thread(target=burst, args=(a,))
        for i, a in enumerate(annotators)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    per_annotator = [a.stats.submit_s[m:] for a, m in zip(annotators, marks, strict=True)]
    medians = sorted(statistics.median(x) * 1000 for x in per_annotator if x)
    if medians:
        print(f"  annotators' median submit: {medians[0]:.0f} ms (fastest) .. {medians[-1]:.0f} ms (slowest)")
    lat = [x for xs in per_annotator for x in xs]
    return lat, wall, sum(len(a.stats.errors) for a in annotators) - errors_before


def histogram(lat: list[float]) -> str:
    """Counts per latency band (a lock wait shows as a bump at its retry interval)."""
    edges = [0.1, 0.25, 0.5, 0.75, 1.0, 1.25, 1.5, 2.0, 3.0, float("inf")]
    counts, low = [], 0.0
    for high in edges:
        n = sum(low <= x < high for x in lat)
        if n:
            counts.append(f"{low * 1000:.0f}-{'' if high == float('inf') else f'{high * 1000:.0f}'} ms: {n}")
        low = high
    return ", ".join(counts)


def report(name: str, lat: list[float], wall: float, errors: int) -> float:
    p50, p95 = percentile_ms(lat, 50), percentile_ms(lat, 95)
    print(
        f"{name}: {len(lat)} submits in {wall:.1f}s = {len(lat) / wall:.1f}/s, p50 {p50:.0f} ms, "
        f"p95 {p95:.0f} ms, max {max(lat, default=0) * 1000:.0f} ms, errors {errors}",
        flush=True,
    )
    return p95


def run(database: str, workdir: Path, args: argparse.Namespace) -> str:
    """One benchmark on one database; returns its summary line."""
    server = EmbeddedArgilla(workdir / "argilla", port=free_port(), database=database, web_workers=args.web_workers)
    with server:
        client = server.client()
        store = build_store(workdir / "ws", args.records)
        roster = workdir / "roster.txt"
        roster.write_text("".join(f"annotator{i:02d}\n" for i in range(args.annotators)))
        passwords_file = workdir / "passwords.json"
        create_users(client, "bench", load_roster(roster), passwords_file)
        passwords = json.loads(passwords_file.read_text())
        push_candidate_sets(client, store, dataset="bench", workspace="bench", min_submitted=args.annotators)
        dataset = client.datasets(name="bench", workspace="bench")
        annotators = [Annotator(server.url, name, pw) for name, pw in sorted(passwords.items())]
        for a in annotators:
            a.login()
            a.dataset_id = str(dataset.id)
        print(
            f"[{database}] server {server.url} ({args.web_workers} web workers): {args.records} records, "
            f"{len(annotators)} annotators",
            flush=True,
        )

        lat, wall, errors = run_phase(annotators, seconds=args.paced_seconds, interval=args.interval)
        p95_paced = report(f"[{database}] paced (1 per {args.interval:g}s each)", lat, wall, errors)
        lat, wall, errors = run_phase(annotators, seconds=None, interval=0)
        p95_burst = report(f"[{database}] back to back", lat, wall, errors)
        print(f"  back to back, submits by latency: {histogram(lat)}")

        pull_annotations(client, store, dataset="bench", workspace="bench")
        for a in annotators:
            a.close()
        stored = [(a.annotator, a.candidate_set_id) for a in store.iter(Annotation)]
        acked = {(a.username, rid) for a in annotators for rid in a.stats.acked[a.username]}
        lost = len(acked - set(stored))
        dupes = len(stored) - len(set(stored))
        print(f"[{database}] acknowledged {len(acked)}, stored {len(stored)}, lost {lost}, duplicates {dupes}")
    return f"database={database} p95_paced_ms={p95_paced:.0f} p95_burst_ms={p95_burst:.0f} lost={lost}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--annotators", type=int, default=20)
    parser.add_argument(
        "--records",
        type=int,
        default=None,
        help="records each annotator gets [default: enough for the paced phase plus 100 back to back]",
    )
    parser.add_argument("--paced-seconds", type=float, default=300.0)
    parser.add_argument("--interval", type=float, default=2.0)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="sqlite")
    parser.add_argument("--workdir", type=Path, default=None)
    parser.add_argument(
        "--web-workers",
        type=int,
        default=default_web_workers(),
        help="uvicorn worker processes [default: as `annotate serve`, one per core, at most 4]",
    )
    args = parser.parse_args()
    if args.records is None:
        args.records = math.ceil(args.paced_seconds / args.interval) + 100 if args.interval else 100

    databases = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    with tempfile.TemporaryDirectory(prefix="bench-annotation-") as scratch:
        tmp = Path(args.workdir or scratch)  # --workdir: kept afterwards (its logs/web.log show retries)
        summaries = [run(database, tmp / database, args) for database in databases]
    print("\n".join(summaries))


if __name__ == "__main__":
    main()

"""Benchmark the annotation stage at the paper's size: push, ten annotators, pull, report.

Fills a workspace through the store's API with N candidate sets shaped like Charm's (about 13 turns of
dialogue and six replies each, half zh and half en, 15 dialogues per character), starts
``annotate serve``'s stack with the product's defaults (one web worker per core), then runs each stage
as a user does — ``charm-build annotate push --min-submitted 3 --overlap 0.1``, the annotators through
the web page's endpoints (``annotators.py``), ``charm-build annotate pull``, ``charm-build annotate
report`` — and prints per stage the wall time, rate, peak RSS (the CLI's own; the server's processes
summed while annotators work), and the databases' sizes. ``--kill`` also SIGKILLs push and pull midway
and reruns them, checking that nothing is lost or doubled.

    PYTHONPATH=. python benchmarks/bench_annotation_scale.py --records 1700 [--annotators 10]
        [--overlap 0.1] [--kill] [--workdir DIR] [--profile web|push|pull]

Targets (issue 22, at 16,888 records): push <= 10 min, next record p95 <= 500 ms and submit p95 <= 1 s
with the dataset full, pull <= 2 min, report <= 1 min, every stage <= 4 GB, nothing lost or duplicated.
The last line reads ``records=N push_s=... next_record_p95_ms=... submit_p95_ms=... pull_s=...
report_s=... lost=0 duplicated=0 peak_rss_gb=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from annotation.datasets import in_overlap
from annotation.server.embedded import EmbeddedArgilla, default_web_workers, free_port
from annotation.sync import create_users, load_roster, server_dir
from benchmarks.annotators import AnnotatorStats, percentile_ms, run_annotators
from charm_builder.store.workspace import Workspace
from schemas import Annotation, Candidate, CandidateSet, Character, Dialogue, Localized, Message

MODELS = ["gpt-4o", "claude-3.5-sonnet", "doubao-character", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b"]
SUBS = ["anime", "comics", "novels", "films", "tv", "games", "scientists", "musicians", "actors", "custom"]
DATASET, TEAM = "charm-preference", "charm"
_EN_TEXT = (
    "the moon river lantern sword quiet tea storm letter garden castle promise winter dragon song festival "
    "harbour forest mirror secret journey you I we never always perhaps remember tonight before after "
    "whisper laugh smile afraid brave tired gentle stubborn honest foolish master student friend enemy "
    "because although until while again already still only really maybe surely listen look wait go stay"
)
EN_WORDS = _EN_TEXT.split()
ZH_CHARS = (
    "我你他她们的了是在不有这个人说来去上下大小天地山水月风花雪夜心想看听走回家师父朋友今晚明日"
    "为什么怎么还要会能可以没有知道觉得喜欢害怕相信记得忘剑茶灯信城门雨声笑哭梦江湖故事秘密答应"
)
DIMENSIONS = ["knowledge_consistency", "attractiveness"]


# -- workspace ---------------------------------------------------------------------------------------------


def _en(rng: random.Random, low: int, high: int) -> str:
    words = rng.choices(EN_WORDS, k=rng.randint(low, high))
    return " ".join(words).capitalize() + rng.choice([".", "?", "!"])


def _zh(rng: random.Random, low: int, high: int) -> str:
    return "".join(rng.choices(ZH_CHARS, k=rng.randint(low, high))) + rng.choice(["。", "？", "！"])


def fill_workspace(root: Path, n_sets: int, seed: int = 0) -> Workspace:
    """A workspace with ``n_sets`` dialogues and one six-candidate set each, written with the store's API.

    Lengths follow Charm: 11-15 turns (mean 13), en turns 20-70 words and replies 30-90 words, zh turns
    30-110 characters and replies 40-140; profiles of a few hundred words/characters."""
    rng = random.Random(seed)
    store = Workspace.create(root)
    n_chars = max(2, n_sets // 15)
    characters = [
        Character(
            name=Localized(en=f"Character {i}", zh=f"角色{i}"),
            sub_category=SUBS[i % len(SUBS)],
            profile=Localized(en=_en(rng, 120, 250), zh=_zh(rng, 200, 400)),
            system_prompt=Localized(en=f"You are Character {i}. Stay in role.", zh=f"你是角色{i}。"),
        )
        for i in range(n_chars)
    ]
    store.upsert_many(characters)
    batch: list[object] = []
    for i in range(n_sets):
        character = characters[i % n_chars]
        lang = "zh" if i % 2 else "en"
        say = (lambda a, b: _zh(rng, int(a * 1.5), int(b * 1.5))) if lang == "zh" else (lambda a, b: _en(rng, a, b))
        n_turns = rng.choice([11, 13, 15])
        turns = [
            Message(
                role="user" if t % 2 == 0 else "character",
                speaker="Ann" if t % 2 == 0 else character.name.get(lang),
                text=say(20, 70),
            )
            for t in range(n_turns)
        ]
        dialogue = Dialogue(
            character_id=character.id,
            language=lang,
            turns=turns,
            target_dimension=DIMENSIONS[i % 2],
        )
        cands = [Candidate(label="ABCDEF"[k], model_id=model, text=say(30, 90)) for k, model in enumerate(MODELS)]
        batch += [dialogue, CandidateSet(dialogue_id=dialogue.id, context=turns, candidates=cands)]
        if len(batch) >= 1000:
            store.upsert_many(batch)
            batch = []
    store.upsert_many(batch)
    return store


# -- measuring ---------------------------------------------------------------------------------------------


@dataclass
class Stage:
    """One measured stage."""

    name: str
    seconds: float
    rss_bytes: int
    detail: str = ""
    extra: dict[str, float] = field(default_factory=dict)


def run_cli(
    args: list[str],
    *,
    kill_when: object = None,
    profile: Path | None = None,
    env: dict[str, str] | None = None,
    quiet: bool = False,
) -> tuple[float, int, int]:
    """Run ``charm-build ARGS``; returns (seconds, peak RSS in bytes of that process, exit code).

    ``kill_when()`` -> True: SIGKILL the process at that moment (polled every 0.1 s)."""
    cmd = [str(Path(sys.executable).parent / "charm-build"), *args]
    if profile is not None:
        cmd = ["py-spy", "record", "--rate", "50", "-o", str(profile), "--format", "speedscope", "--", *cmd]
    start = time.perf_counter()
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**os.environ, **(env or {})}
    )
    output: list[str] = []
    reader = threading.Thread(target=lambda: output.extend(proc.stdout or []), daemon=True)
    reader.start()
    killed = False
    while kill_when is not None and proc.poll() is None:
        if kill_when():  # type: ignore[operator]
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.1)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    seconds = time.perf_counter() - start
    reader.join(timeout=5)
    text = "".join(output).strip().splitlines()
    if proc.returncode != 0 and not killed:
        raise SystemExit(f"charm-build {' '.join(args)} failed ({proc.returncode}):\n" + "\n".join(text[-20:]))
    if text and not killed and not quiet:
        print("    " + text[-1], flush=True)
    return seconds, usage.ru_maxrss * 1024, proc.returncode


def log_shows(log: Path, pattern: str, *, after: float = 0.0) -> object:
    """A ``kill_when`` test: True ``after`` seconds once ``log`` has grown a line containing ``pattern``
    (lines written before this call do not count)."""
    start = log.stat().st_size if log.exists() else 0
    seen: list[float] = []

    def shows() -> bool:
        if not seen:
            with open(log, "rb") as handle:
                handle.seek(start)
                if pattern.encode() in handle.read():
                    seen.append(time.monotonic())
        return bool(seen) and time.monotonic() >= seen[0] + after

    return shows


class ServerMemory:
    """Samples the summed RSS of the embedded server's processes (web workers, rq worker, Redis)."""

    def __init__(self) -> None:
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)

    def _loop(self) -> None:
        me = psutil.Process()
        while not self._stop.is_set():
            total = 0
            for child in me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:
                    pass
            self.peak = max(self.peak, total)
            self._stop.wait(0.5)

    def __enter__(self) -> ServerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def file_size(path: Path) -> int:
    """Bytes of a SQLite database with its WAL and shared-memory files."""
    return sum(p.stat().st_size for p in (path, Path(f"{path}-wal"), Path(f"{path}-shm")) if p.exists())


def dataset_total(client: object, name: str = DATASET) -> int:
    """Records on the server in dataset ``name`` (0 when it does not exist yet)."""
    ds = client.datasets(name=name, workspace=TEAM)  # type: ignore[attr-defined]
    if ds is None:
        return 0
    return int(ds.progress().get("total", 0))


# -- the run ----------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, workdir: Path) -> str:
    ws_root = workdir / "ws"
    stages: list[Stage] = []
    start = time.perf_counter()
    store = fill_workspace(ws_root, args.records, seed=args.seed)
    ws_db = store.db_path
    store.close()
    print(f"workspace: {args.records} candidate sets in {time.perf_counter() - start:.1f}s", flush=True)
    workers = default_web_workers()
    server = EmbeddedArgilla(server_dir(ws_root), port=free_port(), web_workers=workers)
    ws = ["--workspace", str(ws_root)]
    with server:
        client = server.client()
        print(f"server {server.url}: {workers} web workers (the `annotate serve` default)", flush=True)
        roster = workdir / "roster.txt"
        roster.write_text("".join(f"annotator{i:02d}\n" for i in range(args.annotators)))
        passwords_file = workdir / "passwords.json"
        create_users(client, TEAM, load_roster(roster), passwords_file)
        users = sorted(json.loads(passwords_file.read_text()).items())

        push = ["annotate", "push", *ws, "--min-submitted", "3", "--overlap", str(args.overlap)]
        prof = lambda name: workdir / f"profile-{name}.json" if args.profile == name else None  # noqa: E731
        push_s = 0.0
        if args.kill:
            seconds, _, code = run_cli(push, kill_when=lambda: dataset_total(client) >= args.records // 3)
            push_s += seconds
            print(f"  push killed (exit {code}) at {dataset_total(client)} records after {seconds:.1f}s", flush=True)
        seconds, rss, _ = run_cli(push, profile=prof("push"))
        push_s += seconds
        on_server = dataset_total(client)
        stages.append(Stage("push", push_s, rss, f"{args.records / push_s:.1f} records/s", {"records": on_server}))

        server_mem = ServerMemory()
        spy = None
        if args.profile in ("web", "worker"):  # py-spy on the web processes (or the rq worker) while annotators work
            target = str(server._procs[args.profile].pid)  # a benchmark may look inside
            out = workdir / f"profile-{args.profile}.txt"
            spy_cmd = ["py-spy", "record", "--subprocesses", "--rate", "50", "--format", "raw", "-o", str(out), "-p"]
            spy = subprocess.Popen([*spy_cmd, target], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        with server_mem:
            stats = run_annotators(server.url, users=users, dataset=DATASET, workspace=TEAM, seed=args.seed)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(timeout=60)
        print(f"  annotators: {stats.summary()}", flush=True)
        for line in stats.errors[:5]:
            print(f"    error: {line}")
        tail = max(1, len(stats.submit_s) // 5)
        full = {
            "next_record_p95_ms": stats.p95_ms("next_record"),
            "submit_p95_ms": stats.p95_ms("submit"),
            "next_record_p95_last_fifth_ms": percentile_ms(
                stats.next_record_s[-max(1, len(stats.next_record_s) // 5) :], 95
            ),
            "submit_p95_last_fifth_ms": percentile_ms(stats.submit_s[-tail:], 95),
        }
        stages.append(
            Stage("annotate", stats.wall_s, server_mem.peak, f"{stats.submitted / stats.wall_s:.1f} submits/s", full)
        )

        pull = ["annotate", "pull", *ws]
        pull_s = 0.0
        if args.kill:
            # SIGKILL while pull is paging through the records (a GET of the records list is in the web log)
            pages = log_shows(server.logs_dir / "web.log", "/records?offset=", after=args.kill_pull_after)
            seconds, _, code = run_cli(pull, kill_when=pages)
            pull_s += seconds
            print(f"  pull killed (exit {code}) after {seconds:.1f}s", flush=True)
        seconds, rss, _ = run_cli(pull, profile=prof("pull"))
        pull_s += seconds
        stages.append(Stage("pull", pull_s, rss, f"{stats.submitted / pull_s:.0f} responses/s"))

        seconds, rss, _ = run_cli(["annotate", "report", *ws])
        stages.append(Stage("report", seconds, rss))
        argilla_db = file_size(server.database_path)

    lost, duplicated, unfinished, over = check(ws_root, stats, args.overlap)
    print(f"\n{'stage':<10}{'seconds':>10}{'peak RSS MB':>14}  detail")
    for stage in stages:
        print(f"{stage.name:<10}{stage.seconds:>10.1f}{stage.rss_bytes / 2**20:>14.0f}  {stage.detail}")
    annotate = stages[1].extra
    print(
        f"next record p95 {annotate['next_record_p95_ms']:.0f} ms (last fifth {annotate['next_record_p95_last_fifth_ms']:.0f}); "
        f"submit p95 {annotate['submit_p95_ms']:.0f} ms (last fifth {annotate['submit_p95_last_fifth_ms']:.0f})"
    )
    print(
        f"databases: workspace {file_size(ws_db) / 2**20:.0f} MB, Argilla {argilla_db / 2**20:.0f} MB; records on "
        f"server {stages[0].extra['records']:.0f}; records short of their annotators {unfinished}, "
        f"over-annotated {over}; errors {len(stats.errors)}"
    )
    peak = max(s.rss_bytes for s in stages)
    return (
        f"records={args.records} push_s={stages[0].seconds:.1f} next_record_p95_ms={annotate['next_record_p95_ms']:.0f} "
        f"submit_p95_ms={annotate['submit_p95_ms']:.0f} pull_s={stages[2].seconds:.1f} report_s={stages[3].seconds:.1f} "
        f"lost={lost} duplicated={duplicated} peak_rss_gb={peak / 2**30:.2f}"
    )


def check(ws_root: Path, stats: AnnotatorStats, overlap: float) -> tuple[int, int, int, int]:
    """(lost, duplicated, records short of their annotators, records with more than they need).

    lost: acknowledged submits with no annotation in the workspace; duplicated: annotations beyond one per
    (candidate set, annotator) — impossible by construction, counted anyway."""
    with Workspace.open(ws_root) as store:
        stored = [(a.candidate_set_id, a.annotator) for a in store.iter(Annotation)]
        sets = store.ids(CandidateSet)
    acked = {(rid, user) for user, ids in stats.acked.items() for rid in ids}
    lost = len(acked - set(stored))
    duplicated = len(stored) - len(set(stored))
    per_set: dict[str, int] = {}
    for cset_id, _ in set(stored):
        per_set[cset_id] = per_set.get(cset_id, 0) + 1
    need = {s: (3 if in_overlap(s, overlap) else 1) for s in sets}
    unfinished = sum(per_set.get(s, 0) < n for s, n in need.items())
    over = sum(per_set.get(s, 0) > n for s, n in need.items())
    return lost, duplicated, unfinished, over


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--records", type=int, default=1700, help="candidate sets (16888 = the paper)")
    parser.add_argument("--annotators", type=int, default=10)
    parser.add_argument("--overlap", type=float, default=0.1, help="share of records labelled by three annotators")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--kill", action="store_true", help="SIGKILL push and pull midway and rerun them")
    parser.add_argument(
        "--kill-pull-after", type=float, default=1.0, help="seconds after pull's first page of records to kill it"
    )
    parser.add_argument(
        "--profile",
        choices=["push", "pull", "web", "worker"],
        default=None,
        help="py-spy a CLI stage (push, pull) or the server's web processes/rq worker while annotators work; "
        "the profile goes to the work folder",
    )
    parser.add_argument("--workdir", type=Path, default=None, help="keep the run's files here (default: temporary)")
    args = parser.parse_args()
    if args.workdir is not None:
        if args.workdir.exists():
            shutil.rmtree(args.workdir)
        args.workdir.mkdir(parents=True)
        print(run(args, args.workdir))
        return
    with tempfile.TemporaryDirectory(prefix="bench-annotation-scale-") as scratch:
        print(run(args, Path(scratch)))


if __name__ == "__main__":
    main()

"""Charm at the paper's size on one machine: the whole data side, every stage measured.

    PYTHONPATH=. python benchmarks/bench_paper_scale.py --scale 0.1 [--workdir DIR] [--stages simulate,push]
        [--slots 192] [--concurrency N] [--latency 0.8 --latency-sigma 0.6] [--failure-rate 0.01]
        [--roles roleplayeval_roles.json --users users.json] [--kill-simulate 0.5]

``--scale 1.0`` is the paper's size (AAM paper section 4): 16,888 dialogues of mean 12.8 turns over
1,108 characters and 230 users, six candidates each, ten annotators. Stages, each in its own child
process (so its peak RSS is its own), in this order:

  library   write the characters/users/scenes (published Charm files first when given, the rest
            generated) and ``charm-build init --empty`` + ``charm-build import`` them
  simulate  ``charm-build simulate`` with the paper roster pointed at a local OpenAI/Anthropic-compatible
            server (tests/fakes/openai_server.py): lognormal latency per call, replies of realistic
            length in zh and en, 429/5xx with Retry-After; SIGKILLed at ``--kill-simulate`` of the
            dialogues and rerun; then counts, duplicates and the LLM ledger are checked
  push      ``charm-build annotate serve`` (product defaults) + ``annotate users`` + ``annotate push``
  annotate  ten annotators through the web UI's HTTP endpoints (benchmarks/annotators.py)
  pull      ``charm-build annotate pull``; every acknowledged submission stored exactly once
  report    ``charm-build annotate report``
  export    ``charm-build export --subset all``
  rm-data   ``charm-train rm``'s data loading: tokenise and collate one epoch (benchmarks/paper_scale/rm_data.py)

``--stages`` runs a subset on an existing ``--workdir`` (stages need the ones before them). Per stage:
wall time, rate, peak RSS, database sizes. The last line reads
``scale=S dialogues=N simulate_s=... push_s=... submit_p95_ms=... next_record_p95_ms=... pull_s=...
report_s=... export_s=... lost=0 duplicated=0 peak_rss_gb=...``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.paper_scale.library import write_library
from benchmarks.paper_scale.measure import GB, ChildRun, RSSSampler, files_size, run_child
from benchmarks.paper_scale.simulation import (
    API_KEY_ENV,
    ServerShape,
    ThroughputSampler,
    check_workspace,
    done_tasks,
    server_stats,
)

PAPER_DIALOGUES = 16_888
STAGES = ("library", "simulate", "push", "annotate", "pull", "report", "export", "rm-data")
SERVER_STAGES = {"push", "annotate", "pull"}
DATASET = "charm-preference"
ARGILLA_WS = "charm"


class BenchError(RuntimeError):
    """A stage failed; the message names the stage and its log."""


@dataclass
class StageResult:
    name: str
    seconds: float
    work: int
    unit: str
    peak_rss: int
    notes: list[str] = field(default_factory=list)
    server_rss: int = 0
    sizes: dict[str, int] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        return self.work / self.seconds if self.seconds else 0.0


class Bench:
    def __init__(self, ns: argparse.Namespace, workdir: Path) -> None:
        self.ns = ns
        self.dir = workdir
        self.ws = workdir / "ws"
        self.logs = workdir / "logs"
        self.state_file = workdir / "state.json"
        self.state: dict[str, Any] = json.loads(self.state_file.read_text()) if self.state_file.exists() else {}
        self.planned = round(PAPER_DIALOGUES * ns.scale)
        self.env = {**os.environ, API_KEY_ENV: "bench", "PYTHONPATH": str(ROOT)}
        self.results: list[StageResult] = []
        self.server: subprocess.Popen | None = None

    # -- helpers -------------------------------------------------------------------------------
    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=1))

    @staticmethod
    def cli(*args: object) -> list[str]:
        return [sys.executable, "-m", "charm_builder", *map(str, args)]

    def child(self, name: str, cmd: list[str], **kwargs: Any) -> ChildRun:
        run = run_child(cmd, self.logs / f"{name}.log", self.env, **kwargs)
        if run.returncode != 0 and not run.killed:
            raise BenchError(f"stage {name} failed (exit {run.returncode}); log {run.log}:\n{run.tail()}")
        return run

    def sizes(self) -> dict[str, int]:
        return {
            "workspace_db": files_size(self.ws, ["charm.db", "charm.db-wal"]),
            "argilla_db": files_size(self.ws / "argilla", ["*.db", "*.db-wal", "*.sqlite*"]),
        }

    # -- annotation server ---------------------------------------------------------------------
    def start_server(self) -> None:
        """``charm-build annotate serve`` with the product's defaults (one web process per core, at most 4)."""
        from annotation.server.embedded import free_port

        log = (self.logs / "annotate-serve.log").open("a")
        cmd = self.cli("annotate", "serve", "--workspace", self.ws, "--port", free_port())
        self.server = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=self.env, start_new_session=True)
        deadline = time.monotonic() + 600
        info = self.ws / "argilla" / "server.json"
        while time.monotonic() < deadline:
            if self.server.poll() is not None:
                raise BenchError(f"annotate serve exited {self.server.returncode}; see {log.name}")
            if info.exists() and "Argilla is running" in (self.logs / "annotate-serve.log").read_text():
                return
            time.sleep(1)
        raise BenchError("annotate serve did not come up in 10 minutes")

    def stop_server(self) -> None:
        if self.server is not None and self.server.poll() is None:
            self.server.send_signal(signal.SIGINT)
            try:
                self.server.wait(120)
            except subprocess.TimeoutExpired:
                os.killpg(self.server.pid, signal.SIGKILL)
                self.server.wait()
        self.server = None

    def sampled(self) -> RSSSampler:
        return RSSSampler(self.server.pid if self.server is not None else os.getpid(), interval=2.0)

    # -- stages --------------------------------------------------------------------------------
    def library(self) -> StageResult:
        roles, users = self.ns.roles, self.ns.users
        files, counts = write_library(self.dir / "library", self.ns.scale, roles, users)
        bundled_scenes = ROOT / "charm_builder" / "library" / "data" / "scenes.jsonl"
        if self.ws.exists():
            shutil.rmtree(self.ws)
        init = self.child("library", self.cli("init", self.ws, "--empty"))
        imp = self.child("library", self.cli("import", "--workspace", self.ws, *files, bundled_scenes))
        records = counts["characters"] + counts["users"] + counts["scenes"]
        self.state.update(library=counts)
        return StageResult(
            "library",
            init.seconds + imp.seconds,
            records,
            "records",
            max(init.peak_rss, imp.peak_rss),
            [
                f"{counts['characters']} characters, {counts['users']} users, {counts['scenes']} generated scenes "
                f"(+18 bundled); {counts['from_files']} records from published Charm files"
            ],
        )

    def simulate(self) -> StageResult:
        from tests.fakes.openai_server import server_process, write_paper_roster

        shape = ServerShape(
            latency=self.ns.latency,
            sigma=self.ns.latency_sigma,
            slots=self.ns.slots,
            failure_rate=self.ns.failure_rate,
        )
        db = self.ws / "charm.db"
        with server_process(**shape.knobs()) as base_url:
            roster = write_paper_roster(self.dir / "roster-bench.yaml", base_url, self.ns.slots, API_KEY_ENV)
            cmd = self.cli(
                "simulate",
                "--workspace",
                self.ws,
                "--roster",
                roster,
                "--limit",
                self.planned,
                "--concurrency",
                self.ns.concurrency,
                "--seed",
                0,
            )
            kill_at = int(self.planned * self.ns.kill_simulate) if self.ns.kill_simulate else 0
            with ThroughputSampler(db, base_url) as sampler:
                runs = [self.child("simulate", cmd, kill_when=(lambda: done_tasks(db) >= kill_at) if kill_at else None)]
                at_kill, before_kill = done_tasks(db), server_stats(base_url)
                if runs[0].killed:
                    sampler.run = 1
                    runs.append(self.child("simulate", cmd))
            stats = server_stats(base_url)
        steady = sampler.steady_rate(self.planned)
        check = check_workspace(db)
        seconds = sum(r.seconds for r in runs)
        bound = shape.slots / stats["mean_latency_s"] if stats["mean_latency_s"] else 0.0
        achieved = stats["answered"] / seconds
        problems = check.problems(self.planned)
        self.state.update(
            dialogues=check.dialogues,
            simulate_duplicated=check.duplicated,
            simulate_problems=problems,
            simulate_calls_per_s=achieved,
            simulate_bound=bound,
            simulate_steady_calls_per_s=steady,
        )
        notes = [
            f"server: {stats['answered']} calls answered, {stats['failed']} refused (429/5xx), mean latency "
            f"{stats['mean_latency_s']:.2f} s, {shape.slots} slots, peak {stats['max_inflight']} in flight, "
            f"{self.ns.concurrency} dialogues in flight",
            f"calls/s {achieved:.1f} vs bound {bound:.1f} (slots / mean latency) = {achieved / bound:.2f} over the "
            f"whole stage; {steady:.1f} = {steady / bound:.2f} while 10-90% of the tasks were done; the server "
            f"held a slot {stats['mean_slot_s']:.3f} s per call on average",
            f"simulate CPU {sum(r.cpu_s for r in runs):.0f} s = {1000 * sum(r.cpu_s for r in runs) / stats['answered']:.2f} "
            f"ms per call; its event loop waited {sum(r.cpu_wait_s for r in runs):.0f} s for a CPU (other processes)",
            f"tasks {check.tasks}: {check.done} done, {check.failed} failed; {check.dialogues} dialogues, "
            f"{check.candidate_sets} sets, {check.candidates} candidates; duplicated {check.duplicated}",
            f"ledger: ${check.ledger_cost:.2f} (tasks: ${check.task_cost:.2f}); {check.ledger_paid} paid + "
            f"{check.ledger_cached} cached + {check.ledger_errors} failed calls; "
            f"tasks count {check.task_calls}; server answered - ledger paid = {stats['answered'] - check.ledger_paid}",
        ]
        if runs[0].killed:
            first = before_kill["answered"] / runs[0].seconds
            notes.insert(
                0,
                f"SIGKILL at {at_kill}/{self.planned} tasks after {runs[0].seconds:.0f} s ({first:.1f} calls/s = "
                f"{first / bound:.2f} of the bound until then), rerun {runs[1].seconds:.0f} s",
            )
        notes += [f"PROBLEM: {p}" for p in problems]
        progress = [ln for ln in runs[-1].tail(40).splitlines() if "ETA" in ln or "/min" in ln]
        if progress:
            notes.append(f"progress line: {progress[-1].strip()[:150]}")
        return StageResult("simulate", seconds, stats["answered"], "calls", max(r.peak_rss for r in runs), notes)

    def push(self) -> StageResult:
        roster = self.dir / "annotators.txt"
        roster.write_text("".join(f"annotator{i:02d}\n" for i in range(self.ns.annotators)))
        passwords = self.dir / "passwords.json"
        users = self.child(
            "push", self.cli("annotate", "users", roster, "--workspace", self.ws, "--passwords-file", passwords)
        )
        with self.sampled() as rss:
            push = self.child(
                "push",
                self.cli(
                    "annotate",
                    "push",
                    "--workspace",
                    self.ws,
                    "--min-submitted",
                    self.ns.agreement_annotators,
                    "--overlap",
                    self.ns.overlap,
                ),
            )
        self.state["push_s"] = push.seconds
        records = self.state.get("dialogues", 0)
        return StageResult(
            "push",
            push.seconds,
            records,
            "records",
            max(push.peak_rss, users.peak_rss),
            [f"users {users.seconds:.1f} s"],
            server_rss=rss.peak,
        )

    def annotate(self) -> StageResult:
        """Ten annotators through the web page's endpoints until every queue is empty (each record once,
        the ``--overlap`` share by ``--agreement-annotators``); what each had acknowledged is kept for pull."""
        from annotation.server.embedded import EmbeddedArgilla
        from benchmarks.annotators import run_annotators

        url, _ = EmbeddedArgilla.saved_connection(self.ws / "argilla")
        users = sorted(json.loads((self.dir / "passwords.json").read_text()).items())
        with self.sampled() as rss:
            stats = run_annotators(str(url), users=users, dataset=DATASET, workspace=ARGILLA_WS, seed=0)
        (self.dir / "acked.json").write_text(json.dumps(stats.acked))
        self.state["annotate"] = {
            "submit_p95_ms": round(stats.p95_ms("submit")),
            "next_record_p95_ms": round(stats.p95_ms("next_record")),
            "errors": len(stats.errors),
        }
        notes = [stats.summary(), *(f"error: {e}" for e in stats.errors[:3])]
        return StageResult("annotate", stats.wall_s, stats.submitted, "submits", 0, notes, server_rss=rss.peak)

    def pull(self) -> StageResult:
        with self.sampled() as rss:
            run = self.child("pull", self.cli("annotate", "pull", "--workspace", self.ws))
        self.state["pull_s"] = run.seconds
        lost, duplicated, notes = self.check_annotations()
        self.state["annotate"] = {**self.state.get("annotate", {}), "lost": lost, "duplicated": duplicated}
        stored = _count(self.ws / "charm.db", "SELECT COUNT(*) FROM annotations")
        return StageResult("pull", run.seconds, stored, "annotations", run.peak_rss, notes, server_rss=rss.peak)

    def check_annotations(self) -> tuple[int, int, list[str]]:
        """(lost, duplicated, notes): acknowledged submits with no annotation after the pull; annotations
        beyond one per (candidate set, annotator); records short of / beyond the annotators they need."""
        from annotation.datasets import in_overlap
        from charm_builder.store import Workspace
        from schemas import Annotation, CandidateSet

        acked_file = self.dir / "acked.json"
        acked_by = json.loads(acked_file.read_text()) if acked_file.exists() else {}
        acked = {(rid, user) for user, ids in acked_by.items() for rid in ids}
        with Workspace.open(self.ws) as store:
            stored = [(a.candidate_set_id, a.annotator) for a in store.iter(Annotation) if a.source == "human"]
            sets = store.ids(CandidateSet)
        per_set: dict[str, int] = {}
        for cset_id, _ in set(stored):
            per_set[cset_id] = per_set.get(cset_id, 0) + 1
        need = {s: (self.ns.agreement_annotators if in_overlap(s, self.ns.overlap) else 1) for s in sets}
        short = sum(per_set.get(s, 0) < n for s, n in need.items())
        over = sum(per_set.get(s, 0) > n for s, n in need.items())
        lost, duplicated = len(acked - set(stored)), len(stored) - len(set(stored))
        agreement = sum(n > 1 for n in need.values())
        notes = [
            f"acknowledged {len(acked)}, stored {len(stored)}: lost {lost}, duplicated {duplicated}; "
            f"{agreement} records for {self.ns.agreement_annotators} annotators; short of their annotators {short}, "
            f"over {over}"
        ]
        return lost, duplicated, notes

    def report(self) -> StageResult:
        run = self.child("report", self.cli("annotate", "report", "--workspace", self.ws))
        n = _count(self.ws / "charm.db", "SELECT COUNT(*) FROM annotations")
        self.state["report_s"] = run.seconds
        return StageResult("report", run.seconds, n, "annotations", run.peak_rss)

    def export(self) -> StageResult:
        out = self.dir / "export"
        if out.exists():
            shutil.rmtree(out)
        run = self.child("export", self.cli("export", "--workspace", self.ws, "--subset", "all", "--out", out))
        self.state["export_s"] = run.seconds
        sets = _count(self.ws / "charm.db", "SELECT COUNT(*) FROM candidate_sets")
        size = files_size(out, ["*"])
        return StageResult("export", run.seconds, sets, "sets", run.peak_rss, [f"export {size / 1e6:.1f} MB"])

    def rm_data(self) -> StageResult:
        cmd = [sys.executable, "-m", "benchmarks.paper_scale.rm_data", str(self.dir / "export" / "preferenceTraining")]
        run = self.child("rm-data", cmd)
        result = json.loads(run.log.read_text().strip().splitlines()[-1])
        return StageResult(
            "rm-data",
            run.seconds,
            result["pairs"],
            "pairs",
            run.peak_rss,
            [f"{result['batches']} batches, {result['tokens']:,} tokens; loading itself {result['seconds']:.1f} s"],
        )

    # -- driver --------------------------------------------------------------------------------
    def run(self, stages: list[str]) -> None:
        methods = {name: getattr(self, name.replace("-", "_")) for name in STAGES}
        try:
            for name in stages:
                if name in SERVER_STAGES and self.server is None:
                    self.start_server()
                print(f"== {name}", flush=True)
                result = methods[name]()
                result.sizes = self.sizes()
                self.results.append(result)
                self.state.setdefault("stages", {})[name] = {
                    "seconds": result.seconds,
                    "peak_rss": result.peak_rss,
                    "server_rss": result.server_rss,
                }
                self.save()
                print(line_of(result), flush=True)
                for note in result.notes:
                    print(f"     {note}", flush=True)
                if not (set(stages[stages.index(name) + 1 :]) & SERVER_STAGES):
                    self.stop_server()
        finally:
            self.stop_server()


def _count(db: Path, sql: str) -> int:
    import sqlite3

    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchone()[0]
    finally:
        conn.close()


HEADER = f"{'stage':<9} {'wall s':>8} {'work':>16} {'rate/s':>9} {'RSS GB':>7} {'server GB':>9} {'ws MB':>7} {'argilla MB':>10}"


def line_of(r: StageResult) -> str:
    return (
        f"{r.name:<9} {r.seconds:>8.1f} {r.work:>9,} {r.unit:<6} {r.rate:>9.1f} {r.peak_rss / GB:>7.2f} "
        f"{r.server_rss / GB:>9.2f} {r.sizes.get('workspace_db', 0) / 1e6:>7.0f} "
        f"{r.sizes.get('argilla_db', 0) / 1e6:>10.0f}"
    )


def summary(bench: Bench) -> str:
    st = bench.state
    ann = st.get("annotate", {})
    stages = st.get("stages", {})
    peak = max([s["peak_rss"] for s in stages.values()] or [0])

    def secs(key: str) -> str:
        return f"{st[key]:.1f}" if key in st else "-"

    simulate_s = f"{stages['simulate']['seconds']:.1f}" if "simulate" in stages else "-"
    return (
        f"scale={bench.ns.scale:g} dialogues={st.get('dialogues', 0)} simulate_s={simulate_s} push_s={secs('push_s')} "
        f"submit_p95_ms={ann.get('submit_p95_ms', '-')} next_record_p95_ms={ann.get('next_record_p95_ms', '-')} "
        f"pull_s={secs('pull_s')} report_s={secs('report_s')} export_s={secs('export_s')} "
        f"lost={ann.get('lost', 0)} duplicated={st.get('simulate_duplicated', 0) + ann.get('duplicated', 0)} "
        f"peak_rss_gb={peak / GB:.2f}"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scale", type=float, default=0.1, help="1.0 = the paper's size (16,888 dialogues)")
    ap.add_argument(
        "--stages",
        default=",".join(STAGES),
        help=f"comma-separated subset of {','.join(STAGES)} (later stages need a --workdir with the earlier ones)",
    )
    ap.add_argument("--workdir", type=Path, default=None, help="keep the workspace and logs here (default: a temp dir)")
    ap.add_argument("--slots", type=int, default=192, help="requests the test server processes at once")
    ap.add_argument(
        "--concurrency",
        type=int,
        default=None,
        help="simulate --concurrency (dialogues in flight; default 1.5 x --slots: a dialogue alternates between "
        "one call and six, and spends time between calls, so fewer would leave server slots idle)",
    )
    ap.add_argument("--latency", type=float, default=0.8, help="median seconds per call (lognormal)")
    ap.add_argument("--latency-sigma", type=float, default=0.6, help="lognormal sigma (0.6: p99 about 4x median)")
    ap.add_argument("--failure-rate", type=float, default=0.01, help="share of calls refused with 429/5xx")
    ap.add_argument("--kill-simulate", type=float, default=0.5, help="SIGKILL simulate at this share (0: never)")
    ap.add_argument("--annotators", type=int, default=10)
    ap.add_argument("--overlap", type=float, default=0.1, help="share of records labelled by several annotators")
    ap.add_argument("--agreement-annotators", type=int, default=3, help="annotators of each of those records")
    ap.add_argument("--roles", type=Path, default=None, help="published Charm role file (roleplayeval_roles.json)")
    ap.add_argument("--users", type=Path, default=None, help="published Charm user file (users.json)")
    ns = ap.parse_args()
    stages = [s.strip() for s in ns.stages.split(",") if s.strip()]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        ap.error(f"--stages: unknown {', '.join(unknown)}; choose from {', '.join(STAGES)}")
    stages = [s for s in STAGES if s in stages]
    ns.concurrency = ns.concurrency or round(1.5 * ns.slots)
    with tempfile.TemporaryDirectory(prefix="bench-paper-scale-") as scratch:
        workdir = (ns.workdir or Path(scratch)).resolve()
        workdir.mkdir(parents=True, exist_ok=True)
        bench = Bench(ns, workdir)
        print(f"scale {ns.scale:g}: {bench.planned} dialogues; workdir {workdir}", flush=True)
        print(HEADER, flush=True)
        start = time.perf_counter()
        try:
            bench.run(stages)
        except BenchError as exc:
            print(f"FAILED: {exc}", file=sys.stderr)
            sys.exit(1)
        print()
        print(HEADER)
        for result in bench.results:
            print(line_of(result))
        print(f"total wall {time.perf_counter() - start:.0f} s (annotation server start and stop included)")
        print(summary(bench))


if __name__ == "__main__":
    main()

"""Benchmark `charm-build export --subset all` on a synthetic workspace.

Synthesises N dialogues (default 100,000) x 6 candidates x 3 annotations with bulk
``executemany`` inside one transaction (reused on later runs when the same size is cached), then
runs the export in a child process and reports its wall time and peak RSS (the child's
``ru_maxrss``, so the synthesis does not count). Target: <= 20 s and <= 2 GB on 2 cores.

    PYTHONPATH=. python benchmarks/bench_export.py [--dialogues 100000] [--workspace DIR] [--format hf]

The last line is ``export_seconds=X peak_rss_mb=Y``.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LABELS = "ABCDEF"
MODELS = ["gpt-4o", "claude-3.5-sonnet", "doubao-character", "qwen2.5-7b", "qwen2.5-32b", "qwen2.5-72b"]
SUBS = ["anime", "comics", "novels", "films", "tv", "games", "scientists", "musicians", "actors", "custom"]
PRIMARY = {"scientists": "real_person", "musicians": "real_person", "actors": "real_person", "custom": "original"}
WORDS = [
    "the",
    "moon",
    "river",
    "lantern",
    "sword",
    "quiet",
    "tea",
    "storm",
    "letter",
    "garden",
    "castle",
    "promise",
    "winter",
    "dragon",
    "song",
    "festival",
    "harbour",
    "forest",
    "mirror",
    "secret",
    "journey",
]


def _sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n)).capitalize() + "."


def synthesise(root: Path, n_dialogues: int, seed: int = 0) -> None:
    """Create a workspace with n dialogues, one 6-candidate set each, 3 submitted annotations per set."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from charm_builder.store import Workspace

    rng = random.Random(seed)
    n_chars = max(10, n_dialogues // 100)
    with Workspace.create(root) as ws, ws.transaction() as conn:
        chars = []
        for i in range(n_chars):
            sub = SUBS[i % len(SUBS)]
            cid = f"chr_{i:016x}"
            data = {
                "id": cid,
                "name": {"zh": f"角色{i}", "en": f"Character {i}"},
                "primary_category": PRIMARY.get(sub, "fiction"),
                "sub_category": sub,
                "source": None,
                "description": None,
                "profile": {"zh": f"角色{i}的简介。", "en": f"Profile of character {i}."},
                "system_prompt": {"zh": f"你是角色{i}。", "en": f"You are character {i}. Stay in role."},
                "relatives": [],
            }
            chars.append((cid, json.dumps(data, ensure_ascii=False), data["primary_category"], sub))
        conn.executemany("INSERT INTO characters (id, data, primary_category, sub_category) VALUES (?,?,?,?)", chars)
        dialogues, sets, anns = [], [], []
        for i in range(n_dialogues):
            cid = chars[i % n_chars][0]
            lang = "zh" if i % 2 else "en"
            dim = "knowledge_consistency" if (i // 2) % 2 else "attractiveness"
            turns = [
                {
                    "role": "user" if t % 2 == 0 else "character",
                    "speaker": "Ann" if t % 2 == 0 else "Hero",
                    "text": f"{i}-{t} " + _sentence(rng, 14),
                }
                for t in range(11)
            ]
            did, sid = f"dlg_{i:016x}", f"cset_{i:016x}"
            dlg = {
                "id": did,
                "character_id": cid,
                "user_id": None,
                "scene_id": None,
                "language": lang,
                "target_dimension": dim,
                "turns": turns,
                "provenance": {
                    "source": "simulated",
                    "source_file": None,
                    "models": {"user": "qwen2.5-72b", "character": "doubao-character"},
                    "params": {"temperature": 0.9, "max_turns": 13},
                    "seed": i,
                    "original_turns": None,
                    "notes": [],
                },
            }
            dialogues.append((did, json.dumps(dlg), cid, lang, dim, "simulated"))
            cands = [
                {
                    "label": lab,
                    "model_id": MODELS[k],
                    "text": f"{i}{lab} " + _sentence(rng, 22),
                    "params": {},
                    "input_tokens": 900,
                    "output_tokens": 40,
                    "latency_s": 1.2,
                    "cost_usd": 0.001,
                    "flags": [],
                }
                for k, lab in enumerate(LABELS)
            ]
            sets.append((sid, json.dumps({"id": sid, "dialogue_id": did, "context": turns, "candidates": cands}), did))
            best, worst = rng.sample(LABELS, 2)
            for a in range(3):
                b, w = (best, worst) if rng.random() < 0.7 else tuple(rng.sample(LABELS, 2))
                aid = f"ann_{i:014x}{a:02x}"
                ann = {
                    "id": aid,
                    "candidate_set_id": sid,
                    "annotator": f"annotator{(i + a) % 10}",
                    "status": "submitted",
                    "best": b,
                    "worst": w,
                    "dimension_notes": {},
                    "created_at": "2025-01-01T00:00:00Z",
                    "updated_at": "2025-01-01T00:00:00Z",
                }
                anns.append((aid, json.dumps(ann), sid, ann["annotator"], "submitted"))
            if len(anns) >= 150_000:
                _flush(conn, dialogues, sets, anns)
        _flush(conn, dialogues, sets, anns)


def _flush(conn, dialogues: list, sets: list, anns: list) -> None:
    conn.executemany(
        "INSERT INTO dialogues (id, data, character_id, language, target_dimension, source) VALUES (?,?,?,?,?,?)",
        dialogues,
    )
    conn.executemany("INSERT INTO candidate_sets (id, data, dialogue_id) VALUES (?,?,?)", sets)
    conn.executemany("INSERT INTO annotations (id, data, candidate_set_id, annotator, status) VALUES (?,?,?,?,?)", anns)
    dialogues.clear(), sets.clear(), anns.clear()


def child(ws_dir: str, out: str, fmt: str) -> None:
    """Run the export (in a fresh process) and print its wall time."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from rich.console import Console

    from charm_builder.export import ExportOptions, export_workspace
    from charm_builder.store import Workspace

    start = time.perf_counter()
    with Workspace.open(ws_dir) as ws:
        summary = export_workspace(
            ws, Path(out), ExportOptions(subset="all", fmt=fmt), overwrite=True, console=Console(stderr=True)
        )
    seconds = time.perf_counter() - start
    print(json.dumps({"seconds": seconds, "rows": summary.rows}))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dialogues", type=int, default=100_000)
    p.add_argument("--workspace", type=Path, default=None, help="Reused when it already holds the same size.")
    p.add_argument("--format", default="hf", choices=["hf", "parquet", "jsonl"])
    p.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.child:
        child(*args.child)
        return
    ws_dir = args.workspace or Path(tempfile.gettempdir()) / f"charm-bench-export-{args.dialogues}"
    marker = ws_dir / "bench-size.txt"
    if not (marker.exists() and marker.read_text() == str(args.dialogues)):
        shutil.rmtree(ws_dir, ignore_errors=True)
        t = time.perf_counter()
        synthesise(ws_dir, args.dialogues)
        marker.write_text(str(args.dialogues))
        print(
            f"synthesised {args.dialogues} dialogues x 6 candidates x 3 annotations in "
            f"{time.perf_counter() - t:.1f}s -> {ws_dir}",
            file=sys.stderr,
        )
    out = ws_dir / "exports" / "bench"
    proc = subprocess.run(
        [sys.executable, __file__, "--child", str(ws_dir), str(out), args.format],
        check=False,
        stdout=subprocess.PIPE,
        text=True,
    )
    if proc.returncode:
        sys.exit(proc.returncode)
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    peak_mb = usage.ru_maxrss / 1024  # KiB on Linux
    print(f"rows: {json.dumps(result['rows'])}")
    print(
        f"child cpu_seconds={usage.ru_utime + usage.ru_stime:.1f} (user+sys, including imports; "
        f"compare with export_seconds when the machine is shared)"
    )
    print(f"export_seconds={result['seconds']:.2f} peak_rss_mb={peak_mb:.0f}")


if __name__ == "__main__":
    main()

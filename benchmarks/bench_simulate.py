"""Simulator throughput: dialogues/min and tokens/s, (a) on the offline roster (real local models
on this CPU), once with the local batcher off (one request at a time) and once on (requests for
the same weights decoded together), and (b) against a local OpenAI-compatible server that
answers in 50 ms, at 64 dialogues in flight (the server runs in its own process).

    PYTHONPATH=. python benchmarks/bench_simulate.py [--offline-limit 4] [--server-limit 256] [--offline-only]
        [--precision auto|fp32|bf16]

Peak RSS of the process is printed. Last line: ``offline_dialogues_per_min=X offline_tokens_per_s=Y
[server_dialogues_per_min=Z server_tokens_per_s=W] candidate_batch_speedup=C offline_batch_speedup=S``
(C: the five SmolLM2 candidates of one context decoded one by one / in one batch; S: offline
tokens/s of the whole simulation with batching on / off).
"""

from __future__ import annotations

import argparse
import resource
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import yaml

from charm_builder.importers import import_files
from charm_builder.library import library_files
from charm_builder.llm import LLMClient, Roster, load_roster
from charm_builder.llm.precision import resolve as resolve_precision
from charm_builder.simulate import RunOptions, Simulation, plan_dialogues
from charm_builder.store import Workspace
from tests.fakes.openai_server import server_process


def offline_roster(precision: str) -> Roster:
    """The offline roster with every entry at ``precision``."""
    roster = load_roster("offline")
    models = {n: spec.model_copy(update={"precision": precision}) for n, spec in roster.models.items()}
    return roster.model_copy(update={"models": models})


def run(
    roster: str | Roster, limit: int, turns: tuple[int, int], concurrency: int, params: dict
) -> tuple[float, float, str]:
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "ws")
        import_files(ws, library_files())
        client = LLMClient(roster, db=ws.db_path, run_id="bench")
        names = client.roster.names
        opts = RunOptions(
            user_model=names[0],
            character_model=names[1],
            candidate_models=names[:6],
            concurrency=concurrency,
            params=params,
            candidate_params=params,
        )
        sim = Simulation(ws, client, opts, spent=client.total_cost, flush=client.flush)
        languages = tuple(client.roster.languages_of(names[:6]) or ("zh", "en"))
        specs = plan_dialogues(ws, limit=limit, seed=0, turns=turns, languages=languages)

        rep = sim.run_sync(specs, close=client.aclose)
        for problem in rep.problems[:3]:
            print("  problem:", problem)
        ws.close()
    line = (
        f"dialogues={rep.dialogues} candidate_sets={rep.candidate_sets} failed={rep.failed} errors={rep.errors} calls={rep.tally.calls} "
        f"tokens={rep.tally.input_tokens + rep.tally.output_tokens} seconds={rep.seconds:.1f}"
    )
    return rep.dialogues_per_min, rep.tokens_per_s, line


def offline(
    limit: int, turns: int, concurrency: int, max_tokens: int, max_batch: int, precision: str = "auto"
) -> tuple[float, float]:
    """The offline roster with the local batcher off (``max_batch`` 1) or on."""
    from charm_builder.llm.providers import local

    local.set_max_batch(max_batch)
    batchers = {}
    roster = offline_roster(precision)
    for spec in roster.models.values():
        batcher = local.load(spec).batcher  # load time is not generation time: both runs start loaded
        batchers[spec.model] = (batcher, len(batcher.batch_sizes), batcher.busy_s)
    dpm, tps, line = run(roster, limit, (turns, turns), concurrency, {"max_tokens": max_tokens})
    mode = f"batched (up to {max_batch})" if max_batch > 1 else "unbatched"
    mode += f", {resolve_precision(precision)}"
    print(
        f"offline roster, {mode}, {concurrency} dialogues in flight: {line} -> {dpm:.2f} dialogues/min, "
        f"{tps:.1f} tokens/s",
        flush=True,
    )
    for model, (batcher, n, busy) in batchers.items():
        batches = ", ".join(
            f"{b}: {t:.1f}s" for b, t in zip(batcher.batch_sizes[n:], batcher.batch_seconds[n:], strict=True)
        )
        print(f"  {model}: batches (size: seconds) [{batches}], decoding {batcher.busy_s - busy:.1f} s", flush=True)
    return dpm, tps


def candidates_of_one_context(max_tokens: int = 32, precision: str = "auto") -> float:
    """Seconds for the five SmolLM2 candidates of one context, one at a time vs in one batch;
    returns the speedup (the candidate round, without the dialogue turns and Gemma around it)."""
    import time

    from charm_builder.llm.providers import local
    from charm_builder.llm.types import ChatParams
    from charm_builder.simulate.prompts import as_chat, character_system_prompt
    from schemas import Character, Message

    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.create(Path(tmp) / "ws")
        import_files(ws, library_files())
        character = next(iter(ws.iter(Character)))
        ws.close()
    context = [Message(role="user", speaker="Ann", text="Hello! I have wanted to meet you. What are you doing today?")]
    chat = as_chat(character_system_prompt(character, None, "en"), context, "character", "en")
    client = LLMClient(offline_roster(precision))
    roster = client.roster
    requests = [  # as LLMClient sends them: the entry's instruction and params applied
        client._prepare(spec, chat, ChatParams(max_tokens=max_tokens, seed=1), None)
        for spec in roster.models.values()
        if spec.model == "smollm2-135m-instruct"
    ]
    loaded = local.load(roster.get("smollm2-plain"))
    start = time.perf_counter()
    for request in requests:
        local.decode(loaded, [request])
    alone = time.perf_counter() - start
    start = time.perf_counter()
    local.decode(loaded, requests)
    together = time.perf_counter() - start
    print(
        f"{len(requests)} SmolLM2 candidates of one context: {alone:.1f} s one at a time, {together:.1f} s "
        f"in one batch ({alone / together:.2f}x)",
        flush=True,
    )
    return alone / together


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--offline-limit", type=int, default=4)
    ap.add_argument("--offline-turns", type=int, default=1, help="the demo: 3")
    ap.add_argument("--offline-max-tokens", type=int, default=32, help="per turn and candidate (the demo: 48)")
    ap.add_argument("--offline-concurrency", type=int, default=4)
    ap.add_argument("--server-limit", type=int, default=256)
    ap.add_argument("--server-turns", type=int, default=13)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--offline-only", action="store_true", help="skip the 50 ms server part")
    ap.add_argument("--precision", default="auto", choices=["auto", "fp32", "bf16"], help="local models")
    ns = ap.parse_args()

    from charm_builder.llm.providers.local import MAX_BATCH

    cand_speedup = candidates_of_one_context(precision=ns.precision)
    lanes = (ns.offline_limit, ns.offline_turns, ns.offline_concurrency, ns.offline_max_tokens)
    _, off_tps_1 = offline(*lanes, 1, ns.precision)
    off_dpm, off_tps = offline(*lanes, MAX_BATCH, ns.precision)
    speedup = off_tps / off_tps_1 if off_tps_1 else 0.0
    print(
        f"offline batching: {off_tps_1:.1f} -> {off_tps:.1f} tokens/s ({speedup:.2f}x); "
        f"peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 / 1024:.2f} GB",
        flush=True,
    )
    server = ""
    if not ns.offline_only:
        with server_process(latency=0.05, reply="roleplay") as base_url, tempfile.TemporaryDirectory() as tmp:
            roster = Path(tmp) / "server.yaml"
            models = {
                f"m{i}": {"provider": "openai", "model": f"m{i}", "base_url": base_url + "/v1", "concurrency": 64}
                for i in range(6)
            }
            roster.write_text(yaml.safe_dump({"name": "bench", "models": models}))
            srv_dpm, srv_tps, line = run(
                str(roster), ns.server_limit, (ns.server_turns, ns.server_turns), ns.concurrency, {}
            )
        print(
            f"50 ms server, {ns.concurrency} dialogues in flight: {line} -> {srv_dpm:.1f} dialogues/min, "
            f"{srv_tps:.0f} tokens/s",
            flush=True,
        )
        ideal = 60 / (0.05 * (ns.server_turns + 1))  # per dialogue lane: turns + one parallel candidate round
        print(f"ideal per lane {ideal:.1f} dialogues/min x {ns.concurrency} lanes = {ideal * ns.concurrency:.0f}/min")
        server = f" server_dialogues_per_min={srv_dpm:.1f} server_tokens_per_s={srv_tps:.0f}"
    print(
        f"offline_dialogues_per_min={off_dpm:.2f} offline_tokens_per_s={off_tps:.1f}{server} "
        f"candidate_batch_speedup={cand_speedup:.2f} offline_batch_speedup={speedup:.2f}"
    )


if __name__ == "__main__":
    main()

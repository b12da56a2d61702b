"""Throughput of the LLM layer against a local OpenAI-compatible server that answers in 50 ms.

Sends N chat requests (all distinct, so no cache hits) at concurrency C through
``LLMClient.chat_many`` with a real SQLite cache + ledger, and reports achieved throughput as
a fraction of the ideal C / latency, plus the per-request overhead. The fake server runs in a
separate process (on uvloop when installed, as vLLM's server does) so it does not compete with
the client's event loop for the GIL.

For scale it runs bare aiohttp on the same job with no LLM layer at all (one session, C
connections); "ours" is the whole layer (params, cache key, SQLite cache lookup + write,
limiter, retries, ledger) on top of aiohttp. ``--rounds R`` alternates ours and bare R times (the
machine may be busy: every round is printed; the ratios use the best round of each). It also
times bare aiohttp with ``trust_env=True``, which looks proxies and ``.netrc`` up per request
(why ``providers.base.env_proxy`` resolves the proxy once per model instead).

Optionally (``--distilabel-python PATH``, default /work/.venv-distilabel/bin/python if it
exists) runs distilabel's ``OpenAILLM`` on the same job in that interpreter and prints
``ratio_to_distilabel`` (our throughput / theirs); without it, says it was skipped.

    PYTHONPATH=. python benchmarks/bench_generation.py [--n 2000] [--concurrency 64] [--rounds 2]

Last line: ``ratio_to_ideal=X ratio_to_aiohttp=Y``.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from charm_builder.llm import LLMClient, ModelSpec, Roster
from tests.fakes.openai_server import server_process

DISTILABEL_SCRIPT = r"""
import asyncio, json, sys, time
from distilabel.models.llms import OpenAILLM
base_url, n, conc = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
llm = OpenAILLM(model="bench-model", base_url=base_url, api_key="sk-bench", max_retries=0, timeout=30)
llm.load()
inputs = [[{"role": "user", "content": f"request {i} for the benchmark"}] for i in range(n)]
async def main():
    sem = asyncio.Semaphore(conc)
    async def one(x):
        async with sem:
            return await llm.agenerate(input=x, max_new_tokens=16)
    t0 = time.perf_counter()
    out = await asyncio.gather(*(one(x) for x in inputs))
    return time.perf_counter() - t0, out
elapsed, out = asyncio.run(main())
ok = sum(1 for o in out if o and o["generations"] and o["generations"][0])
print(json.dumps({"elapsed": elapsed, "ok": ok}))
"""


async def run_ours(base_url: str, n: int, concurrency: int, db: str) -> tuple[float, float, int]:
    roster = Roster(
        name="bench",
        models={
            "bench": ModelSpec(
                name="bench",
                provider="openai",
                model="bench-model",
                base_url=f"{base_url}/v1",
                concurrency=concurrency,
                price_input=1.0,
                price_output=2.0,
            )
        },
    )
    conversations = [[{"role": "user", "content": f"request {i} for the benchmark"}] for i in range(n)]
    async with LLMClient(roster, db=db, run_id="bench") as client:
        await client.chat("bench", [{"role": "user", "content": "warm-up"}], {"max_tokens": 16})
        cpu0, t0 = time.process_time(), time.perf_counter()
        results = await client.chat_many("bench", conversations, {"max_tokens": 16})
        elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    ok = sum(1 for r in results if not isinstance(r, Exception))
    return elapsed, cpu, ok


async def run_bare(base_url: str, n: int, concurrency: int, trust_env: bool = False) -> tuple[float, float]:
    """Bare aiohttp posts with no LLM layer, ``concurrency`` at a time; (elapsed, client CPU) seconds."""
    import aiohttp

    url, headers = f"{base_url}/v1/chat/completions", {"content-type": "application/json"}
    todo = iter(range(n))
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency), trust_env=trust_env)

    async def worker() -> None:
        for i in todo:
            body = {"model": "bench-model", "max_tokens": 16, "messages": [{"role": "user", "content": f"bare {i}"}]}
            async with session.post(url, data=json.dumps(body).encode(), headers=headers) as resp:
                json.loads(await resp.read())

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    await session.close()
    return elapsed, cpu


def run_distilabel(python: str, base_url: str, n: int, concurrency: int) -> float | None:
    proc = subprocess.run(
        [python, "-c", DISTILABEL_SCRIPT, f"{base_url}/v1", str(n), str(concurrency)],
        check=False,
        capture_output=True,
        text=True,
        timeout=600,
    )
    if proc.returncode != 0:
        print(f"distilabel run failed: {proc.stderr.strip().splitlines()[-1:]}")
        return None
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    print(f"distilabel: {data['ok']}/{n} ok in {data['elapsed']:.3f}s -> {n / data['elapsed']:.0f} req/s")
    return data["elapsed"]


def main() -> None:
    ap = argparse.ArgumentParser(description="LLM layer throughput benchmark")
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency", type=float, default=0.05)
    ap.add_argument("--rounds", type=int, default=2, help="alternate ours / bare aiohttp this many times")
    default_dl = "/work/.venv-distilabel/bin/python"
    ap.add_argument("--distilabel-python", default=default_dl if os.path.exists(default_dl) else "")
    ns = ap.parse_args()
    ideal_rps = ns.concurrency / ns.latency
    loop = "uvloop" if importlib.util.find_spec("uvloop") else "asyncio"
    print(
        f"server: 127.0.0.1 fake, {ns.latency * 1000:.0f} ms latency, separate process on {loop}; "
        f"{ns.n} requests at concurrency {ns.concurrency} (ideal {ideal_rps:.0f} req/s)"
    )
    ours, bare = [], []
    with server_process(latency=ns.latency) as base_url, tempfile.TemporaryDirectory() as tmp:
        for r in range(ns.rounds):
            elapsed, cpu, ok = asyncio.run(run_ours(base_url, ns.n, ns.concurrency, f"{tmp}/bench{r}.db"))
            ours.append(elapsed)
            overhead_ms = (elapsed * ns.concurrency / ns.n - ns.latency) * 1000
            print(
                f"round {r + 1} ours: {ok}/{ns.n} ok in {elapsed:.3f}s -> {ns.n / elapsed:.0f} req/s "
                f"= {ns.n / elapsed / ideal_rps:.3f} of ideal; overhead {overhead_ms:.2f} ms wall a request, "
                f"{cpu / ns.n * 1000:.3f} ms client CPU"
            )
            elapsed, cpu = asyncio.run(run_bare(base_url, ns.n, ns.concurrency))
            bare.append(elapsed)
            print(
                f"round {r + 1} bare aiohttp (no LLM layer): {ns.n / elapsed:.0f} req/s "
                f"= {ns.n / elapsed / ideal_rps:.3f} of ideal; {cpu / ns.n * 1000:.3f} ms client CPU"
            )
        elapsed, cpu = asyncio.run(run_bare(base_url, ns.n, ns.concurrency, trust_env=True))
        print(
            f"bare aiohttp with trust_env=True: {ns.n / elapsed:.0f} req/s = {ns.n / elapsed / ideal_rps:.3f} "
            f"of ideal; {cpu / ns.n * 1000:.3f} ms client CPU"
        )
        print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        if ns.distilabel_python:
            theirs = run_distilabel(ns.distilabel_python, base_url, ns.n, ns.concurrency)
            if theirs:
                print(f"ratio_to_distilabel={theirs / min(ours):.2f}")
        else:
            print("distilabel: skipped (no interpreter with distilabel; pass --distilabel-python PATH)")
    print(f"ratio_to_ideal={ns.n / min(ours) / ideal_rps:.3f} ratio_to_aiohttp={min(bare) / min(ours):.3f}")


if __name__ == "__main__":
    main()

"""Client cost of a model call: raw clients vs the lean transport vs litellm vs `ModelPool.complete`.

Starts a zero-latency OpenAI-compatible server on loopback (`python -m maslab.testing`, in its own
process so that it does not share the clients' interpreter lock), drives the same number of chat
completions at the same concurrency through each client and prints, per client, calls/s and the
client CPU per call (`time.process_time` over all calls, so threads count too), the median of
`--repeats` interleaved runs:

* raw `httpx.AsyncClient`, raw `aiohttp.ClientSession`, the `openai` SDK's `AsyncOpenAI` — the
  candidates for the lean transport;
* `lean transport`: `maslab.transport.LeanClient.chat` (request built directly, reply parsed);
* `litellm.acompletion`;
* `ModelPool.complete` (cache off) on the lean route and on the litellm route.

It ends with the ratios the targets are stated in (`pool/httpx calls/s`, `pool/litellm ratio`) and
the import cost of the first model call of a local-only run (measured in a fresh interpreter, with
whether litellm was imported).

    python benchmarks/overhead.py [--calls 1000] [--concurrency 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

from maslab.testing import server_process

MESSAGES = [{"role": "user", "content": "ping"}]
BODY = {"model": "fake-model", "messages": MESSAGES}


async def drive(call: Callable[[int], Awaitable[None]], calls: int, concurrency: int) -> tuple[float, float]:
    """(calls/s, client CPU ms per call) of `calls` calls with `concurrency` in flight."""
    it = iter(range(calls))

    async def runner() -> None:
        for i in it:
            await call(i)

    cpu, start = time.process_time(), time.perf_counter()
    await asyncio.gather(*(runner() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - start, time.process_time() - cpu
    return calls / wall, 1000 * cpu / calls


def fake_server(*args: str) -> contextlib.AbstractContextManager[str]:
    """The fake server in its own process, answering `pong`; yields its api_base."""
    return server_process("pong", *args)


FIRST_CALL = """
import asyncio, json, sys, time
from maslab.models import ModelPool
pool = ModelPool.from_dict({"default": "m", "models": {"m": {"endpoints": [
    {"model": "openai/fake-model", "api_base": sys.argv[1]}]}}})
import langgraph.graph  # what a run has imported before its first call (its compiled graph)
before = set(sys.modules)
async def main():
    t = time.perf_counter(); await pool.complete("m", "ping"); first = time.perf_counter() - t
    t = time.perf_counter(); await pool.complete("m", "ping"); second = time.perf_counter() - t
    new = sorted(m for m in set(sys.modules) - before if "." not in m)
    print(json.dumps({"first": first, "second": second, "litellm": "litellm" in sys.modules, "new": new}))
asyncio.run(main())
"""


def first_call(api_base: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", FIRST_CALL, api_base], capture_output=True, text=True, timeout=120)
    if proc.returncode:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


async def main(calls: int, concurrency: int, repeats: int) -> None:
    import aiohttp
    import httpx
    import openai

    from maslab.models import ModelPool
    from maslab.transport import Call, LeanClient, import_litellm

    litellm = import_litellm()
    with fake_server() as api_base:
        limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
        async with httpx.AsyncClient(base_url=api_base, timeout=30, limits=limits) as hx, \
                aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            sdk = openai.AsyncOpenAI(base_url=api_base, api_key="no-key", max_retries=0, timeout=30)
            lean = LeanClient(api_base)
            url = f"{api_base}/chat/completions"

            async def raw_httpx(i: int) -> None:
                r = await hx.post("/chat/completions", json=BODY)
                r.raise_for_status()
                r.json()["choices"][0]["message"]["content"]

            async def raw_aiohttp(i: int) -> None:
                async with session.post(url, json=BODY) as r:
                    r.raise_for_status()
                    (await r.json())["choices"][0]["message"]["content"]

            async def openai_sdk(i: int) -> None:
                r = await sdk.chat.completions.create(model="fake-model", messages=MESSAGES)  # type: ignore[arg-type]
                assert r.choices[0].message.content is not None

            async def lean_transport(i: int) -> None:
                await lean.chat(Call("m", api_base, "openai/fake-model", api_base, None, 30.0, MESSAGES, {}))

            async def raw_litellm(i: int) -> None:
                await litellm.acompletion(model="openai/fake-model", api_base=api_base, api_key="no-key",
                                          messages=MESSAGES, timeout=30, max_retries=0)

            def pool_on(transport: str) -> ModelPool:
                return ModelPool.from_dict({"default": "fake", "models": {"fake": {"endpoints": [
                    {"model": "openai/fake-model", "api_base": api_base, "max_concurrency": concurrency,
                     "transport": transport}]}}})

            lean_pool, litellm_pool = pool_on("lean"), pool_on("litellm")

            async def pool_lean(i: int) -> None:
                await lean_pool.complete("fake", MESSAGES, agent="bench")

            async def pool_litellm(i: int) -> None:
                await litellm_pool.complete("fake", MESSAGES, agent="bench")

            clients = {"raw httpx": raw_httpx, "raw aiohttp": raw_aiohttp, "openai SDK (AsyncOpenAI)": openai_sdk,
                       "lean transport": lean_transport, "litellm.acompletion": raw_litellm,
                       "pool, lean route": pool_lean, "pool, litellm route": pool_litellm}
            for fn in clients.values():  # warm up connections, imports and caches
                await drive(fn, 100, concurrency)
            runs: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
            for _ in range(repeats):  # interleaved: a busy machine slows every client alike
                for name, fn in clients.items():
                    runs[name].append(await drive(fn, calls, concurrency))
            await sdk.close()
        first = [first_call(api_base) for _ in range(repeats)]

    med = {name: (statistics.median(r[0] for r in rs), statistics.median(r[1] for r in rs)) for name, rs in runs.items()}
    print(f"{calls} calls at {concurrency} in flight, zero-latency fake server in its own process, "
          f"median of {repeats}")
    print(f"{'client':<26}{'calls/s':>10}{'client CPU ms/call':>21}")
    for name, (rate, cpu) in med.items():
        print(f"{name:<26}{rate:>10.0f}{cpu:>21.3f}")
    pool_rate, pool_cpu = med["pool, lean route"]
    print(f"pool (lean) client CPU per call: {pool_cpu:.3f} ms (target ≤ 1 ms)")
    print(f"pool (lean)/httpx calls/s: {pool_rate / med['raw httpx'][0]:.2f} (target ≥ 0.9)")
    print(f"pool/litellm ratio: {pool_rate / med['litellm.acompletion'][0]:.2f}")
    extra = statistics.median(f["first"] - f["second"] for f in first)
    print(f"first model call of a local-only run: +{extra:.3f} s over the second (target ≤ 0.3 s); "
          f"litellm imported: {any(f['litellm'] for f in first)}; newly imported: {', '.join(first[0]['new'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.repeats))

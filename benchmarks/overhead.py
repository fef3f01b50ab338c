"""Overhead of the model pool: raw httpx vs raw litellm vs `ModelPool.complete` (cache off).

Starts a zero-latency OpenAI-compatible server on loopback (maslab.testing.FakeOpenAIServer) in its
own process, so that the server does not share the clients' interpreter lock, drives the same number
of calls at the same concurrency through each client and prints calls/s, ending with
`pool/litellm ratio: X.XX` (the pool's throughput over raw litellm's).

    python benchmarks/overhead.py [--calls 2000] [--concurrency 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time
from collections.abc import Iterator

from maslab.models import ModelPool, _import_litellm

MESSAGES = [{"role": "user", "content": "ping"}]


async def drive(call, calls: int, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(i: int) -> None:
        async with sem:
            await call(i)

    start = time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(calls)))
    return calls / (time.perf_counter() - start)


@contextlib.contextmanager
def fake_server() -> Iterator[str]:
    """`python -m maslab.testing` in a subprocess; yields its api_base."""
    proc = subprocess.Popen([sys.executable, "-m", "maslab.testing", "--reply", "pong"], stdout=subprocess.PIPE,
                            text=True)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline().strip()
    finally:
        proc.terminate()
        proc.wait(10)


async def main(calls: int, concurrency: int, repeats: int) -> None:
    import httpx

    litellm = _import_litellm()
    with fake_server() as api_base:
        async with httpx.AsyncClient(base_url=api_base, timeout=30,
                                     limits=httpx.Limits(max_connections=concurrency)) as client:

            async def raw_httpx(i: int) -> None:
                r = await client.post("/chat/completions", json={"model": "fake-model", "messages": MESSAGES})
                r.raise_for_status()
                r.json()["choices"][0]["message"]["content"]

            async def raw_litellm(i: int) -> None:
                await litellm.acompletion(model="openai/fake-model", api_base=api_base, api_key="no-key",
                                          messages=MESSAGES, timeout=30, max_retries=0)

            pool = ModelPool.from_dict({"default": "fake", "models": {"fake": {"endpoints": [
                {"model": "openai/fake-model", "api_base": api_base, "max_concurrency": concurrency}]}}})

            async def via_pool(i: int) -> None:
                await pool.complete("fake", MESSAGES, agent="bench")

            await drive(raw_litellm, 50, concurrency)  # warm up clients and imports
            await drive(via_pool, 50, concurrency)
            best: dict[str, float] = {}
            for _ in range(repeats):  # interleaved, best of N: robust to a busy machine
                for name, fn in (("httpx", raw_httpx), ("litellm", raw_litellm), ("pool", via_pool)):
                    best[name] = max(best.get(name, 0.0), await drive(fn, calls, concurrency))
    print(f"calls: {calls}, concurrency: {concurrency}, best of {repeats}")
    print(f"raw httpx:              {best['httpx']:8.1f} calls/s")
    print(f"raw litellm.acompletion:{best['litellm']:8.1f} calls/s")
    print(f"ModelPool.complete:     {best['pool']:8.1f} calls/s")
    print(f"pool/litellm ratio: {best['pool'] / best['litellm']:.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.concurrency, args.repeats))

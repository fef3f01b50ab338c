"""How close a debate sweep gets to the speed of its model server, and MASLab's execution pattern beside it.

Starts the fake OpenAI-compatible server (`python -m maslab.testing --latency 0.2`: every call answered
after 0.2 s, unlimited concurrency) in its own process, then for each concurrency C (8, 32, 64):

1. runs `maslab bench` in a fresh process on a 64-task `llm_debate` sweep (3 debaters, 2 rounds, LLM
   aggregator: 7 calls in 3 sequential stages per task; generated arithmetic tasks; the endpoint's
   `max_concurrency` high enough never to queue) with `concurrency: C`, and prints
   * `ideal`: ceil(64 / C) waves × 3 stages × 0.2 s — what the server alone needs,
   * `server span`: from the server's first request to its last response (`GET /maslab/stats`),
   * `sweep wall`: the sweep itself (the store's first row start to its last row end),
   * `process wall`: the whole `maslab bench` process, start-up and imports included,
   * `efficiency (ideal/server span)`;
2. runs MASLab's execution pattern on the same server: a thread pool of C threads over the 64 tasks,
   each task's 7 calls made one after another, one shared `openai.OpenAI` client — and prints its
   wall and `maslab/pattern speed-up` (pattern wall ÷ maslab's sweep wall).

Every figure is the median of `--repeats` runs.

    python benchmarks/sweep_efficiency.py [--tasks 64] [--latency 0.2] [--concurrency 8 32 64] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from maslab.testing import server_process

AGENTS, ROUNDS = 3, 2
STAGES = ROUNDS + 1  # debate rounds, then the aggregator


def latency_server(latency: float) -> contextlib.AbstractContextManager[str]:
    """The fake server in its own process, answering after `latency` seconds; yields its api_base."""
    return server_process("The answer is 7. #### 7", "--latency", str(latency))


def _server(api_base: str, path: str, method: str = "GET") -> dict:
    root = api_base.removesuffix("/v1")
    with urllib.request.urlopen(urllib.request.Request(root + path, method=method), timeout=10) as r:
        return json.loads(r.read())


def maslab_run(api_base: str, tasks: int, concurrency: int, work: Path) -> dict[str, float]:
    """One `maslab bench` process on the debate sweep; its timings and the server's span."""
    (work / "models.yaml").write_text(
        "default: fake\nmodels:\n  fake:\n    endpoints:\n"
        f"      - {{model: openai/fake-model, api_base: {api_base}, max_concurrency: 4096, timeout: 60}}\n")
    (work / "sweep.yaml").write_text(json.dumps({
        "name": f"debate-c{concurrency}", "methods": [{"method": "llm_debate",
                                                      "params": {"agents": AGENTS, "rounds": ROUNDS}}],
        "datasets": [{"name": "arith", "generator": "arithmetic", "n": tasks}], "concurrency": concurrency}))
    out = work / f"out-{concurrency}-{time.monotonic_ns()}"
    _server(api_base, "/maslab/reset", "POST")
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "maslab.cli", "bench", str(work / "sweep.yaml"), "--out", str(out),
                           "--models", str(work / "models.yaml")], capture_output=True, text=True, timeout=600)
    process_wall = time.perf_counter() - start
    if proc.returncode:
        raise SystemExit(f"maslab bench failed:\n{proc.stderr[-3000:]}")
    stats = _server(api_base, "/maslab/stats")
    with sqlite3.connect(out / "results.sqlite") as db:
        first, last, rows = db.execute("SELECT MIN(started_at), MAX(finished_at), COUNT(*) FROM results").fetchone()
    if rows != tasks or stats["requests"] != tasks * (AGENTS * ROUNDS + 1):
        raise SystemExit(f"expected {tasks} rows and {tasks * 7} requests, got {rows} and {stats['requests']}")
    return {"span": stats["last_response_at"] - stats["first_request_at"], "sweep": last - first,
            "process": process_wall}


def pattern_run(api_base: str, tasks: int, concurrency: int) -> float:
    """MASLab's pattern: a pool of `concurrency` threads over tasks, calls sequential, one shared client."""
    import openai

    client = openai.OpenAI(base_url=api_base, api_key="no-key", max_retries=0, timeout=60)

    def ask(messages: list[dict]) -> str:
        reply = client.chat.completions.create(model="fake-model", messages=messages)  # type: ignore[arg-type]
        return reply.choices[0].message.content or ""

    def debate(i: int) -> str:
        question = f"What is {i} + 7?"
        answers = [ask([{"role": "user", "content": question}]) for _ in range(AGENTS)]
        for _ in range(ROUNDS - 1):
            answers = [ask([{"role": "user", "content": question},
                            {"role": "user", "content": "Other agents said: " + " | ".join(
                                a for j, a in enumerate(answers) if j != k)}]) for k in range(AGENTS)]
        return ask([{"role": "user", "content": question + "\n" + "\n".join(answers)}])

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = list(pool.map(debate, range(tasks)))
    wall = time.perf_counter() - start
    client.close()
    assert len(results) == tasks
    return wall


def main(tasks: int, latency: float, concurrencies: list[int], repeats: int) -> None:
    rows = []
    with latency_server(latency) as api_base, tempfile.TemporaryDirectory() as tmp:
        pattern_run(api_base, 4, 4)  # warm up the SDK import
        for c in concurrencies:
            runs = [maslab_run(api_base, tasks, c, Path(tmp)) for _ in range(repeats)]
            patterns = [pattern_run(api_base, tasks, c) for _ in range(repeats)]
            med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
            ideal = math.ceil(tasks / c) * STAGES * latency
            rows.append((c, ideal, med["span"], med["sweep"], med["process"], ideal / med["span"],
                         statistics.median(patterns)))
    print(f"llm_debate sweep ({AGENTS} debaters, {ROUNDS} rounds, LLM aggregator: 7 calls in {STAGES} stages per "
          f"task), {tasks} tasks, server latency {latency:g} s, unlimited server concurrency; median of {repeats}")
    print(f"{'concurrency':>11} {'ideal s':>8} {'server span s':>14} {'sweep wall s':>13} {'process wall s':>15} "
          f"{'efficiency (ideal/server span)':>31} {'pattern wall s':>15} {'maslab/pattern speed-up':>24}")
    for c, ideal, span, sweep, process, eff, pattern in rows:
        print(f"{c:>11} {ideal:>8.2f} {span:>14.2f} {sweep:>13.2f} {process:>15.2f} {eff:>31.2f} {pattern:>15.2f} "
              f"{pattern / sweep:>24.2f}")
    print("targets: efficiency ≥ 0.9 at 8 and ≥ 0.8 at 32 and 64; maslab/pattern speed-up ≥ 1.5")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=64)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--concurrency", type=int, nargs="+", default=[8, 32, 64])
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    main(args.tasks, args.latency, args.concurrency, args.repeats)

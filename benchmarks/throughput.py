"""Rows per second of a vanilla sweep against a zero-latency server, with one and with two worker processes.

Starts the zero-latency fake OpenAI-compatible server (`python -m maslab.testing`) in its own process,
then runs a `vanilla` sweep of N generated arithmetic tasks at concurrency 256, exactly as `maslab bench
--workers W` runs it (`run_sweep(..., workers=W)`: completion cache on, results store, traces), each in
a fresh Python process, and prints per run

* `rows/s`: rows ÷ the sweep's wall time (the store's first row start to its last row end);
* `client CPU ms/call`: the sweep's CPU time (the driving process from `run_sweep`'s start, plus its
  worker processes, start-up included) ÷ model calls;
* `peak RSS MiB`: the largest resident set of the driving process and its workers.

It runs 10,000 tasks with `--workers 1` and `--workers 2`, and 2,000 tasks with `--workers 1` for the
memory comparison; every figure is the median of `--repeats` runs.

    python benchmarks/throughput.py [--tasks 10000] [--small 2000] [--concurrency 256] [--repeats 3]

`--ray` instead runs the 10,000 tasks on Ray (`run_sweep(..., backend="ray")`: a local Ray cluster started
for the run, `--actors` actors with `concurrency` rows each) beside the single-process sweep, and prints both
rows/s (wall time from the store's first row start to its last row end, so the cluster's start-up is not
counted; the actors' CPU is not in the driver's rusage, so no CPU figure is printed for Ray).

    python benchmarks/throughput.py --ray [--tasks 10000] [--actors 2] [--repeats 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import statistics
import subprocess
import sys
import tempfile

from maslab.testing import server_process

DRIVER = """
import asyncio, json, resource, sqlite3, sys, time
from maslab.bench.sweep import Sweep, run_sweep
api_base, tasks, concurrency, workers, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
models = {"default": "fake", "models": {"fake": {"endpoints": [
    {"model": "openai/fake-model", "api_base": api_base, "max_concurrency": 4096}]}}}
sweep = Sweep.model_validate({"name": "throughput", "models": models, "methods": [{"method": "vanilla"}],
                              "datasets": [{"name": "arith", "generator": "arithmetic", "n": tasks}],
                              "concurrency": concurrency})
cpu = time.process_time()
summary = asyncio.run(run_sweep(sweep, out=out, progress=False, workers=workers))
cpu = time.process_time() - cpu
children = resource.getrusage(resource.RUSAGE_CHILDREN)
cpu += children.ru_utime + children.ru_stime
with sqlite3.connect(out + "/results.sqlite") as db:
    first, last, rows, calls = db.execute(
        "SELECT MIN(started_at), MAX(finished_at), COUNT(*), SUM(calls) FROM results").fetchone()
rss = max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, children.ru_maxrss) / 1024
print(json.dumps({"rows": rows, "calls": calls, "failed": summary.failed, "wall": last - first, "cpu": cpu,
                  "rss": rss}))
"""


def fake_server() -> contextlib.AbstractContextManager[str]:
    """The fake server in its own process, answering `#### 7`; yields its api_base."""
    return server_process("#### 7")


def sweep_run(api_base: str, tasks: int, concurrency: int, workers: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as out:
        proc = subprocess.run([sys.executable, "-c", DRIVER, api_base, str(tasks), str(concurrency), str(workers),
                               out], capture_output=True, text=True, timeout=3600)
    if proc.returncode:
        raise SystemExit(f"sweep failed:\n{proc.stderr[-3000:]}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    if result["rows"] != tasks or result["failed"]:
        raise SystemExit(f"expected {tasks} rows without failures, got {result}")
    return {"rows/s": tasks / result["wall"], "cpu ms/call": 1000 * result["cpu"] / result["calls"],
            "rss": result["rss"]}


def main(tasks: int, small: int, concurrency: int, repeats: int) -> None:
    configs = [(tasks, 1), (tasks, 2), (small, 1)]
    runs: dict[tuple[int, int], list[dict[str, float]]] = {c: [] for c in configs}
    with fake_server() as api_base:
        for _ in range(repeats):  # interleaved: a busy machine slows every configuration alike
            for n, w in configs:
                runs[(n, w)].append(sweep_run(api_base, n, concurrency, w))
    med = {c: {k: statistics.median(r[k] for r in rs) for k in rs[0]} for c, rs in runs.items()}
    print(f"vanilla sweep, zero-latency fake server in its own process, concurrency {concurrency} per worker, "
          f"cache and traces on; median of {repeats}")
    print(f"{'tasks':>7} {'workers':>8} {'rows/s':>8} {'client CPU ms/call':>19} {'peak RSS MiB':>13}")
    for (n, w), m in med.items():
        print(f"{n:>7} {w:>8} {m['rows/s']:>8.0f} {m['cpu ms/call']:>19.2f} {m['rss']:>13.0f}")
    one, two = med[(tasks, 1)], med[(tasks, 2)]
    print(f"rows/s with one worker: {one['rows/s']:.0f} (target ≥ 600); two workers / one: "
          f"{two['rows/s'] / one['rows/s']:.2f} (target ≥ 1.7)")
    print(f"peak RSS at {tasks} tasks / at {small}: {one['rss'] / med[(small, 1)]['rss']:.3f} (target ≤ 1.10)")


RAY_DRIVER = """
import asyncio, json, sqlite3, sys
from maslab.bench.sweep import Sweep, run_sweep
api_base, tasks, concurrency, actors, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
models = {"default": "fake", "models": {"fake": {"endpoints": [
    {"model": "openai/fake-model", "api_base": api_base, "max_concurrency": 4096}]}}}
sweep = Sweep.model_validate({"name": "throughput", "models": models, "methods": [{"method": "vanilla"}],
                              "datasets": [{"name": "arith", "generator": "arithmetic", "n": tasks}],
                              "concurrency": concurrency})
summary = asyncio.run(run_sweep(sweep, out=out, progress=False, backend="ray", workers=actors))
with sqlite3.connect(out + "/results.sqlite") as db:
    first, last, rows = db.execute("SELECT MIN(started_at), MAX(finished_at), COUNT(*) FROM results").fetchone()
print(json.dumps({"rows": rows, "failed": summary.failed, "wall": last - first, "elapsed": summary.elapsed_s}))
"""


def ray_main(tasks: int, concurrency: int, actors: int, repeats: int) -> None:
    """rows/s of the single-process sweep and of the same sweep on `actors` Ray actors (a local cluster)."""
    local, on_ray = [], []
    with fake_server() as api_base:
        for _ in range(repeats):
            local.append(sweep_run(api_base, tasks, concurrency, 1)["rows/s"])
            with tempfile.TemporaryDirectory() as out:
                proc = subprocess.run([sys.executable, "-c", RAY_DRIVER, api_base, str(tasks), str(concurrency),
                                       str(actors), out], capture_output=True, text=True, timeout=3600)
            if proc.returncode:
                raise SystemExit(f"Ray sweep failed:\n{proc.stderr[-3000:]}")
            result = json.loads(proc.stdout.strip().splitlines()[-1])
            if result["rows"] != tasks or result["failed"]:
                raise SystemExit(f"expected {tasks} rows without failures on Ray, got {result}")
            on_ray.append(tasks / result["wall"])
    print(f"vanilla sweep of {tasks} tasks, zero-latency fake server in its own process, concurrency {concurrency} "
          f"per process/actor, cache and traces on; median of {repeats}")
    print(f"{'backend':>22} {'rows/s':>8}")
    print(f"{'single process':>22} {statistics.median(local):>8.0f}")
    print(f"{f'Ray, {actors} actors':>22} {statistics.median(on_ray):>8.0f}")
    print(f"Ray / single process: {statistics.median(on_ray) / statistics.median(local):.2f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=2_000)
    parser.add_argument("--concurrency", type=int, default=256)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ray", action="store_true", help="compare the single process with Ray actors")
    parser.add_argument("--actors", type=int, default=2, help="Ray actors (with --ray)")
    args = parser.parse_args()
    if args.ray:
        ray_main(args.tasks, args.concurrency, args.actors, args.repeats)
    else:
        main(args.tasks, args.small, args.concurrency, args.repeats)

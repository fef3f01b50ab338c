"""Client CPU of a vanilla sweep with methods compiled once vs a graph built and compiled per task.

Starts the zero-latency fake OpenAI-compatible server (`python -m maslab.testing`) in its own
process, runs a `vanilla` sweep of N generated arithmetic tasks through `run_sweep` (no cache, no
progress bar) twice per repeat — once as maslab runs it (the method's graph compiled once, run
data through LangGraph's run-time context) and once with the graph rebuilt and recompiled for every
task (what maslab did before) — and prints the client's CPU time (`time.process_time`) for each,
best of `--repeats`, with the saving.

    python benchmarks/compile_once.py [--tasks 2000] [--concurrency 32] [--repeats 3]

With `--legacy-python PYTHON` it also runs the same sweep in another interpreter whose `maslab` is
an earlier version (e.g. the venv of a git worktree of an earlier commit) and prints its CPU time
beside these.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import tempfile
import time
from typing import Any

from maslab.testing import server_process


def fake_server() -> contextlib.AbstractContextManager[str]:
    """The fake server in its own process, answering `#### 7`; yields its api_base."""
    return server_process("#### 7")


def sweep_cpu(api_base: str, tasks: int, concurrency: int, per_task_compile: bool) -> float:
    """Client CPU seconds of one vanilla sweep over `tasks` arithmetic tasks."""
    from maslab.bench.sweep import Sweep, run_sweep
    from maslab.models import ModelPool

    pool = ModelPool.from_dict({"default": "fake", "models": {"fake": {"endpoints": [
        {"model": "openai/fake-model", "api_base": api_base, "max_concurrency": concurrency}]}}})
    sweep = Sweep.model_validate({"name": "compile-once", "methods": [{"method": "vanilla"}],
                                  "datasets": [{"name": "arith", "generator": "arithmetic", "n": tasks}],
                                  "concurrency": concurrency})
    restore = None
    if per_task_compile:
        from maslab.method import Method

        restore = Method.per_run_graph
        Method.per_run_graph = lambda self: True  # type: ignore[method-assign]  # build + compile every run
    try:
        with tempfile.TemporaryDirectory() as out:
            start = time.process_time()
            summary = asyncio.run(run_sweep(sweep, out=out, pool=pool, progress=False))
            cpu = time.process_time() - start
    finally:
        if restore is not None:
            Method.per_run_graph = restore  # type: ignore[method-assign]
    if summary.failed:
        raise SystemExit(f"{summary.failed} rows failed")
    return cpu


LEGACY = """
import asyncio, json, sys, tempfile, time
from maslab.bench.sweep import Sweep, run_sweep
from maslab.models import ModelPool
api_base, tasks, concurrency = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
pool = ModelPool.from_dict({"default": "fake", "models": {"fake": {"endpoints": [
    {"model": "openai/fake-model", "api_base": api_base, "max_concurrency": concurrency}]}}})
sweep = Sweep.model_validate({"name": "compile-once", "methods": [{"method": "vanilla"}],
                              "datasets": [{"name": "arith", "generator": "arithmetic", "n": tasks}],
                              "concurrency": concurrency})
with tempfile.TemporaryDirectory() as out:
    start = time.process_time()
    asyncio.run(run_sweep(sweep, out=out, pool=pool, progress=False))
    print(json.dumps(time.process_time() - start))
"""


def legacy_cpu(python: str, api_base: str, tasks: int, concurrency: int) -> float:
    proc = subprocess.run([python, "-c", LEGACY, api_base, str(tasks), str(concurrency)], capture_output=True,
                          text=True, timeout=1800)
    if proc.returncode:
        raise SystemExit(f"legacy run failed:\n{proc.stderr[-2000:]}")
    return float(json.loads(proc.stdout.strip().splitlines()[-1]))


def main(tasks: int, concurrency: int, repeats: int, legacy_python: str | None) -> None:
    best: dict[str, float] = {}
    with fake_server() as api_base:
        sweep_cpu(api_base, 50, concurrency, per_task_compile=False)  # warm up imports and clients
        for _ in range(repeats):  # interleaved, best of N: robust to a busy machine
            runs: list[tuple[str, Any]] = [
                ("compiled once", lambda: sweep_cpu(api_base, tasks, concurrency, per_task_compile=False)),
                ("compiled per task", lambda: sweep_cpu(api_base, tasks, concurrency, per_task_compile=True))]
            if legacy_python:
                runs.append(("legacy code", lambda: legacy_cpu(legacy_python, api_base, tasks, concurrency)))
            for name, fn in runs:
                cpu = fn()
                best[name] = min(best.get(name, float("inf")), cpu)
    print(f"vanilla sweep, {tasks} arithmetic tasks, concurrency {concurrency}, zero-latency fake server, "
          f"best of {repeats}")
    for name, cpu in best.items():
        print(f"{name:>18}: {cpu:7.2f} s client CPU ({1000 * cpu / tasks:.2f} ms/task)")
    saving = 1 - best["compiled once"] / best["compiled per task"]
    print(f"saving of compile-once vs per-task compile: {100 * saving:.1f} %")
    if "legacy code" in best:
        print(f"saving vs the legacy code: {100 * (1 - best['compiled once'] / best['legacy code']):.1f} %")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--legacy-python", metavar="PYTHON",
                        help="an interpreter whose `maslab` is an earlier version (e.g. a worktree's venv)")
    args = parser.parse_args()
    main(args.tasks, args.concurrency, args.repeats, args.legacy_python)

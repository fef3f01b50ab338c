"""How fast `maslab view` opens a large sweep: startup, the grid page, task lists and a task's transcript.

Writes a synthetic sweep (labelled so in its meta: made-up rows, not a model's answers) of
`--rows` rows (default 10,000: 10 methods × 1,000 tasks) through `ResultStore`, plus a JSONL trace
for one cell in which every task is a 7-call debate (3 debaters × 2 rounds + aggregator, written by
`RunRecorder` as a real run writes it). Then it starts the viewer's server on loopback and prints:

* startup: opening the folder and reading every row (done before the URL is printed);
* the grid over HTTP: the page, its script and stylesheet and /api/summary, on the started server;
* the grid in headless Chromium (when /usr/bin/chromium and Playwright are there): from navigation
  to the grid's rows on screen, first open and best of `--repeats`;
* a filtered, paged task list of a 1,000-row cell, a text search, and one task with its transcript
  (first request: indexing the cell's 7,000-line trace; then warm).

    python benchmarks/view_latency.py [--rows 10000] [--repeats 3] [--keep DIR]
"""

from __future__ import annotations

import argparse
import random
import shutil
import tempfile
import time
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

CHROMIUM = Path("/usr/bin/chromium")


def write_sweep(out: Path, rows: int, seed: int = 0) -> tuple[str, str]:
    """A synthetic store of `rows` rows over 10 cells, and a debate trace for the first cell."""
    from maslab.bench.store import ResultRow, ResultStore
    from maslab.messages import Message
    from maslab.trace import RunRecorder, TraceStep

    rng = random.Random(seed)
    store = ResultStore(out / "results.sqlite")
    store.set_meta("sweep", {"name": "view-latency (synthetic rows)", "synthetic": True})
    methods = 10
    per_cell = rows // methods
    cells = [f"method{m}|default|synthetic|seed=0" for m in range(methods)]
    for m, cell in enumerate(cells):
        store.add_cell({"cell_id": cell, "sweep": "view-latency", "method": "llm_debate", "method_label": f"method{m}",
                        "method_params": {}, "assignment": "default", "roles": {}, "dataset": "synthetic", "seed": 0,
                        "n_tasks": per_cell})
    trace = out / "traces" / "method0_default_synthetic_seed=0.jsonl"
    for m, cell in enumerate(cells):
        for i in range(per_cell):
            status = "error" if rng.random() < 0.02 else "ok"
            correct = status == "ok" and rng.random() < 0.3 + 0.05 * m
            store.write(ResultRow(
                cell_id=cell, task_id=f"task-{i}", sweep="view-latency", method="llm_debate",
                method_label=f"method{m}", assignment="default", dataset="synthetic", seed=0,
                question=f"Synthetic question {i}: what is {i} + {m}? " + "context " * 30,
                reference=str(i + m), status=status, answer=None if status == "error" else f"The answer is {i + m + (0 if correct else 1)}.",
                extracted=None if status == "error" else str(i + m + (0 if correct else 1)), correct=correct,
                score=float(correct), error="ModelCallError: synthetic failure" if status == "error" else None,
                prompt_tokens=rng.randint(800, 2400), completion_tokens=rng.randint(100, 600), calls=7,
                latency_s=rng.uniform(1, 9), usage_by_role={"debater": {"calls": 6, "prompt_tokens": 900,
                                                                        "completion_tokens": 300}},
                trace_path=str(trace) if m == 0 else None))
    for i in range(per_cell):  # the first cell's trace: a 7-call debate per task
        rec = RunRecorder(trace, run_id=f"task-{i}")
        rec.event("start", method="llm_debate", task_id=f"task-{i}")
        q = Message.user(f"Synthetic question {i}: what is {i} + 0?")
        for step, node, agents in ((1, "answer_independently", 3), (2, "debate", 3), (3, "aggregate", 1)):
            for a in range(agents):
                rec.add_step(TraceStep(agent="aggregator" if agents == 1 else f"debater_{a + 1}", role="debater",
                                       alias=f"model-{a}", messages=[q] * step,
                                       reply=Message.assistant(f"The answer is {i}. " + "reasoning " * 40),
                                       prompt_tokens=300, completion_tokens=80, latency_s=1.0, node=node, step=step),
                             endpoint="synthetic", retries=0)
        rec.event("end", method="llm_debate", task_id=f"task-{i}")
        rec.flush()
    store.close()
    return cells[0], f"task-{per_cell // 2}"


def trace_file(out: Path) -> Path:
    return next((out / "traces").iterdir())


def timed_get(url: str) -> tuple[float, int]:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as r:
        n = len(r.read())
    return time.perf_counter() - start, n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--keep", metavar="DIR", help="write the synthetic sweep here and keep it")
    parser.add_argument("--settle", type=float, default=5.0,
                        help="seconds a reader takes before opening a task (the graphs are drawn meanwhile)")
    args = parser.parse_args()
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="view-latency-"))
    from maslab.view import ViewServer, open_source

    try:
        start = time.perf_counter()
        first_cell, task = write_sweep(out, args.rows)
        print(f"wrote a synthetic sweep of {args.rows:,} rows (+ a 7-call trace per task of one cell) "
              f"in {time.perf_counter() - start:.1f}s: {out}")

        from maslab.bench.store import ResultStore

        store = ResultStore.open(out, readonly=True)
        start = time.perf_counter()
        store.rows()
        floor = time.perf_counter() - start
        store.close()
        start = time.perf_counter()
        server = ViewServer(open_source(out), port=0).start()
        print(f"startup (open the folder, read and summarise every row): {time.perf_counter() - start:.3f}s, "
              f"of which ResultStore.rows() alone takes {floor:.3f}s")
        url = server.url
        try:
            grid = []
            for _ in range(args.repeats):
                t = sum(timed_get(url + p)[0] for p in ("", "static/app.js", "static/app.css", "api/summary"))
                grid.append(t)
            print(f"grid over HTTP (page + script + stylesheet + /api/summary): best {min(grid):.3f}s, "
                  f"first {grid[0]:.3f}s")
            if CHROMIUM.exists():
                browser_open(url, args.repeats)
            else:
                print("grid in Chromium: skipped (no /usr/bin/chromium)")
            q = lambda **p: url + "api/rows?" + urlencode({"cell": first_cell, **p})  # noqa: E731
            print(f"task list, 1 cell of {args.rows // 10:,} rows, wrong answers, page 1 of 50: "
                  f"{timed_get(q(status='wrong', limit=50))[0]:.3f}s")
            print(f"task list, text search: {timed_get(q(q='what is 77 +'))[0]:.3f}s")
            print(f"task list, sorted by tokens, descending, page 3: "
                  f"{timed_get(q(sort='tokens', desc='1', offset=100, limit=50))[0]:.3f}s")
            t_url = url + "api/task?" + urlencode({"cell": first_cell, "task": task}, quote_via=quote)
            time.sleep(args.settle)  # the server draws the cells' graphs in the background meanwhile
            cold, size = timed_get(t_url)
            warm = min(timed_get(t_url)[0] for _ in range(args.repeats))
            lines = sum(1 for _ in trace_file(out).open())
            print(f"one task with its 7-turn transcript and graph: first {cold:.3f}s (indexes the cell's trace of "
                  f"{lines:,} lines), then {warm:.3f}s ({size:,} bytes)")
            print(f"reload of the whole store after a change: {server.source.snapshot().load_s:.3f}s")
        finally:
            server.close()
    finally:
        if not args.keep:
            shutil.rmtree(out, ignore_errors=True)


def browser_open(url: str, repeats: int) -> None:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        print("grid in Chromium: skipped (pip install playwright)")
        return
    times = []
    with tempfile.TemporaryDirectory() as profile, sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"])
        page = context.new_page()
        for _ in range(repeats):
            start = time.perf_counter()
            page.goto(url)
            page.wait_for_selector("#grid tbody tr")
            times.append(time.perf_counter() - start)
            page.goto("about:blank")
        context.close()
    print(f"grid in headless Chromium (navigation → rows on screen): best {min(times):.3f}s, first {times[0]:.3f}s")


if __name__ == "__main__":
    main()

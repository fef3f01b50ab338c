"""Sweeps: the grid writes exactly the expected rows, failed rows are retried on resume, and a sweep killed
with SIGKILL mid-way resumes without losing or recomputing finished rows. Scripted deterministic models
in-process; the SIGKILL test runs `maslab bench` in a subprocess against a real local HTTP server."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from maslab.bench.store import ResultStore
from maslab.bench.sweep import load_sweep, run_sweep
from maslab.errors import ConfigError
from maslab.testing import FakeOpenAIServer

GRID = {
    "name": "grid",
    "methods": [{"method": "vanilla"}, {"method": "cot"}, {"method": "self_consistency", "params": {"samples": 2}}],
    "datasets": [{"name": "arith", "generator": "arithmetic", "n": 4},
                 {"name": "knap", "generator": "knapsack", "n": 3}],
    "seeds": [0, 1],
    "concurrency": 3,
}
EXPECTED_ROWS = 3 * (4 + 3) * 2


def sweep_file(tmp_path: Path, models: dict, **extra) -> Path:
    p = tmp_path / "sweep.yaml"
    p.write_text(yaml.safe_dump({**GRID, "models": models, **extra}))
    return p


def answer_everything_with(text):
    return {"default": "m", "models": {"m": {"scripted": [text]}}}


async def test_grid_writes_exactly_the_expected_rows(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12")))
    summary = await run_sweep(sweep, out=tmp_path / "out", progress=False)
    store = ResultStore.open(tmp_path / "out")
    rows = store.rows()
    assert summary.ran == EXPECTED_ROWS and summary.failed == 0 and len(rows) == EXPECTED_ROWS
    keys = {(r.method_label, r.dataset, r.seed, r.task_id) for r in rows}
    assert len(keys) == EXPECTED_ROWS
    assert {r.method_label for r in rows} == {"vanilla", "cot", "self_consistency"}
    assert all(r.status == "ok" and r.calls == (2 if r.method == "self_consistency" else 1) for r in rows)
    # scoring is real: the scripted answer 12 is right exactly where the reference is 12
    assert all(r.correct == (r.reference == "12") for r in rows)
    assert len(store.cells()) == 12
    again = await run_sweep(sweep, out=tmp_path / "out", resume=True, progress=False)
    assert again.ran == 0 and again.skipped == EXPECTED_ROWS


async def test_existing_store_needs_resume(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("1")))
    await run_sweep(sweep, out=tmp_path / "out", progress=False)
    with pytest.raises(ConfigError, match="--resume"):
        await run_sweep(sweep, out=tmp_path / "out", progress=False)


async def test_inference_errors_are_rows_and_resume_retries_exactly_those(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("x")))
    from maslab.models import ModelPool

    broken = {"on": True}

    def flaky(req):
        if broken["on"] and "backpack" in req.prompt.lower():
            raise RuntimeError("model fell over")
        return "#### 3"

    pool = ModelPool.from_dict(answer_everything_with("x"), scripted={"m": flaky})
    first = await run_sweep(sweep, out=tmp_path / "out", pool=pool, progress=False)
    store = ResultStore.open(tmp_path / "out")
    failed = {(r.cell_id, r.task_id) for r in store.rows() if r.status == "error"}
    assert first.failed == len(failed) == 3 * 3 * 2  # every knapsack row of every method and seed
    assert all("model fell over" in r.error for r in store.rows() if r.status == "error")
    finished_before = {(r.cell_id, r.task_id): r.finished_at for r in store.rows() if r.status == "ok"}

    broken["on"] = False
    second = await run_sweep(sweep, out=tmp_path / "out", pool=pool, resume=True, progress=False)
    rows = {(r.cell_id, r.task_id): r for r in store.rows()}
    assert second.ran == len(failed) and second.failed == 0 and len(rows) == EXPECTED_ROWS
    assert all(rows[k].status == "ok" and rows[k].attempts == 2 for k in failed)
    assert all(rows[k].finished_at == t and rows[k].attempts == 1 for k, t in finished_before.items())


def test_sigkill_mid_sweep_loses_nothing_and_resume_recomputes_nothing(tmp_path):
    with FakeOpenAIServer(reply="#### 7", latency=0.15) as srv:
        models = {"default": "m", "models": {"m": {"endpoints": [
            {"model": "openai/fake-model", "api_base": srv.api_base}]}}}
        path = sweep_file(tmp_path, models, concurrency=2)
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "maslab.cli", "bench", str(path), "--out", str(out)]
        env = {**os.environ, "MASLAB_LOG": "error"}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        db = out / "results.sqlite"
        deadline = time.time() + 120
        done = 0
        while time.time() < deadline:
            if db.exists():
                try:
                    with sqlite3.connect(db) as c:
                        done = c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                except sqlite3.OperationalError:  # the file exists, its schema not yet
                    done = 0
                if done >= EXPECTED_ROWS // 3:
                    break
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert EXPECTED_ROWS // 3 <= done < EXPECTED_ROWS, done

        store = ResultStore.open(out)
        before = {(r.cell_id, r.task_id): r.finished_at for r in store.rows() if r.status == "ok"}
        assert len(before) >= done  # nothing that had finished was lost
        requests_before = srv.requests

        resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        rows = store.rows()
        assert len(rows) == EXPECTED_ROWS and len({(r.cell_id, r.task_id) for r in rows}) == EXPECTED_ROWS
        assert all(r.status == "ok" for r in rows)
        after = {(r.cell_id, r.task_id): r for r in rows}
        assert all(after[k].finished_at == t and after[k].attempts == 1 for k, t in before.items())
        # only the unfinished rows made requests: at most their calls (cache may answer some)
        remaining_calls = sum(after[k].calls for k in after if k not in before)
        assert srv.requests - requests_before <= remaining_calls


def test_sweep_file_errors_are_located(tmp_path):
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump({"name": "x", "methods": [{"method": "vanilla", "parmas": {}}], "datasets": []}))
    with pytest.raises(ConfigError, match=r"bad\.yaml:\d+: methods\[0\]\.parmas"):  # file:line, then the YAML path
        load_sweep(p)
    p.write_text(yaml.safe_dump({"name": "x", "methods": [{"method": "nope"}], "datasets": []}))
    with pytest.raises(ConfigError, match="unknown method 'nope'"):
        load_sweep(p)


def test_seeds_are_independent_cache_namespaces(tmp_path):
    import itertools

    counter = itertools.count()
    from maslab.models import ModelPool

    pool = ModelPool.from_dict(answer_everything_with("x"), scripted={"m": lambda req: f"#### {next(counter)}"},
                               cache_path=tmp_path / "cache.sqlite")
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("x")))
    sweep.methods = sweep.methods[:1]
    sweep.datasets = sweep.datasets[:1]
    asyncio.run(run_sweep(sweep, out=tmp_path / "a", pool=pool, progress=False))
    answers = {(r.seed, r.task_id): r.answer for r in ResultStore.open(tmp_path / "a").rows()}
    assert len(set(answers.values())) == len(answers)  # seed 1 did not replay seed 0's samples


# ------------------------------------------------------------------ runs never mix or lose results


def test_cell_ids_end_in_a_hash_of_the_full_definition(tmp_path):
    from maslab.bench.sweep import cells_of

    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("1")))
    ids = [c.cell_id for c in cells_of(sweep)]
    assert len(set(ids)) == len(ids) == 12
    assert all(re.fullmatch(r"[\w-]+\|default\|\w+\|seed=\d\|[0-9a-f]{10}", i) for i in ids)
    edited = sweep.model_copy(deep=True)
    edited.methods[2].params["samples"] = 3
    changed = {a for a, b in zip(ids, [c.cell_id for c in cells_of(edited)], strict=True) if a != b}
    assert changed == {i for i in ids if i.startswith("self_consistency|")}
    assert set(ids).isdisjoint(c.cell_id for c in cells_of(sweep, max_tokens=64))  # the cap is part of it
    assert [c.cell_id for c in cells_of(sweep.model_copy(update={"concurrency": 9}))] == ids  # not a result's


async def test_resume_after_editing_the_grid_refuses_with_a_diff_and_touches_nothing(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12")))
    await run_sweep(sweep, out=tmp_path / "out", progress=False)
    store = ResultStore.open(tmp_path / "out")
    before = {(r.cell_id, r.task_id): r.finished_at for r in store.rows()}
    definition = store.get_meta("sweep")

    edited = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12"),
                                   methods=[*GRID["methods"][:2], {"method": "self_consistency",
                                                                   "params": {"samples": 5}}]))
    with pytest.raises(ConfigError) as err:
        await run_sweep(edited, out=tmp_path / "out", resume=True, progress=False)
    message = str(err.value)
    assert "holds 42 rows of a different grid" in message
    assert "changed  methods[2].params.samples: 2 → 5" in message
    assert "removed  4 cell(s): self_consistency|default|arith|seed=0|" in message
    assert "added    4 cell(s)" in message and "--force-new-cells" in message
    assert {(r.cell_id, r.task_id): r.finished_at for r in store.rows()} == before
    assert store.get_meta("sweep") == definition


async def test_force_new_cells_sets_the_old_rows_apart_and_runs_only_the_new_cells(tmp_path):
    from maslab.bench.stats import aggregate_seeds

    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12")))
    await run_sweep(sweep, out=tmp_path / "out", progress=False)
    edited = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12"),
                                   methods=[*GRID["methods"][:2], {"method": "self_consistency",
                                                                   "params": {"samples": 5}}]))
    summary = await run_sweep(edited, out=tmp_path / "out", resume=True, force_new_cells=True, progress=False)
    assert summary.ran == 14 and summary.skipped == 28  # 7 tasks × 2 seeds of the changed method only
    store = ResultStore.open(tmp_path / "out")
    rows = store.rows()
    assert len(rows) == EXPECTED_ROWS and store.retired_count() == 14  # nothing lost, nothing mixed
    assert all(r.calls == 5 for r in rows if r.method == "self_consistency")
    pooled = {(a.method_label, a.dataset): a.n for a in aggregate_seeds(store)}
    assert pooled[("self_consistency", "arith")] == 8 and pooled[("self_consistency", "knap")] == 6
    assert store.get_meta("sweep_history")[0]["retired_rows"] == 14


def _wait_for(predicate, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not predicate():
        if time.time() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def test_a_second_bench_on_the_same_out_exits_2_at_once_naming_the_holder(tmp_path):
    with FakeOpenAIServer(reply="#### 7", latency=1.0) as srv:
        models = {"default": "m", "models": {"m": {"endpoints": [
            {"model": "openai/fake-model", "api_base": srv.api_base}]}}}
        path = sweep_file(tmp_path, models, concurrency=1)
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "maslab.cli", "bench", str(path), "--out", str(out)]
        env = {**os.environ, "MASLAB_LOG": "error"}
        first = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        try:
            _wait_for(lambda: (out / ".lock").exists() and (out / ".lock").read_text().strip() == str(first.pid))
            second = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=60)
            assert first.poll() is None  # the second gave up while the first was still at work
            assert second.returncode == 2, second.stderr
            assert f"in use by another maslab process (PID {first.pid})" in second.stderr
            assert "Traceback" not in second.stderr
        finally:
            first.kill()
            first.wait(timeout=10)
        requests = srv.requests
    assert requests < EXPECTED_ROWS  # the second never ran a row


def test_a_sweep_with_two_aliases_on_one_model_string_keeps_their_answers_apart(tmp_path):
    with FakeOpenAIServer(reply="#### 1") as a, FakeOpenAIServer(reply="#### 2") as b:
        models = {"default": "a", "models": {n: {"endpoints": [{"model": "openai/default", "api_base": s.api_base}]}
                                             for n, s in (("a", a), ("b", b))}}
        path = sweep_file(tmp_path, models, methods=[{"method": "vanilla"}], seeds=[0],
                          datasets=[{"name": "arith", "generator": "arithmetic", "n": 3}],
                          assignments=[{"name": "a", "model": "a"}, {"name": "b", "model": "b"}])
        asyncio.run(run_sweep(load_sweep(path), out=tmp_path / "out", progress=False))
    answers = {(r.assignment, r.answer) for r in ResultStore.open(tmp_path / "out").rows()}
    assert answers == {("a", "#### 1"), ("b", "#### 2")}


@pytest.mark.parametrize("damage", ["corrupt", "folder"])
def test_a_damaged_result_store_is_an_error_naming_the_file(tmp_path, damage):
    out = tmp_path / "out"
    out.mkdir()
    if damage == "corrupt":
        (out / "results.sqlite").write_bytes(b"garbage" * 1000)
    else:
        (out / "results.sqlite").mkdir()
    path = sweep_file(tmp_path, answer_everything_with("1"))
    proc = subprocess.run([sys.executable, "-m", "maslab.cli", "bench", str(path), "--out", str(out), "--resume"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert f"{out / 'results.sqlite'}: result store:" in proc.stderr.replace("\n", "")


async def test_a_read_only_result_store_or_folder_is_an_error_saying_so(tmp_path):
    from maslab.errors import DatabaseFileError
    from tests.readonly import read_only

    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12")))
    await run_sweep(sweep, out=tmp_path / "out", progress=False)
    db = tmp_path / "out" / "results.sqlite"
    rows = len(ResultStore.open(tmp_path / "out").rows())
    with read_only(db), pytest.raises(DatabaseFileError) as err:
        await run_sweep(sweep, out=tmp_path / "out", resume=True, progress=False)
    assert str(err.value).startswith(f"{db}: result store: ") and "read-only" in str(err.value)
    with read_only(tmp_path / "out", *(tmp_path / "out").iterdir()), pytest.raises(ConfigError) as err:
        await run_sweep(sweep, out=tmp_path / "out", resume=True, progress=False)
    assert str(err.value).startswith(f"{tmp_path / 'out'}: ") and "writable" in str(err.value)
    assert len(ResultStore.open(tmp_path / "out").rows()) == rows  # nothing lost


def test_an_alias_bomb_in_a_sweep_is_refused_quickly(tmp_path):
    bomb = "".join(f"x{i}: &x{i} [" + ", ".join([f"*x{i - 1}" if i else '"lol"'] * 9) + "]\n" for i in range(9))
    path = tmp_path / "sweep.yaml"
    path.write_text(bomb + "name: bomb\nmethods: [{method: vanilla, params: {roles: {x: *x8}}}]\n"
                    "datasets: [{name: a, generator: arithmetic, n: 1}]\n")
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "maslab.cli", "bench", str(path), "--out", str(tmp_path / "o")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "sweep.yaml:" in proc.stderr and "aliases are expanded" in proc.stderr
    assert time.monotonic() - start < 20 and len(path.read_bytes()) < 1000  # a small file, 9**9 nodes


def test_sweep_and_workflow_names_must_be_folder_safe(tmp_path):
    from maslab.workflow import load_workflow

    for bad in ("../escape", "a/b", "..", "tab\there"):
        with pytest.raises(ConfigError, match="cannot name a folder"):
            load_sweep(sweep_file(tmp_path, answer_everything_with("1"), name=bad))
        wf = tmp_path / "wf.yaml"
        wf.write_text(yaml.safe_dump({"name": bad, "method": "vanilla"}))
        with pytest.raises(ConfigError, match=r"wf\.yaml:\d+: name: .*cannot name a folder"):
            load_workflow(wf)
# --------------------------------------------------------------------------- streaming, batching, workers


async def test_rows_stream_through_a_bounded_number_of_runners(tmp_path):
    """Scripted model (orchestration only): with 300 pending rows and concurrency 4, the event loop never
    holds a task per pending row, and never more than 4 rows are in flight."""
    from maslab.models import ModelPool

    in_flight, peak, peak_tasks = 0, 0, 0

    async def model(req):
        nonlocal in_flight, peak, peak_tasks
        in_flight += 1
        peak, peak_tasks = max(peak, in_flight), max(peak_tasks, len(asyncio.all_tasks()))
        await asyncio.sleep(0)
        in_flight -= 1
        return "#### 1"

    models = answer_everything_with("x")
    sweep = load_sweep(sweep_file(tmp_path, models, methods=[{"method": "vanilla"}],
                                  datasets=[{"name": "arith", "generator": "arithmetic", "n": 150}],
                                  concurrency=4))
    pool = ModelPool.from_dict(models, scripted={"m": model})
    summary = await run_sweep(sweep, out=tmp_path / "out", pool=pool, progress=False)
    assert summary.ran == 300 and ResultStore.open(tmp_path / "out").count("ok") == 300
    assert peak == 4
    assert peak_tasks < 40, peak_tasks  # the old scheduler held one task per row: 300+


async def test_rows_finishing_in_one_turn_share_one_transaction(tmp_path, monkeypatch):
    batches: list[int] = []
    original = ResultStore.write_many

    def spy(self, rows):
        batches.append(len(rows))
        return original(self, rows)

    monkeypatch.setattr(ResultStore, "write_many", spy)
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12"), concurrency=8))
    summary = await run_sweep(sweep, out=tmp_path / "out", progress=False)
    assert sum(batches) == summary.ran == EXPECTED_ROWS == ResultStore.open(tmp_path / "out").count()
    assert max(batches) > 1 and len(batches) < EXPECTED_ROWS


def test_a_dataset_is_held_as_json_and_each_task_made_when_its_row_runs():
    from maslab.bench.datasets import load_dataset
    from maslab.bench.sweep import _Tasks
    from maslab.task import Task

    tasks = load_dataset("knapsack", n=5)
    compact = _Tasks(tasks)
    assert len(compact) == 5 and compact.ids == [t.id for t in tasks]
    assert [compact[i] for i in range(5)] == tasks and compact[0] is not tasks[0]
    odd = [Task(question="q", metadata={"handle": object()})]  # not JSON: kept as the object itself
    assert _Tasks(odd)[0] is odd[0]


def test_shards_partition_the_grid_whatever_is_already_finished(tmp_path):
    from maslab.bench.sweep import _Plan, cells_of

    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("x")))
    plan = _Plan(sweep, None, cells_of(sweep))
    every = [(c.cell_id, t.id) for c, _, t, _ in plan.rows()]
    assert len(every) == len(set(every)) == EXPECTED_ROWS
    shards = [[(c.cell_id, t.id) for c, _, t, _ in plan.rows(i, 3)] for i in range(3)]
    assert sorted(x for s in shards for x in s) == sorted(every)
    plan.done = set(every[::2])  # on resume: each shard keeps its own rows, minus the finished ones
    resumed = [[(c.cell_id, t.id) for c, _, t, _ in plan.rows(i, 3)] for i in range(3)]
    assert all(set(r) == set(s) - plan.done for r, s in zip(resumed, shards, strict=True))


async def test_two_worker_processes_write_every_row_once_through_the_parent(tmp_path):
    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("#### 12")))
    summary = await run_sweep(sweep, out=tmp_path / "out", progress=False, workers=2)
    rows = ResultStore.open(tmp_path / "out").rows()
    assert summary.ran == len(rows) == EXPECTED_ROWS and summary.failed == 0
    assert len({(r.cell_id, r.task_id) for r in rows}) == EXPECTED_ROWS
    assert all(r.correct == (r.reference == "12") for r in rows)
    again = await run_sweep(sweep, out=tmp_path / "out", resume=True, progress=False, workers=2)
    assert again.ran == 0 and again.skipped == EXPECTED_ROWS


async def test_workers_need_the_sweeps_own_models_and_at_least_one(tmp_path):
    from maslab.models import ModelPool

    sweep = load_sweep(sweep_file(tmp_path, answer_everything_with("x")))
    with pytest.raises(ConfigError, match="pool object"):
        await run_sweep(sweep, out=tmp_path / "a", pool=ModelPool.scripted(["x"], "m"), workers=2)
    with pytest.raises(ConfigError, match="at least 1"):
        await run_sweep(sweep, out=tmp_path / "b", workers=0)


def _children(pid: int) -> list[int]:
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(stat.parent.name))
    return out


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="needs Linux /proc to find the workers")
def test_sigkill_of_a_two_worker_sweep_kills_the_workers_and_resume_completes_it(tmp_path):
    with FakeOpenAIServer(reply="#### 7", latency=0.1) as srv:
        models = {"default": "m", "models": {"m": {"endpoints": [
            {"model": "openai/fake-model", "api_base": srv.api_base}]}}}
        path = sweep_file(tmp_path, models, concurrency=2)
        out = tmp_path / "out"
        cmd = [sys.executable, "-m", "maslab.cli", "bench", str(path), "--out", str(out), "--workers", "2"]
        env = {**os.environ, "MASLAB_LOG": "error"}
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
        db = out / "results.sqlite"
        deadline, done, workers = time.time() + 180, 0, []
        while time.time() < deadline and done < EXPECTED_ROWS // 3:
            workers = _children(proc.pid) or workers
            if db.exists():
                try:
                    with sqlite3.connect(db) as c:
                        done = c.execute("SELECT COUNT(*) FROM results").fetchone()[0]
                except sqlite3.OperationalError:
                    done = 0
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        assert EXPECTED_ROWS // 3 <= done < EXPECTED_ROWS, done
        assert len(workers) >= 2  # the two workers (and multiprocessing's resource tracker)
        deadline = time.time() + 10
        while any(_alive(p) for p in workers) and time.time() < deadline:
            time.sleep(0.1)
        assert not any(_alive(p) for p in workers)  # no orphan keeps calling the server
        quiet = srv.requests
        time.sleep(0.5)
        assert srv.requests == quiet

        store = ResultStore.open(out)
        before = {(r.cell_id, r.task_id): r.finished_at for r in store.rows() if r.status == "ok"}
        assert len(before) >= done
        resumed = subprocess.run([*cmd, "--resume"], capture_output=True, text=True, env=env, timeout=300)
        assert resumed.returncode == 0, resumed.stderr
        rows = store.rows()
        assert len(rows) == EXPECTED_ROWS and all(r.status == "ok" for r in rows)
        after = {(r.cell_id, r.task_id): r for r in rows}
        assert all(after[k].finished_at == t and after[k].attempts == 1 for k, t in before.items())

"""End to end on the embedded model: SmolLM2-135M-Instruct on a real llama.cpp server on loopback.
The model is weak; these tests check that every layer (HTTP, litellm, retries, cache, graphs, CLI) works
for real, not that the answers are right."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from maslab import Task, load_method
from maslab.bench.sweep import is_sweep_document
from maslab.models import ModelPool
from maslab.workflow import load_workflow

pytestmark = pytest.mark.integration
REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = [p for p in sorted((REPO / "workflows").glob("*.yaml"))  # workflows, not sweeps (xmas_bench.yaml)
             if not is_sweep_document(yaml.safe_load(p.read_text()))]


async def test_vanilla_on_the_embedded_model(embedded_pool):
    solution = await load_method("vanilla").solve(Task(question="What is 2+3?"), pool=embedded_pool)
    assert solution.answer.strip()
    assert solution.usage.calls == 1 and solution.usage.completion_tokens > 0 and solution.usage.prompt_tokens > 0


async def test_self_consistency_on_the_embedded_model_and_its_cache_replay(embedded_server, tmp_path):
    from maslab.serve import litellm_model

    config = {"default": "smol", "models": {"smol": {"endpoints": [
        {"model": litellm_model(embedded_server.spec), "api_base": embedded_server.api_base}]}}}
    cache = tmp_path / "cache.sqlite"
    task = Task(question="What is 2+3?")
    first = await load_method("self_consistency", samples=3).solve(
        task, pool=ModelPool.from_dict(config, cache_path=cache, overrides={"max_tokens": 32}))
    assert first.usage.calls == 3 and first.usage.cache_hits == 0 and first.answer.strip()
    replay = await load_method("self_consistency", samples=3).solve(
        task, pool=ModelPool.from_dict(config, cache_path=cache, cache_mode="replay", overrides={"max_tokens": 32}))
    assert replay.answer == first.answer and replay.usage.cache_hits == 3


def _task_for(method_name: str) -> Task:
    """A task of the kind the workflow is for: a T1 dialogue for t1_agent, a short question otherwise."""
    if method_name == "t1_agent":
        from maslab.bench.datasets import load_dataset

        return load_dataset("t1", n=1, seed=0, categories=["attractions"])[0]
    return Task(question="What is 6 times 7?")


# Workflows whose system has its own end-to-end test on the embedded model (the suite's time goes to those, which
# check more): here they are loaded, validated, compiled and drawn, with no model call.
RUN_ELSEWHERE = {
    "lad": "tests/systems/test_lad.py (3 real items, the local web searched; a bench of 10)",
    "t1_agent": "tests/systems/test_t1_agent.py::test_t1_agent_on_the_embedded_model",
    "spatial_agent": "tests/systems/test_spatial_agent.py (ReAct on two synthetic tasks)",
    "x_mas_proto": "tests/test_xmas_integration.py (X-MAS-Bench, then x_mas_proto on 2 tasks)",
    "manalyzer": "tests/systems/test_manalyzer.py (the pipeline end to end)",
}


@pytest.mark.parametrize("path", WORKFLOWS, ids=[p.stem for p in WORKFLOWS])
async def test_every_workflow_runs_once_on_the_embedded_model(path, embedded_pool):
    method = load_workflow(path, aliases=embedded_pool.aliases).to_method()
    if path.stem in RUN_ELSEWHERE:
        from maslab.drawing import to_mermaid

        assert method.compiled() is not None and to_mermaid(method).strip()
        return
    solution = await method.solve(_task_for(method.name), pool=embedded_pool)
    assert isinstance(solution.answer, str)
    assert solution.usage.calls >= 1 and solution.usage.errors == 0
    assert solution.usage.calls == len(solution.messages)


def _llama_servers(home: Path) -> set[int]:
    """llama.cpp servers started with MASLAB_HOME=`home` (servers inherit the environment; other tests' and
    other pytest workers' servers have their own)."""
    out = subprocess.run(["pgrep", "-f", "llama_cpp.server"], capture_output=True, text=True).stdout
    mine = set()
    for pid in out.split():
        try:
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:  # gone already
            continue
        if f"MASLAB_HOME={home}".encode() in environ:
            mine.add(int(pid))
    return mine


def test_maslab_ask_starts_the_embedded_server_and_leaves_none_behind(tmp_path):
    from tests.conftest import _embedded_available

    if _embedded_available():
        pytest.skip(_embedded_available())
    home = tmp_path / "home"
    env = {**os.environ, "MASLAB_HOME": str(home)}
    r = subprocess.run([sys.executable, "-m", "maslab.cli", "ask", "What is 2+3?", "--max-tokens", "32"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip()
    deadline = time.time() + 10
    while _llama_servers(home) and time.time() < deadline:
        time.sleep(0.2)
    assert not _llama_servers(home)


def test_maslab_run_writes_trace_and_result(embedded_models_file, tmp_path):
    r = subprocess.run([sys.executable, "-m", "maslab.cli", "run", str(REPO / "workflows" / "vanilla.yaml"),
                        "--question", "Name a colour.", "--models", str(embedded_models_file),
                        "--max-tokens", "16", "--runs-dir", str(tmp_path / "runs")],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    (run_dir,) = (tmp_path / "runs").iterdir()
    import json

    result = json.loads((run_dir / "result.json").read_text())
    assert result["answer"].strip() == r.stdout.strip()
    events = [json.loads(line) for line in (run_dir / "trace.jsonl").read_text().splitlines()]
    calls = [e for e in events if e["event"] == "call"]
    assert len(calls) == 1 and calls[0]["alias"] == "smol" and calls[0]["completion_tokens"] > 0


async def test_example_sweep_runs_on_the_embedded_model(embedded_pool, tmp_path, shared_data):
    """workflows/sweeps/smoke.yaml, cut to one task per dataset, end to end: rows, scores, report."""
    from maslab.bench.store import ResultStore
    from maslab.bench.sweep import load_sweep, run_sweep
    from maslab.cli import main

    sweep = load_sweep(REPO / "workflows" / "sweeps" / "smoke.yaml")
    for d in sweep.datasets:
        d.limit, d.n = 1, (1 if d.generator else None)
    summary = await run_sweep(sweep, out=tmp_path / "smoke", pool=embedded_pool, progress=False)
    rows = ResultStore.open(tmp_path / "smoke").rows()
    assert summary.failed == 0 and len(rows) == len(sweep.methods) * len(sweep.datasets)
    assert all(r.calls >= 1 and r.completion_tokens > 0 for r in rows)
    assert main(["report", str(tmp_path / "smoke"), "--format", "markdown"]) == 0
    assert (tmp_path / "smoke" / "report.html").stat().st_size > 1000

"""X-MAS on the embedded model (SmolLM2-135M-Instruct on a real llama.cpp server): the bench over one function
and five tasks, its table, then X-MAS-Proto on two tasks — everything completes; the model is far too weak
for the scores to mean anything, so none is asserted."""

from __future__ import annotations

import pytest
import yaml

from maslab.bench.store import ResultStore
from maslab.bench.sweep import load_sweep, run_sweep
from maslab.bench.xmas.table import BenchTable

pytestmark = pytest.mark.integration


def _sweep(tmp_path, name, doc):
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump({"name": name, "max_tokens": 16, "concurrency": 4, **doc}, sort_keys=False))
    return path


async def test_the_bench_then_x_mas_proto_complete_on_the_embedded_model(embedded_models_file, tmp_path):
    bench = _sweep(tmp_path, "bench", {
        "methods": [{"method": "xmas_bench", "label": "qa", "params": {"function": "qa"}}],
        "assignments": [{"name": "smol", "model": "smol"}],
        "datasets": [{"name": "arithmetic", "generator": "arithmetic", "n": 5, "scorer": "xmas",
                      "scorer_options": {"judge": "smol"}}]})
    summary = await run_sweep(load_sweep(bench, models_file=str(embedded_models_file)), out=tmp_path / "bench_run",
                              models_file=str(embedded_models_file), progress=False)
    rows = ResultStore.open(tmp_path / "bench_run").rows()
    assert summary.ran == 5 and len(rows) == 5 and all(r.status == "ok" for r in rows), [r.error for r in rows]
    assert all(r.score_detail["xmas_score"] in (0, 1, 2) and r.calls == 1 for r in rows)
    assert all(r.metadata["xmas"]["examined"] == "smol" for r in rows)
    table = BenchTable.load(tmp_path / "bench_run")
    assert table.cell("qa", "math", "smol").n == 5

    proto = _sweep(tmp_path, "proto", {
        "methods": [{"method": "x_mas_proto", "params": {"max_revise_rounds": 1}}],
        "assignments": [{"name": "smol", "model": "smol"}],
        "datasets": [{"name": "arithmetic", "generator": "arithmetic", "n": 2, "seed": 1}]})
    summary = await run_sweep(load_sweep(proto, models_file=str(embedded_models_file)), out=tmp_path / "proto_run",
                              models_file=str(embedded_models_file), progress=False)
    rows = ResultStore.open(tmp_path / "proto_run").rows()
    assert summary.failed == 0 and len(rows) == 2 and all(r.status == "ok" for r in rows), [r.error for r in rows]
    assert all(7 <= r.calls <= 9 and len(r.metadata["ideas"]) == 4 for r in rows)

"""The `maslab` command: instant help, the method list, models listing, ask on scripted models."""

from __future__ import annotations

import subprocess
import sys
import time

from maslab.cli import main

THIRTEEN = {"vanilla", "cot", "self_consistency", "llm_debate", "mad", "self_refine", "reflexion", "agentverse",
            "dylan", "macnet", "mixture_of_agents", "camel", "mav"}


def test_help_is_instant_and_imports_nothing_heavy():
    code = ("import sys, time; t = time.perf_counter(); from maslab.cli import build_parser; "
            "build_parser().format_help(); "
            "heavy = [m for m in ('litellm', 'langgraph', 'torch', 'sentence_transformers', 'faiss', 'structlog') "
            "if m in sys.modules]; print(heavy, time.perf_counter() - t)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    heavy, _ = out.rsplit(" ", 1)
    assert heavy == "[]", out
    start = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "maslab.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "bench" in r.stdout and "validate" in r.stdout
    assert time.perf_counter() - start < 1.0


def test_methods_lists_all_thirteen_systems_with_citations(capsys):
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for name in THIRTEEN:
        assert name in out
    assert "arXiv 2305.14325" in out  # llm_debate's citation


def test_every_registered_system_has_a_citation_and_config():
    from maslab.method import list_methods

    methods = list_methods()
    assert THIRTEEN <= set(methods)
    for name, cls in methods.items():
        assert cls.citation and cls.roles, name
        cls.Config()  # published defaults are valid


def test_ask_on_a_scripted_models_file(tmp_path, capsys):
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['It is 5.']}\n")
    assert main(["ask", "What is 2+3?", "--models", str(models)]) == 0
    assert capsys.readouterr().out.strip() == "It is 5."
    assert main(["ask", "q", "--models", str(models), "--model", "nope"]) == 2
    assert "unknown model alias 'nope'" in capsys.readouterr().err


def test_models_lists_aliases_and_checks_health(tmp_path, capsys):
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['x']}\n  far:\n    endpoints:\n"
                      "      - {model: openai/x, api_base: 'http://127.0.0.1:9/v1'}\n")
    assert main(["models", "--check", "--models", str(models)]) == 0
    out = capsys.readouterr().out
    assert "s (default)" in out and "127.0.0.1:9" in out and "DOWN" in out


def test_run_on_a_dataset_writes_a_scored_store(tmp_path, capsys):
    """`maslab run WORKFLOW --dataset D --limit N` on a scripted models file."""
    from maslab.bench.store import ResultStore

    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['#### 12']}\n")
    wf = tmp_path / "wf.yaml"
    wf.write_text("name: plain\nmethod: vanilla\n")
    assert main(["run", str(wf), "--dataset", "arithmetic", "--limit", "3", "--models", str(models),
                 "--runs-dir", str(tmp_path / "runs")]) == 0
    (run_dir,) = (tmp_path / "runs").iterdir()
    rows = ResultStore.open(run_dir).rows()
    assert len(rows) == 3 and all(r.status == "ok" for r in rows)
    assert all(r.correct == (r.reference == "12") for r in rows)
    assert main(["report", str(run_dir), "--format", "csv"]) == 0
    assert "plain" in capsys.readouterr().out


def test_ask_writes_a_trace_without_secrets(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("SECRET_FOR_TEST", "sk-do-not-log")
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['fine']}\n")
    trace = tmp_path / "trace.jsonl"
    assert main(["ask", "hello", "--models", str(models), "--trace", str(trace)]) == 0
    lines = [json.loads(x) for x in trace.read_text().splitlines()]
    calls = [x for x in lines if x["event"] == "call"]
    assert len(calls) == 1 and calls[0]["alias"] == "s" and calls[0]["completion_tokens"] == 1
    assert "sk-do-not-log" not in trace.read_text()


def test_graph_draws_workflows_and_t1_plans(tmp_path, capsys):
    from pathlib import Path

    repo = Path(__file__).resolve().parents[1]
    png = tmp_path / "g.png"
    assert main(["graph", str(repo / "workflows" / "plan_solve_check.yaml"), "--png", str(png)]) == 0
    out = capsys.readouterr().out
    assert "checker -.-> solver" in out and "planner --> solver" in out
    assert png.stat().st_size > 5000
    plan = tmp_path / "plan.py"
    plan.write_text("f = search_flights(origin='A', destination='B', departure_date='2025-06-01')\n"
                    "save_to_cache('flights_1', f)\n")
    assert main(["t1", "graph", str(plan)]) == 0
    assert "c0 -->|value| c1" in capsys.readouterr().out


# ------------------------------------------------------------------ exit codes, run folders, bad input


def test_runs_started_in_the_same_second_each_get_their_own_folder(tmp_path, capsys, monkeypatch):
    import time as time_module

    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['fine']}\n")
    wf = tmp_path / "wf.yaml"
    wf.write_text("name: plain\nmethod: vanilla\n")
    monkeypatch.setattr(time_module, "strftime", lambda *_: "20250101-120000")  # one and the same second
    for i in range(3):
        assert main(["run", str(wf), "--question", f"q{i}", "--models", str(models),
                     "--runs-dir", str(tmp_path / "runs")]) == 0
    folders = sorted((tmp_path / "runs").iterdir())
    assert len(folders) == 3 and all(f.name.startswith("20250101-120000-plain-") for f in folders)
    import json

    assert sorted(json.loads((f / "result.json").read_text())["question"] for f in folders) == ["q0", "q1", "q2"]


def test_run_on_a_dataset_exits_1_when_rows_failed_and_says_how_many(tmp_path, capsys):
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s:\n    endpoints: [{model: openai/x, api_base: 'http://127.0.0.1:9/v1'}]\n"
                      "    max_retries: 0\n")
    wf = tmp_path / "wf.yaml"
    wf.write_text("name: plain\nmethod: vanilla\n")
    code = main(["run", str(wf), "--dataset", "arithmetic", "--limit", "2", "--models", str(models),
                 "--runs-dir", str(tmp_path / "runs")])
    assert code == 1
    assert "2 of 2 rows failed" in capsys.readouterr().err


def test_an_empty_question_is_refused_before_any_model_call(tmp_path, capsys):
    import asyncio

    import pytest

    from maslab.errors import ConfigError
    from maslab.method import load_method
    from maslab.models import ModelPool

    calls = []
    pool = ModelPool.scripted(lambda req: calls.append(req) or "x")
    for question in ("", "   \n\t"):
        with pytest.raises(ConfigError, match="the question is empty"):
            asyncio.run(load_method("self_consistency").solve(question, pool=pool))
    assert calls == []
    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['x']}\n")
    assert main(["ask", " ", "--models", str(models)]) == 2
    assert "the question is empty" in capsys.readouterr().err


def test_numeric_flags_are_checked_by_the_parser(tmp_path):
    wf = tmp_path / "wf.yaml"
    wf.write_text("name: plain\nmethod: vanilla\n")
    for flags, message in ((["--concurrency", "0"], "argument --concurrency: must be at least 1, got 0"),
                           (["--limit", "-1"], "argument --limit: must be at least 0, got -1"),
                           (["--max-tokens", "many"], "argument --max-tokens: expected a whole number")):
        proc = subprocess.run([sys.executable, "-m", "maslab.cli", "run", str(wf), "--dataset", "arithmetic", *flags],
                              capture_output=True, text=True, timeout=60)
        assert proc.returncode == 2 and message in proc.stderr and "Traceback" not in proc.stderr, proc.stderr

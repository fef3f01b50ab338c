"""X-MAS end to end over HTTP: bench → table → assignment → a sweep where the X-MAS assignment beats every
homogeneous one; and no key or proxy value in any log, trace, store or report.

Constructed data, stated plainly: three aliases A, B, C are three fault-injecting local fake servers
(`maslab.testing.FakeOpenAIServer`, transient 500/503/429/dropped connections) whose correctness differs
per MAS function *by construction* — item i (its index in its task list) is right when i mod 10 < K, with
K per alias and function below — and the judge is a fourth fake server that grades honestly against the
reference (an oracle stand-in for the judge LLM). The tasks are the seeded arithmetic generator's. So the
bench must recover K/10 exactly, and the assignment must put each role on the alias with the highest K.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from maslab.bench.datasets import load_dataset
from maslab.bench.store import ResultStore
from maslab.cli import main
from maslab.testing import FakeOpenAIServer

ALIASES = ("A", "B", "C")
K = {  # competence out of 10 per function (constructed): A best at qa, B at evaluate and revise, C at aggregate/plan
    "A": {"qa": 9, "revise": 3, "aggregate": 2, "plan": 3, "evaluate": 3},
    "B": {"qa": 3, "revise": 8, "aggregate": 3, "plan": 2, "evaluate": 9},
    "C": {"qa": 4, "revise": 2, "aggregate": 9, "plan": 8, "evaluate": 2},
}
BENCH_TASKS = {"generator": "arithmetic", "n": 10, "seed": 11}
SWEEP_TASKS = {"generator": "arithmetic", "n": 10, "seed": 12}
ANSWER = re.compile(r"The answer is (-?\d+)\.")


def gold_index() -> dict[str, tuple[int, int]]:
    """question text -> (index in its task list, gold answer), for both task sets."""
    out = {}
    for spec in (BENCH_TASKS, SWEEP_TASKS):
        for i, t in enumerate(load_dataset(spec["generator"], n=spec["n"], seed=spec["seed"])):
            out[t.question] = (i, int(t.answer))
    return out


def function_of(prompt: str) -> str:
    """Which MAS function a prompt asks for (the bench's, X-MAS-Proto's and LLM-Debate's prompts)."""
    if "Write a role plan" in prompt or "Propose 4 different ideas" in prompt:
        return "plan"
    if "[ROLE-GOOD]" in prompt or "[ROLE-BAD]" in prompt:
        return "execute"
    if "Decide whether the solution is correct" in prompt or "Check whether this solution is correct" in prompt:
        return "evaluate"
    if "Rework the solution" in prompt or "Revise it and write" in prompt:
        return "revise"
    if "several solutions" in prompt or "over all of the solutions" in prompt or "Given all the above solutions" in prompt:
        return "aggregate"
    return "qa"


def model_reply(alias: str, golds: dict[str, tuple[int, int]]):
    """The constructed model `alias`: right on item i for function f when i mod 10 < K[alias][f]."""
    wrong_offset = 1 + ALIASES.index(alias)

    def reply(body: dict) -> str:
        prompt = "\n".join(m.get("content") or "" for m in body["messages"] if m["role"] == "user")
        index, gold = next(v for q, v in golds.items() if q in prompt)
        function = function_of(prompt)
        if function == "execute":  # the bench's fixed executors follow the plan they are given
            return f"The answer is {gold if '[ROLE-GOOD]' in prompt else gold + wrong_offset}."
        able = index % 10 < K[alias][function]
        if function == "plan":
            if "role plan" in prompt:
                tag = "[ROLE-GOOD]" if able else "[ROLE-BAD]"
                return "".join(f"###ROLE START: {tag} You are agent {k}. ROLE END###\n" for k in (1, 2))
            return "1. Add up.\n2. Subtract.\n3. Check.\n4. Recount."
        if function == "evaluate":  # an able evaluator tells the truth, the others say the opposite
            claimed = ANSWER.findall(prompt.split("Solution:", 1)[1])
            truth = bool(claimed) and int(claimed[-1]) == gold
            return f"Verdict: the solution is {'correct' if truth == able else 'incorrect'}"
        if function == "aggregate":  # an able aggregator picks the right answer when one is on offer
            offered = {int(x) for x in ANSWER.findall(prompt)}
            return f"The answer is {gold if able and gold in offered else gold + wrong_offset}."
        return f"The answer is {gold if able else gold + wrong_offset}."

    return reply


def judge_reply(golds):
    """An honest judge (oracle stand-in): copies the last "The answer is N." and compares it numerically."""
    def reply(body: dict) -> str:
        prompt = body["messages"][-1]["content"]
        if prompt.startswith("Your job is to copy the final answer"):
            found = ANSWER.findall(prompt.split("Solution:\n", 1)[1])
            return f"The answer is {found[-1]}." if found else "NO ANSWER"
        reference = prompt.split("Reference answer:\n", 1)[1].split("\n", 1)[0].strip()
        found = ANSWER.findall(prompt.split("Reply:\n", 1)[1])
        return "VERDICT: CORRECT" if found and found[-1] == reference else "VERDICT: INCORRECT"

    return reply


@pytest.fixture
def world(tmp_path):
    """Four fake servers (A, B, C fault-injecting; the judge) and a models file pointing at them."""
    golds = gold_index()
    servers = {a: FakeOpenAIServer(reply=model_reply(a, golds), transient_rate=0.1, seed=i).start()
               for i, a in enumerate(ALIASES)}
    servers["judge"] = FakeOpenAIServer(reply=judge_reply(golds), transient_rate=0.05, seed=9).start()
    models = {"default": "A", "models": {name: {
        "endpoints": [{"model": f"openai/{name.lower()}", "api_base": srv.api_base, "max_concurrency": 16,
                       "api_key_env": "XMAS_TEST_KEY"}],
        "max_retries": 6, "backoff_initial": 0.01, "backoff_max": 0.05} for name, srv in servers.items()}}
    path = tmp_path / "models.yaml"
    path.write_text(yaml.safe_dump(models))
    try:
        yield path, servers
    finally:
        for srv in servers.values():
            srv.close()


def bench_sweep(tmp_path: Path, n: int = BENCH_TASKS["n"]) -> Path:
    judged = {"scorer": "xmas", "scorer_options": {"judge": "judge"}}
    doc = {"name": "bench", "concurrency": 8,
           "methods": [{"method": "xmas_bench", "label": "qa", "params": {"function": "qa"}},
                       {"method": "xmas_bench", "label": "revise", "params": {"function": "revise",
                                                                              "roles": {"drafter": "A"}}},
                       {"method": "xmas_bench", "label": "aggregate",
                        "params": {"function": "aggregate", "roles": {"answerer": ["A", "B", "C"]}}},
                       {"method": "xmas_bench", "label": "plan",
                        "params": {"function": "plan", "roles": {"executor": ["A", "B", "C"]}}},
                       {"method": "xmas_bench", "label": "evaluate", "params": {"function": "evaluate",
                                                                                "roles": {"drafter": "A"}}}],
           "assignments": [{"name": a, "model": a} for a in ALIASES],
           "datasets": [{"name": "arithmetic", **{**BENCH_TASKS, "n": n}, **judged}]}
    path = tmp_path / "bench.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def test_the_bench_recovers_who_is_best_at_what_and_the_xmas_assignment_beats_every_homogeneous_one(
        world, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("XMAS_TEST_KEY", "sk-test-not-a-real-key")
    models, servers = world
    run = tmp_path / "bench_run"
    assert main(["bench", str(bench_sweep(tmp_path)), "--out", str(run), "--models", str(models)]) == 0
    assert sum(s.faults for s in servers.values()) > 0  # the faults happened and were retried

    # 1. the table recovers K/10 for every (function, alias) — and so who is best at what
    assert main(["xmas", "table", str(run)]) == 0
    rows = list(csv.DictReader(io.StringIO((run / "xmas_table.csv").read_text())))
    scores = {(r["function"], r["alias"]): float(r["pct2"]) for r in rows if r["domain"] == "math"}
    assert scores == {(f, a): 10.0 * K[a][f] for a in ALIASES for f in K[a]}
    best = {f: max(ALIASES, key=lambda a, f=f: scores[(f, a)]) for f in K["A"]}
    assert (best["qa"], best["evaluate"], best["aggregate"]) == ("A", "B", "C")

    # the fixed inputs were made once for all three examined aliases
    store = ResultStore.open(run)
    revise_rows = store.rows("WHERE method_label='revise'")
    assert sum(f["made"] for r in revise_rows for f in r.metadata["xmas"]["fixed"]) == BENCH_TASKS["n"]
    assert len({r.metadata["xmas"]["fixed"][0]["key"] for r in revise_rows}) == BENCH_TASKS["n"]

    # 2. a sweep comparing the homogeneous assignments with the X-MAS one
    hetero = tmp_path / "hetero.yaml"
    hetero.write_text(yaml.safe_dump({
        "name": "hetero", "concurrency": 8,
        "methods": [{"method": "x_mas_proto"}, {"method": "llm_debate"}],
        "assignments": [*({"name": f"all-{a}", "model": a} for a in ALIASES),
                        {"xmas": {"table": str(run), "domain": "math", "candidates": list(ALIASES)}}],
        "datasets": [{"name": "arithmetic", **SWEEP_TASKS}]}, sort_keys=False))
    out = tmp_path / "hetero_run"
    assert main(["bench", str(hetero), "--out", str(out), "--models", str(models)]) == 0
    cells = {(c["method"], c["assignment"]): c["roles"] for c in ResultStore.open(out).cells()}
    assert cells[("x_mas_proto", "xmas")] == {"planner": "C", "solver": "A", "evaluator": "B", "reviser": "B",
                                              "aggregator": "C"}
    assert cells[("llm_debate", "xmas")] == {"debater": "A", "aggregator": "C"}

    # 3. the report shows the X-MAS assignment beside the homogeneous ones, ahead of every one of them
    capsys.readouterr()
    assert main(["report", str(out), "--format", "csv"]) == 0
    report = list(csv.DictReader(io.StringIO(capsys.readouterr().out.split("\n\n")[0])))
    accuracy = {(r["method"], r["assignment"]): float(r["accuracy"]) for r in report}
    for method in ("x_mas_proto", "llm_debate"):
        homogeneous = [accuracy[(method, f"all-{a}")] for a in ALIASES]
        assert accuracy[(method, "xmas")] > max(homogeneous), (method, accuracy)
    markdown = (out / "report.md").read_text()
    assert "## Computed assignments" in markdown
    assert "| xmas | llm_debate | xmas | debater → A, aggregator → C |" in markdown
    assert "Computed assignments" in (out / "report.html").read_text()


SECRET_KEY = "sk-xmas-SECRET-4f1c9e"
SECRET_PROXY = "http://proxyuser:proxy-SECRET-77a2@proxy.invalid:3128"


def test_no_key_or_proxy_value_appears_in_logs_traces_stores_or_reports(world, tmp_path):
    """Constructed fake servers, the bench and X-MAS-Proto run by `maslab bench` in a fresh process with debug
    logging, an API key in the environment and a proxy configured (loopback exempt): neither value appears
    in its output, its traces, its stores, its caches or the report — and the proxy setting survives."""
    models, _ = world
    sweep = yaml.safe_load(bench_sweep(tmp_path, n=1).read_text())
    sweep["methods"] = [*sweep["methods"][1:2], *sweep["methods"][4:], {"method": "x_mas_proto"}]
    sweep["assignments"] = [{"name": "B", "model": "B"}]
    path = tmp_path / "secret.yaml"
    path.write_text(yaml.safe_dump(sweep, sort_keys=False))
    out = tmp_path / "secret_run"
    env = {**os.environ, "XMAS_TEST_KEY": SECRET_KEY, "http_proxy": SECRET_PROXY, "HTTP_PROXY": SECRET_PROXY,
           "https_proxy": SECRET_PROXY, "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
           "MASLAB_LOG": "debug"}
    code = ("import os, sys; from maslab.cli import main; rc = main(sys.argv[1:]); "
            "print('PROXY-KEPT' if os.environ.get('http_proxy') else 'PROXY-GONE'); sys.exit(rc)")
    proc = subprocess.run([sys.executable, "-c", code, "bench", str(path), "--out", str(out), "--models", str(models)],
                          capture_output=True, text=True, timeout=600, env=env)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "PROXY-KEPT" in proc.stdout and "[debug" in proc.stderr  # debug logs really were on
    assert main(["report", str(out)]) == 0
    texts = {"stdout": proc.stdout, "stderr": proc.stderr}
    for file in out.rglob("*"):
        if file.is_file():
            texts[str(file)] = file.read_bytes().decode("utf-8", "replace")
    assert any(p.endswith(".jsonl") for p in texts) and any(p.endswith("results.sqlite") for p in texts)
    for where, text in texts.items():
        for secret in (SECRET_KEY, "proxy-SECRET-77a2", "proxy.invalid"):
            assert secret not in text, f"{secret!r} leaked into {where}"
    rows = ResultStore.open(out).rows()
    assert rows and all(r.status == "ok" for r in rows), [r.error for r in rows if r.status != "ok"]
    assert json.dumps([r.model_dump() for r in rows]).count("sk-") == 0

"""X-MAS-Bench's function harnesses (`xmas_bench`, arXiv 2505.16997): only the examined alias changes.

Scripted deterministic models (`ModelPool.scripted`) stand in for every alias: replies are computed from the
request, so the prompts, the fixed inputs and the calls each harness makes are checked exactly.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from maslab.bench.datasets import load_dataset
from maslab.bench.xmas.fixed import FixedStore
from maslab.bench.xmas.harness import aggregation_order
from maslab.bench.xmas.prompts import extract_roles
from maslab.errors import ConfigError
from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest

FIXED = {"drafter": "D", "answerer": ["R1", "R2", "R3"], "executor": ["E1", "E2", "E3"]}
ALIASES = ("A", "B", "D", "R1", "R2", "R3", "E1", "E2", "E3")
PLAN = ("###ROLE START: You are an analyst; find the quantities. ROLE END###\n"
        "###ROLE START: You are a solver; compute the answer. ROLE END###")


class Recorder:
    """A scripted model for every alias; examined aliases A and B reply identically (their alias aside)."""

    def __init__(self) -> None:
        self.requests: list[ScriptedRequest] = []

    def __call__(self, req: ScriptedRequest) -> str:
        self.requests.append(req)
        if "role plan" in req.prompt:
            return PLAN
        if req.role == "examined":
            return "The answer is 7. The solution is correct"
        return f"{req.alias} ({req.agent}) thinks the answer is {len(req.prompt) % 10}"


def harness(function: str, examined: str, **params) -> object:
    return load_method("xmas_bench", function=function, model=examined, roles=dict(FIXED), **params)


@pytest.mark.parametrize("function", ["qa", "revise", "aggregate", "plan", "evaluate"])
async def test_only_the_examined_alias_changes_between_two_examined_models(function, tmp_path):
    """Dry run on scripted models: A then B examined on the same task. Every prompt — the examined one and
    every fixed-pool one — is byte-identical between the two runs, the fixed answers are the same bytes,
    and the second run makes no fixed-input call (it reuses the stored ones)."""
    task = load_dataset("arithmetic", n=1, seed=3)[0]
    model = Recorder()
    pool = ModelPool.scripted(model, *ALIASES)  # no completion cache: every call reaches the model
    runs = {}
    for examined in ("A", "B"):
        start = len(model.requests)
        sol = await harness(function, examined, fixed_store=str(tmp_path / "fixed.sqlite")).solve(task, pool=pool)
        runs[examined] = (model.requests[start:], sol)
    (reqs_a, sol_a), (reqs_b, sol_b) = runs["A"], runs["B"]
    examined_a = [r for r in reqs_a if r.alias == "A"]
    examined_b = [r for r in reqs_b if r.alias == "B"]
    assert len(examined_a) == len(examined_b) == 1
    assert examined_a[0].messages == examined_b[0].messages  # the examined prompt, byte for byte
    fixed_made = {"qa": 0, "revise": 1, "aggregate": 3, "plan": 0, "evaluate": 1}[function]
    executors = 2 if function == "plan" else 0
    assert len(reqs_a) == 1 + fixed_made + executors and len(reqs_b) == 1 + executors
    others_a = [(r.alias, r.messages) for r in reqs_a if r.alias != "A" and r.role == "executor"]
    others_b = [(r.alias, r.messages) for r in reqs_b if r.alias != "B" and r.role == "executor"]
    assert others_a == others_b
    meta_a, meta_b = sol_a.metadata["xmas"], sol_b.metadata["xmas"]
    assert [f["key"] for f in meta_a["fixed"]] == [f["key"] for f in meta_b["fixed"]]
    assert all(f["made"] for f in meta_a["fixed"]) and not any(f["made"] for f in meta_b["fixed"])
    assert (meta_a["examined"], meta_b["examined"]) == ("A", "B") and meta_a["function"] == function
    assert sol_a.usage.calls == 1 + executors  # fixed inputs are shared, not this row's usage


async def test_fixed_answers_reach_the_examined_model_in_the_stored_order(tmp_path):
    """Scripted models: the aggregator's prompt lists R1–R3's stored answers in `aggregation_order`, and
    the reviser's / evaluator's prompt holds the drafter's stored answer."""
    task = load_dataset("arithmetic", n=1, seed=4)[0]
    model = Recorder()
    pool = ModelPool.scripted(model, *ALIASES, cache_path=tmp_path / "cache.sqlite")
    sol = await harness("aggregate", "A").solve(task, pool=pool)
    answers = {r.alias: f"{r.alias} ({r.agent}) thinks the answer is {len(r.prompt) % 10}"
               for r in model.requests if r.role == "answerer"}
    order = aggregation_order(task.prompt(), 2025, 3)
    assert sol.metadata["xmas"]["order"] == order
    prompt = next(r.prompt for r in model.requests if r.alias == "A")
    positions = [prompt.index(answers[f"R{i + 1}"]) for i in order]
    assert positions == sorted(positions)
    revise = await harness("revise", "A").solve(task, pool=pool)
    draft = next(f"D (drafter) thinks the answer is {len(r.prompt) % 10}" for r in model.requests if r.alias == "D")
    assert draft in model.requests[-1].prompt and revise.metadata["xmas"]["fixed"][0]["alias"] == "D"


def test_the_aggregation_order_is_a_function_of_query_and_seed_and_differs_between_queries():
    """Pure function: the same (query, seed) always gives the same permutation; queries get different
    orders (all six orders of three answers appear over 60 queries); another seed reorders."""
    queries = [f"What is {i} + {i}?" for i in range(60)]
    orders = [tuple(aggregation_order(q, 2025, 3)) for q in queries]
    assert orders == [tuple(aggregation_order(q, 2025, 3)) for q in queries]
    assert all(sorted(o) == [0, 1, 2] for o in orders)
    assert len(set(orders)) == 6
    assert orders != [tuple(aggregation_order(q, 7, 3)) for q in queries]


async def test_the_plan_harness_runs_the_roles_as_a_chain_on_a_fixed_rotation():
    """Scripted models: two roles run on E1 then E2, each seeing its role and the question, the second
    also the first's reply; the chain's last reply is the answer. A plan without role blocks answers ""."""
    task = load_dataset("arithmetic", n=1, seed=5)[0]
    model = Recorder()
    sol = await harness("plan", "A").solve(task, pool=ModelPool.scripted(model, *ALIASES))
    e1, e2 = (r for r in model.requests if r.role == "executor")
    assert (e1.alias, e2.alias) == ("E1", "E2")
    assert e1.prompt.startswith("You are an analyst; find the quantities.") and task.prompt() in e1.prompt
    first_reply = f"E1 (executor_1) thinks the answer is {len(e1.prompt) % 10}"
    assert "previous agent" not in e1.prompt and first_reply in e2.prompt
    assert sol.answer.startswith("E2 (executor_2)") and sol.metadata["xmas"]["executors"] == ["E1", "E2"]
    empty = await harness("plan", "A").solve(task, pool=ModelPool.scripted(lambda r: "no plan here", *ALIASES))
    assert empty.answer == "" and empty.usage.calls == 1 and empty.metadata["xmas"]["roles"] == []


def test_role_plans_are_read_like_the_reference_reads_them():
    """Pure function: full markers; else ROLE START … ROLE END; else text after each ROLE START."""
    assert extract_roles("###ROLE START: a ROLE END###\n###ROLE START: b\nc ROLE END###") == ["a", "b\nc"]
    assert extract_roles("ROLE START x ROLE END then ROLE START y ROLE END") == ["x", "y"]
    assert extract_roles("ROLE START first\nROLE START second") == ["first", "second"]
    assert extract_roles("nothing") == []


async def test_the_evaluate_harness_records_the_verdict_and_the_solution_it_judged():
    """Scripted models: the examined reply's last verdict sentence is recorded with the fixed solution."""
    task = load_dataset("arithmetic", n=1, seed=6)[0]

    def fn(req):
        return "The solution is correct? No: the solution is incorrect." if req.role == "examined" else "It is 3."

    sol = await harness("evaluate", "A").solve(task, pool=ModelPool.scripted(fn, *ALIASES))
    assert sol.metadata["xmas"]["verdict"] is False and sol.metadata["xmas"]["fixed_solution"] == "It is 3."


def test_a_function_needs_its_fixed_aliases_named():
    """Configuration: revise without a drafter is an error before any call (no silent fallback to `model`)."""
    with pytest.raises(ConfigError, match="needs roles.drafter"):
        load_method("xmas_bench", function="revise", model="A")
    with pytest.raises(ConfigError, match="needs roles.executor"):
        load_method("xmas_bench", function="plan", roles={"drafter": "D"})
    assert load_method("xmas_bench", function="qa").config.function == "qa"


async def test_concurrent_examined_models_share_one_fixed_call(tmp_path):
    """Scripted async models on a file store: three examined aliases revising the same task at once make
    one drafter call between them; the store survives in the file for a later process."""
    task = load_dataset("arithmetic", n=1, seed=8)[0]
    drafts = []

    async def fn(req):
        if req.alias == "D":
            drafts.append(req)
            await asyncio.sleep(0.05)
        return "The answer is 1."

    pool = ModelPool.scripted(fn, "A", "B", "C", "D")
    store = tmp_path / "fixed.sqlite"
    sols = await asyncio.gather(*(load_method("xmas_bench", function="revise", model=a, roles={"drafter": "D"},
                                              fixed_store=str(store)).solve(task, pool=pool) for a in "ABC"))
    assert len(drafts) == 1
    assert sum(f["made"] for s in sols for f in s.metadata["xmas"]["fixed"]) == 1
    assert Path(sols[0].metadata["xmas"]["fixed_store"]) == store.resolve() and len(FixedStore(store)) == 1

"""X-MAS-Proto (`x_mas_proto`, arXiv 2505.16997): planner → concurrent solvers → evaluate/revise loop →
aggregator, with the spec's fixes (revise the latest solution; tolerate ≠ 4 ideas; keep whole items).

Most tests run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the loop, the prompts and the call counts are checked exactly. The concurrency test runs over
real HTTP against a delayed local fake server (`maslab.testing.FakeOpenAIServer`).
"""

from __future__ import annotations

import asyncio
import re
import time

import pytest

from maslab.cli import main
from maslab.errors import ConfigError
from maslab.method import load_method, method_class
from maslab.models import ModelPool, ScriptedRequest
from maslab.testing import FakeOpenAIServer
from tests.systems.scripts import TASK, Concurrency, Script, assert_accounting, solve_recorded

IDEAS = "1. Add the numbers.\n2. Multiply them.\n3. Draw a picture.\n4. Work backwards."


def reply(verdicts: list[str]):
    """A scripted model: four ideas, numbered solutions, evaluations from `verdicts` in order, and
    revisions that name the solution they revised."""
    state = {"evaluations": 0, "revisions": 0}

    def fn(req: ScriptedRequest) -> str:
        if req.role == "planner":
            return IDEAS
        if req.role == "solver":
            return f"solution {req.agent} (idea: {req.prompt.split('Idea for solving it:')[1].split(chr(10))[1]})"
        if req.role == "evaluator":
            state["evaluations"] += 1
            return f"Checked. {verdicts[min(state['evaluations'], len(verdicts)) - 1]}"
        if req.role == "reviser":
            state["revisions"] += 1
            return f"revision {state['revisions']}"
        return "The answer is 42."

    return fn


async def test_the_reviser_revises_the_latest_solution_and_the_aggregator_gets_four():
    """Scripted models: the evaluator rejects twice, then accepts. The first revision revises solver 4's
    solution, the second revises revision 1 (the latest — the reference would restart from the solver's),
    each with the evaluation that rejected it; the aggregator reads exactly 4 solutions, the 4th being
    revision 2. Calls: 1 + 4 + 3 evaluations + 2 revisions + 1 = 11."""
    verdicts = ["The solution is incorrect", "The solution is incorrect", "The solution is correct"]
    sol, script = await solve_recorded("x_mas_proto", reply(verdicts))
    evaluations, revisions = script.by_role("evaluator"), script.by_role("reviser")
    assert len(evaluations) == 3 and len(revisions) == 2 and sol.usage.calls == 11
    assert "solution solver_4" in revisions[0].prompt and "revision" not in revisions[0].prompt
    assert "Solution:\nrevision 1\n" in revisions[1].prompt and "solution solver_4" not in revisions[1].prompt
    assert "Solution:\nrevision 2\n" in evaluations[2].prompt
    assert "The solution is incorrect" in revisions[1].prompt.split("Evaluation of the solution:")[1]
    (aggregate,) = script.by_role("aggregator")
    assert re.findall(r"^Solution (\d+):", aggregate.prompt, re.M) == ["1", "2", "3", "4"]
    assert "Solution 4:\nrevision 2\n" in aggregate.prompt and "solution solver_1" in aggregate.prompt
    assert sol.metadata["solutions"][3] == "revision 2" and sol.metadata["accepted"] == [4]
    assert [e["verdict"] for e in sol.metadata["evaluations"]] == [False, False, True]
    assert_accounting(sol, script)


async def test_the_loop_stops_after_three_revise_rounds_without_acceptance():
    """Scripted models: an evaluator that never accepts (and one reply without any verdict, which counts
    as not correct) — 3 evaluations, 3 revisions, the last revision not evaluated: 12 calls."""
    sol, script = await solve_recorded("x_mas_proto", reply(["The solution is incorrect", "No idea.",
                                                             "The solution is incorrect"]))
    assert len(script.by_role("evaluator")) == 3 and len(script.by_role("reviser")) == 3
    assert sol.usage.calls == 12 and sol.metadata["revise_rounds"] == 3 and sol.metadata["accepted"] == []
    assert "Solution 4:\nrevision 3\n" in script.by_role("aggregator")[0].prompt
    sol2, script2 = await solve_recorded("x_mas_proto", reply(["The solution is incorrect"]), max_revise_rounds=1)
    assert sol2.usage.calls == 1 + 4 + 1 + 1 + 1


async def test_an_accepted_first_solution_costs_seven_calls():
    sol, _ = await solve_recorded("x_mas_proto", reply(["The solution is correct"]))
    assert sol.usage.calls == 7 and sol.metadata["revise_rounds"] == 0


async def test_other_team_sizes_plan_as_many_ideas_and_without_revised_solvers_skip_the_loop():
    """Scripted models: 2 direct + 0 revised solvers → the planner is asked for 2 ideas, no evaluation,
    1 + 2 + 1 = 4 calls; no solver at all is a configuration error."""
    sol, script = await solve_recorded("x_mas_proto", reply(["The solution is correct"]), direct_solvers=2,
                                       revised_solvers=0)
    assert "Propose 2 different ideas" in script.by_role("planner")[0].prompt
    assert sol.usage.calls == 4 and not script.by_role("evaluator")
    with pytest.raises(ConfigError, match="at least one solver"):
        load_method("x_mas_proto", direct_solvers=0, revised_solvers=0)


async def test_a_planner_with_too_few_or_too_many_ideas_does_not_fail():
    """Scripted models: two ideas → solvers 3 and 4 get "Solve the problem directly." (the reference crashes);
    six ideas → the first four are kept. Whole multi-sentence, multi-line items are kept (the reference
    cuts each at its first period)."""
    def planner(text):
        def fn(req):
            return text if req.role == "planner" else "The solution is correct. 42"
        return fn

    few = "1. First compute 6 times 7. Then check it.\n   Mind the units.\n2. **Estimate** first."
    sol, script = await solve_recorded("x_mas_proto", planner(few))
    ideas = [r.prompt.split("Idea for solving it:\n")[1].split("\n\n")[0] for r in script.by_role("solver")]
    assert ideas == ["First compute 6 times 7. Then check it. Mind the units.", "**Estimate** first.",
                     "Solve the problem directly.", "Solve the problem directly."]
    assert sol.metadata["ideas_found"] == 2
    many = "\n".join(f"{i}) idea {i}." for i in range(1, 7))
    sol, script = await solve_recorded("x_mas_proto", planner(many))
    assert sol.metadata["ideas"] == ["idea 1.", "idea 2.", "idea 3.", "idea 4."] and sol.metadata["ideas_found"] == 6
    sol, _ = await solve_recorded("x_mas_proto", planner("no list at all"))
    assert sol.metadata["ideas"] == ["Solve the problem directly."] * 4


async def test_the_four_solvers_are_in_flight_together():
    """Scripted async model with a delay: the peak of concurrent solver calls is 4."""
    model = Concurrency(reply(["The solution is correct"]), delay=0.05)
    await load_method("x_mas_proto").solve(TASK, pool=ModelPool.scripted(model))
    assert model.peak["solver"] == 4 and model.peak["planner"] == 1


def test_solver_wall_time_is_one_call_not_four_on_a_delayed_server():
    """Real HTTP against a local fake server that answers every request after 0.6 s: a run accepted at once
    is planner, solvers, evaluator, aggregator — about 4 × 0.6 s when the 4 solvers overlap, 7 × 0.6 s if
    they did not. The bound leaves room for a busy machine."""
    def answer(body):
        text = body["messages"][-1]["content"]
        return IDEAS if "Propose" in text else "The solution is correct. The answer is 42."

    async def run(pool):
        await pool.complete("m", "warm-up")  # the HTTP client's first call pays its imports: not timed
        start = time.perf_counter()
        sol = await load_method("x_mas_proto").solve(TASK, pool=pool)
        return sol, time.perf_counter() - start

    with FakeOpenAIServer(reply=answer, latency=0.6) as srv:
        pool = ModelPool.from_dict({"default": "m", "models": {"m": {"endpoints": [
            {"model": "openai/fake", "api_base": srv.api_base, "max_concurrency": 8}]}}})
        sol, wall = asyncio.run(run(pool))
    assert sol.usage.calls == 7 and srv.requests == 8
    assert wall < 5 * 0.6, f"{wall:.2f}s: the solvers did not overlap"


async def test_each_role_runs_on_its_own_alias():
    """Scripted models on five aliases: planner p, solvers s1/s2 alternating, evaluator e, reviser r,
    aggregator g — each call goes to its role's alias."""
    seen: set[tuple[str, str]] = set()
    fn = reply(["The solution is incorrect", "The solution is correct"])

    def routed(req):
        seen.add((req.agent, req.alias))
        return fn(req)

    method = load_method("x_mas_proto", roles={"planner": "p", "solver": ["s1", "s2"], "evaluator": "e",
                                               "reviser": "r", "aggregator": "g"})
    await method.solve(TASK, pool=ModelPool.scripted(Script(routed), "p", "s1", "s2", "e", "r", "g"))
    assert seen == {("planner", "p"), ("solver_1", "s1"), ("solver_2", "s2"), ("solver_3", "s1"),
                    ("solver_4", "s2"), ("evaluator", "e"), ("reviser", "r"), ("aggregator", "g")}


def test_roles_and_their_functions_are_declared_as_data():
    cls = method_class("x_mas_proto")
    assert cls.roles == ("planner", "solver", "evaluator", "reviser", "aggregator")
    assert cls.functions == {"planner": "plan", "solver": "qa", "evaluator": "evaluate", "reviser": "revise",
                             "aggregator": "aggregate"}


def test_maslab_methods_lists_x_mas_proto_with_its_citation_and_every_role_function_map(capsys, monkeypatch):
    """`maslab methods`: x_mas_proto with arXiv 2505.16997 and its map; llm_debate's, dylan's and
    agentverse's maps as the spec's §4 reads them."""
    from rich.console import Console

    monkeypatch.setattr("maslab.cli._console", lambda stderr=False: Console(width=1000, stderr=stderr))
    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    assert "x_mas_proto" in out and "arXiv 2505.16997" in out
    for pair in ("planner → plan", "reviser → revise", "debater → qa", "ranker → evaluate", "recruiter → plan"):
        assert pair in out, pair
    for name in ("llm_debate", "dylan", "agentverse"):
        cls = method_class(name)
        assert cls.functions and set(cls.functions) == set(cls.roles)

"""Cross-cutting checks over every registered system: a Solution with consistent usage and accounting,
roles on several aliases, the mermaid graph and workflow config, determinism per seed, and each
system's workflow YAML validating and running.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so call counts and usage are checked exactly (the orchestration logic, not model quality).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from maslab.drawing import to_mermaid
from maslab.method import load_method
from maslab.models import ModelPool
from maslab.task import Solution
from tests.systems.scripts import QUESTION, TASK, Script, assert_accounting, generic, solve, solve_recorded

METHODS = ("agentverse", "dylan", "macnet", "camel", "mav")
WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"


# --------------------------------------------------------------------------- every method (cot, llm_debate, mad,
# self_refine, reflexion, mixture_of_agents): published call counts at the defaults

EXPECTED_CALLS = {
    "cot": 1,
    "llm_debate": 7,  # 3 debaters x 2 rounds + aggregator
    "mad": 5,  # round 1 (3) with an unparsable moderator reply, then the judge's 2 calls
    "self_refine": 9,  # draft + 4 x (feedback + refine), the critic never says STOP
    "reflexion": 11,  # non-code task: 4 x (actor + evaluator) + 3 reflections, never judged correct
    "mixture_of_agents": 10,  # 3 layers x 3 proposers + aggregator
}


@pytest.mark.parametrize("name", sorted(EXPECTED_CALLS))
async def test_every_method_returns_a_solution_with_consistent_usage(name: str) -> None:
    """Scripted deterministic models: a Solution with a string answer, the published call count at
    the defaults, per-role tokens summing to the run total, and a drawable graph."""
    sol = await solve(name, lambda req: f"{req.agent} thinks the answer is 42")
    assert isinstance(sol, Solution) and isinstance(sol.answer, str) and sol.answer
    assert sol.usage.calls == EXPECTED_CALLS[name] == len(sol.messages)
    by_role = sol.usage.by("role")
    assert sum(r.total_tokens for r in by_role.values()) == sol.usage.total_tokens > 0
    assert sum(r.calls for r in by_role.values()) == sol.usage.calls
    mermaid = to_mermaid(load_method(name))
    assert "graph TD" in mermaid and "__start__" in mermaid


# --------------------------------------------------------------------------- every method (agentverse, dylan,
# macnet, camel, mav): accounting, roles on several aliases, graph and workflow, determinism


@pytest.mark.parametrize("name", METHODS)
async def test_every_method_returns_a_solution_with_consistent_accounting(name):
    """Scripted deterministic models: each system returns a Solution, a string answer holding 42,
    and per-role tokens (and calls) that sum to the run totals."""
    sol, script = await solve_recorded(name, generic)
    assert_accounting(sol, script)
    assert "42" in sol.answer


@pytest.mark.parametrize("name", METHODS)
async def test_roles_on_several_aliases_sum_to_the_run_total(name):
    """Scripted deterministic models on two aliases: every role gets the list [a, b] (repeated roles
    alternate), and per-role and per-alias tokens both sum to the run total."""
    script = Script(generic)
    method = load_method(name, roles=dict.fromkeys(load_method(name).roles, ["a", "b"]))
    sol = await method.solve(TASK, pool=ModelPool.scripted(script, "a", "b"))
    assert_accounting(sol, script)
    by_alias = sol.usage.by("alias")
    assert sum(r.total_tokens for r in by_alias.values()) == sol.usage.total_tokens
    assert set(by_alias) == ({"a", "b"} if name in ("dylan", "macnet", "mav") else {"a"})


@pytest.mark.parametrize("name", METHODS)
def test_mermaid_and_workflow(name):
    """Scripted deterministic setting, no model call needed: the graph draws, and the workflow YAML validates as a config."""
    text = to_mermaid(load_method(name))
    assert "graph" in text and "__start__" in text
    wf = yaml.safe_load((WORKFLOWS / f"{name}.yaml").read_text())
    assert wf["method"] == name and set(wf) <= {"name", "method", "params", "roles"}
    for aliases in (wf.get("roles") or {}).values():
        assert set(aliases if isinstance(aliases, list) else [aliases]) <= {"smol"}
    method = load_method(name, **wf.get("params", {}), roles=wf.get("roles", {}))
    assert to_mermaid(method)


async def test_run_is_deterministic_per_seed():
    """Scripted deterministic models: the same seed and task give the same calls in the same order."""
    def fn(req):
        return generic(req) if req.role == "ranker" else f"The answer is {req.agent[-1]}"

    runs = [await solve_recorded("dylan", fn, seed=3) for _ in range(2)]
    assert [r.agent for r in runs[0][1].requests] == [r.agent for r in runs[1][1].requests]
    assert runs[0][0].answer == runs[1][0].answer


# --------------------------------------------------------------------------- workflows

WORKFLOW_CALLS = {"cot": 1, "llm_debate": 7, "mad": 5, "self_refine": 5, "reflexion": 5, "mixture_of_agents": 5}


@pytest.mark.parametrize("name", sorted(WORKFLOW_CALLS))
async def test_workflow_yaml_validates_and_runs(name: str) -> None:
    """Scripted deterministic model standing in for `smol`: each system's workflow file validates
    and runs, with the call count its (smaller) parameters imply."""
    from pathlib import Path

    from maslab.workflow import load_workflow

    path = Path(__file__).resolve().parents[2] / "workflows" / f"{name}.yaml"
    method = load_workflow(path, aliases=["smol"]).to_method()
    assert method.name == name
    sol = await method.solve(QUESTION, pool=ModelPool.scripted(lambda req: "The answer is 42.", "smol"))
    assert sol.usage.calls == WORKFLOW_CALLS[name] and set(sol.usage.by("alias")) == {"smol"}

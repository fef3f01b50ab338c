"""Vanilla (`vanilla`, MASLab baseline, arXiv 2505.16988): one call with the query, its reply is the answer.

The tests run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (one call, its prompt, its alias) is checked exactly.
"""

from __future__ import annotations

import pytest

from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Task
from tests.systems.scripts import SCENARIOS, TASK, scenario_reply, solve_recorded

MCQ = Task(question="What is 6 times 7?", choices=["41", "42", "43"])


async def test_vanilla_makes_exactly_one_call_whose_prompt_is_the_tasks_prompt() -> None:
    """Scripted deterministic model: a single `solver` call holding only the task's prompt (the question
    with its lettered choices), no system prompt, and explicit sampling (MASLab's temperature 0.5 and
    max_tokens 2048, never a server's defaults); the reply is the answer."""
    seen: list[ScriptedRequest] = []
    sol = await load_method("vanilla").solve(MCQ, pool=ModelPool.scripted(
        lambda req: seen.append(req) or "6 * 7 = 42, so (B)."))
    assert len(seen) == 1 and sol.usage.calls == 1 == len(sol.messages)
    [req] = seen
    assert [m.role for m in req.messages] == ["user"]
    assert req.prompt == MCQ.prompt() == "What is 6 times 7?\n\n(A) 41\n(B) 42\n(C) 43"
    assert (req.agent, req.role, req.sample_index, req.params) == (
        "solver", "solver", 0, {"temperature": 0.5, "max_tokens": 2048})
    assert sol.answer == "6 * 7 = 42, so (B)."
    assert {role: row.calls for role, row in sol.usage.by("role").items()} == {"solver": 1}


async def test_vanilla_runs_on_the_assigned_alias_with_the_configured_temperature() -> None:
    """Scripted deterministic models on two aliases: `roles.solver` picks the alias, and the method's
    `temperature` reaches the call."""
    seen: list[ScriptedRequest] = []
    method = load_method("vanilla", roles={"solver": "b"}, temperature=0.3)
    sol = await method.solve("What is 6 * 7?", pool=ModelPool.scripted(
        lambda req: seen.append(req) or f"{req.alias} says 42", "a", "b"))
    assert [(r.alias, r.prompt, r.params) for r in seen] == [
        ("b", "What is 6 * 7?", {"temperature": 0.3, "max_tokens": 2048})]
    assert sol.answer == "b says 42" and set(sol.usage.by("alias")) == {"b"}


# --------------------------------------------------------------------------- reference profile (MASLab MAS.inference)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_makes_one_call_whatever_the_reply(scenario: str) -> None:
    """Scripted deterministic model, each scenario: MASLab's MAS.inference sends the query once, so 1 call,
    holding only the query, at temperature 0.5 and max_tokens 2048."""
    sol, script = await solve_recorded("vanilla", lambda req: scenario_reply(scenario, 0), profile="reference")
    assert sol.usage.calls == 1  # one call_llm(prompt=query)
    [req] = script.requests
    assert req.prompt == TASK.prompt() and req.params == {"temperature": 0.5, "max_tokens": 2048}

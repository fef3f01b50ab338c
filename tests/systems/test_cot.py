"""Chain-of-Thought (`cot`, arXiv 2201.11903): one call, the query plus a step-by-step cue.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

import pytest

from tests.systems.scripts import QUESTION, SCENARIOS, TASK, scenario_reply, solve, solve_recorded


async def test_cot_sends_the_query_with_the_step_by_step_cue() -> None:
    """Scripted deterministic model: one call whose prompt is the query plus the cue."""
    seen: list[str] = []
    sol = await solve("cot", lambda req: seen.append(req.prompt) or "6*7 = 42. The answer is 42.")
    assert seen == [f"{QUESTION}\n\nLet's think step by step."]
    assert sol.answer.endswith("42.") and sol.usage.by("role")["solver"].calls == 1


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_makes_one_call_with_the_cue(scenario: str) -> None:
    """Scripted deterministic model, each scenario: MASLab's CoT sends query + "\\n\\nLet's think step by
    step." once, so 1 call, at temperature 0.5."""
    sol, script = await solve_recorded("cot", lambda req: scenario_reply(scenario, 0), profile="reference")
    assert sol.usage.calls == 1  # one call_llm(prompt=query + cue)
    assert [r.prompt for r in script.requests] == [f"{TASK.prompt()}\n\nLet's think step by step."]
    assert script.requests[0].params["temperature"] == 0.5

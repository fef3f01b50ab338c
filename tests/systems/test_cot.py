"""Chain-of-Thought (`cot`, arXiv 2201.11903): one call, the query plus a step-by-step cue.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

from tests.systems.scripts import QUESTION, solve


async def test_cot_sends_the_query_with_the_step_by_step_cue() -> None:
    """Scripted deterministic model: one call whose prompt is the query plus the cue."""
    seen: list[str] = []
    sol = await solve("cot", lambda req: seen.append(req.prompt) or "6*7 = 42. The answer is 42.")
    assert seen == [f"{QUESTION}\n\nLet's think step by step."]
    assert sol.answer.endswith("42.") and sol.usage.by("role")["solver"].calls == 1

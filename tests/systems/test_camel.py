"""CAMEL (`camel`, arXiv 2303.17760): a specified task, then user/assistant role-play until done.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

from tests.systems.scripts import assert_accounting
from tests.systems.scripts import solve_recorded as solve


def camel_script(done_at: int | None):
    def fn(req):
        if req.role == "specifier":
            return "Compute the product 6 × 7."
        turn = sum(1 for m in req.messages if m.role == "assistant") + 1
        if req.role == "user":
            return "<CAMEL_TASK_DONE>" if turn == done_at else f"Instruction: step {turn}\nInput: None"
        return f"Solution: partial result {turn}; the answer is 42.\nNext request."
    return fn


async def test_camel_stops_on_done_token_and_answers_with_the_solution():
    """Scripted deterministic models: the user says the done token on turn 2 — specifier + user +
    assistant + user = 4 calls — and the answer is the assistant's last solution, not the transcript."""
    sol, script = await solve("camel", camel_script(done_at=2))
    assert_accounting(sol, script)
    assert sol.usage.calls == 4 and sol.metadata["stopped"] == "done"
    assert sol.answer == "partial result 1; the answer is 42."
    assert "Instruction" not in sol.answer
    assert "Compute the product" in script.by_role("assistant")[0].system


async def test_camel_stops_at_the_turn_limit():
    """Scripted deterministic models: without the done token, chat_turn_limit 3 gives 1 + 2·3 = 7
    calls and the answer is the third solution."""
    sol, _ = await solve("camel", camel_script(done_at=None))
    assert sol.usage.calls == 7 and sol.metadata["stopped"] == "turn_limit"
    assert sol.answer == "partial result 3; the answer is 42."


async def test_camel_critic_chooses_separately_for_each_side():
    """Scripted deterministic models: with 2 options per side the critic is asked once per side and
    turn, and its assistant-side pick (option 2) is the answer: 1 + 2 turns · 2 sides · 3 = 13 calls."""
    def fn(req):
        if req.role == "critic":
            return "Option 2" if "Postdoc" in req.prompt else "Option 1"
        if req.role == "assistant":
            return f"Solution: variant {req.sample_index + 1}"
        return camel_script(None)(req)

    sol, script = await solve("camel", fn, with_critic=True, option_num=2, chat_turn_limit=2)
    assert sol.usage.calls == 13 and len(script.by_role("critic")) == 4
    assert sol.answer == "variant 2"

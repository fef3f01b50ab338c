"""CAMEL (`camel`, arXiv 2303.17760): a specified task, then user/assistant role-play until done.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

from collections import Counter

import pytest

from tests.systems.scripts import SCENARIOS, agrees_now, assert_accounting, scenario_reply
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


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)

REFERENCE_CALLS = {
    "disagree": 10,  # the user never says done: specifier + 3 turns × (user, critic, assistant)
    "agree": 4,  # done in turn 1; the assistant still answers that turn: 1 + 3
    "paraphrase": 4,  # the done word inside other words still ends the role-play in turn 1
    "disagree_then_agree": 7,  # one instruction, then done in turn 2: 1 + 2 × 3
}


def camel_reference(scenario: str):
    turns = Counter()

    def fn(req):
        if req.role == "specifier":
            return "Compute 6 times 7 exactly."
        if req.role == "critic":
            return "I choose option 1, it is clearer."
        if req.role == "user":
            turns["user"] += 1
            if agrees_now(scenario, turns["user"]):
                return "All solved. CAMEL_TASK_DONE, thank you." if scenario == "paraphrase" else "<CAMEL_TASK_DONE>"
            return f"Instruction: multiply (turn {turns['user']})\nInput: None"
        return f"Solution: {scenario_reply(scenario, 0, turns['user'])} Next request."

    return fn


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_and_what_each_side_reads(scenario: str):
    """Scripted deterministic models, each scenario: MASLab's CAMEL (critic on, one option) makes the calls of
    REFERENCE_CALLS; the role prompts carry the specified task only; the critic reads the user's proposals
    and, in the same conversation, the assistant's; the answer is the transcript."""
    sol, script = await solve("camel", camel_reference(scenario), profile="reference")
    assert sol.usage.calls == REFERENCE_CALLS[scenario]
    user, assistant = script.by_role("user"), script.by_role("assistant")
    assert "Here is the task: Compute 6 times 7 exactly.. Never forget our task!" in user[0].messages[0].text
    assert "What is 6 times 7?" not in user[0].messages[0].text  # the specified task only, as the reference
    for k, req in enumerate(assistant):  # the user's chosen message of that turn, as the assistant's last input
        last = req.messages[-1].text
        assert last.startswith(f"Instruction: multiply (turn {k + 1})") or "CAMEL_TASK_DONE" in last
    critics = script.by_role("critic")
    assert len(critics) == len(user) and all("Proposals from the PhD Student" in c.prompt for c in critics)
    if len(critics) > 1:
        assert "Proposals from the Postdoc" in critics[1].transcript
    assert sol.answer.startswith("Task: What is 6 times 7?") and "Critic:\nI choose option 1" in sol.answer

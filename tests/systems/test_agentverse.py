"""AgentVerse (`agentverse`, arXiv 2308.10848): recruit, decide with critics, evaluate, repeat.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

from collections import Counter

import pytest

from maslab.agents.agentverse import parse_evaluation, parse_roles
from maslab.models import ScriptedRequest
from tests.systems.scripts import SCENARIOS, TASK, Script, agrees_now, assert_accounting, scenario_reply
from tests.systems.scripts import solve_recorded as solve


async def test_agentverse_critics_disagree_then_agree_stop_in_round_2():
    """Scripted deterministic models: with 2 critics who disagree in review round 1 and agree in
    round 2, the decision stops in round 2 (the reviews are reset between rounds) and the turn
    costs 1 recruit + 2 solver + 2·2 critic + 1 evaluator = 8 calls."""
    seen: Counter[str] = Counter()

    def fn(req):
        if req.role == "recruiter":
            return "1. An arithmetic expert\n2. A strict reviewer\n3. A units checker"
        if req.role == "critic":
            seen[req.agent] += 1
            return "The product is wrong, recompute it." if seen[req.agent] == 1 else "[Agree]"
        if req.role == "evaluator":
            return "Correctness: 1\nAdvice: none"
        return "6 * 7 = 42. The answer is 42."

    sol, script = await solve("agentverse", fn, cnt_agents=3)
    assert_accounting(sol, script)
    assert sol.usage.calls == 8
    assert {r: row.calls for r, row in sol.usage.by("role").items()} == {
        "recruiter": 1, "solver": 2, "critic": 4, "evaluator": 1}
    log = sol.metadata["log"]
    assert sol.metadata["turns"] == 1 and log[0]["rounds"] == 2 and log[0]["agreed"]
    assert log[0]["roles"] == ["An arithmetic expert", "A strict reviewer", "A units checker"]
    revise = script.by_role("solver")[1]
    assert "recompute it" in revise.prompt and revise.system == "You are An arithmetic expert."


async def test_agentverse_evaluator_advice_starts_the_next_turn():
    """Scripted deterministic models: correctness 0 starts turn 2, whose recruiter sees the advice;
    correctness 1 then stops it (2 turns × 4 calls with one agreeing critic)."""
    evaluations = iter(["Correctness: 0\nAdvice: check the multiplication", "**Correctness:** 1\nAdvice: ok"])

    def fn(req):
        if req.role == "evaluator":
            return next(evaluations)
        return "[Agree]" if req.role == "critic" else "1. Solver\n2. Critic\nThe answer is 42"

    sol, script = await solve("agentverse", fn)
    assert sol.usage.calls == 8 and sol.metadata["turns"] == 2 and sol.metadata["accepted"]
    assert "check the multiplication" in script.by_role("recruiter")[1].prompt


async def test_agentverse_tolerates_bad_role_count_and_unparseable_evaluator():
    """Scripted deterministic models: a recruiter with no numbered roles and an evaluator without a
    score neither raise; the evaluation counts as 0, so all max_turn turns run, then it answers."""
    def fn(req):
        if req.role == "recruiter":
            return "Sure, here is a team."
        if req.role == "evaluator":
            return "Hmm, hard to say."
        return "[Agree]" if req.role == "critic" else "The answer is 42"

    sol, script = await solve("agentverse", fn, max_turn=2, cnt_agents=3)
    assert_accounting(sol, script)
    assert sol.usage.calls == 2 * (1 + 1 + 2 + 1)
    assert sol.answer == "The answer is 42" and not sol.metadata["accepted"]
    assert not any(t["roles_parsed"] or t["evaluation_parsed"] for t in sol.metadata["log"])


def test_agentverse_parsers():
    """Scripted deterministic setting, pure parsing (no model call): roles are padded or truncated; scores read from several formats."""
    assert parse_roles("1. A\n2. B\n3. C", 2) == (["A", "B"], False)
    roles, ok = parse_roles("1) Expert", 3)
    assert len(roles) == 3 and roles[0] == "Expert" and not ok
    assert parse_evaluation("Correctness: 1\nAdvice: fine")[:2] == (1, "fine")
    assert parse_evaluation('{"correctness": 0, "advice": "redo step 2"}') == (0, "redo step 2", True)
    assert parse_evaluation("no idea") == (0, "no idea", False)


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)

REFERENCE_CALLS = {
    "disagree": 27,  # every turn: recruit + draft + 3 critic rounds + 3 revisions + evaluation (0), 3 turns
    "agree": 4,  # recruit, draft, critic [Agree], evaluation 1
    "paraphrase": 4,  # the critic's own solution has the same final answer in other words: [Agree] at once
    "disagree_then_agree": 9,  # reviews accumulate: 3 critic rounds and 3 revisions though round 2 agrees
}


def reference_script(scenario: str) -> Script:
    critic_rounds = Counter()

    def fn(req: ScriptedRequest) -> str:
        if req.role == "recruiter":
            return "1. a mathematician who checks arithmetic. 2. a physicist who checks units."
        if req.role == "evaluator":
            return "Correctness: 0\nResponse: recheck." if scenario == "disagree" else "Correctness: 1\nResponse: ok"
        if req.role == "critic":
            critic_rounds[req.agent] += 1
            if agrees_now(scenario, critic_rounds[req.agent]):
                return f"My answer is 42 too. {'Same final answer.' if scenario == 'paraphrase' else ''} [Agree]"
            return f"Your step {critic_rounds[req.agent]} is wrong."
        return scenario_reply(scenario, 0, 1 + sum(critic_rounds.values()))

    return Script(fn)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_per_scenario(scenario: str) -> None:
    """Scripted deterministic models, each scenario: the call count of MASLab's AgentVerse (REFERENCE_CALLS);
    every role gets a system message with the problem and a user message with its instructions."""
    sol, script = await solve("agentverse", reference_script(scenario), profile="reference")
    assert sol.usage.calls == REFERENCE_CALLS[scenario]
    assert all(r.messages[0].role == "system" and r.messages[-1].role == "user" for r in script.requests)
    assert all(TASK.prompt() in r.messages[0].text for r in script.requests if r.role != "evaluator")


async def test_reference_profile_history_windows_after_a_disagreement() -> None:
    """Scripted deterministic models, disagree-then-agree: the shared history is what each agent sees —
    the first critic sees the draft; the revising solver sees the draft and the disagreeing review; the
    round-2 critic sees draft, review and revision (its last 3); the agreeing review never enters the
    history; the evaluator sees the experts."""
    sol, script = await solve("agentverse", reference_script("disagree_then_agree"), profile="reference")
    history = [[m.text for m in r.messages[1:-1]] for r in script.requests]
    roles = [r.role for r in script.requests]
    assert roles == ["recruiter", "solver", "critic", "solver", "critic", "solver", "critic", "solver", "evaluator"]
    draft = "[a mathematician who checks arithmetic]: " + scenario_reply("disagree_then_agree", 0, 1)
    review = "[a physicist who checks units]: Your step 1 is wrong."
    assert history[2] == [draft]
    assert history[3] == [draft, review]
    assert history[4][:2] == [draft, review] and len(history[4]) == 3
    assert all("[Agree]" not in h for hs in history for h in hs)
    evaluator = script.by_role("evaluator")[0]
    assert "Experts: a mathematician who checks arithmetic\na physicist who checks units" in evaluator.messages[0].text

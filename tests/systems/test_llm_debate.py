"""LLM-Debate (`llm_debate`, arXiv 2305.14325): debaters over rounds, then an aggregator or a vote.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

import pytest

from maslab.models import ScriptedRequest
from tests.systems.scripts import SCENARIOS, Concurrency, n_assistant, scenario_reply, solve, solve_recorded


def debater_reply(req: ScriptedRequest) -> str:
    if req.role == "aggregator":
        return "Final: 42"
    return f"<{req.agent} round {n_assistant(req) + 1}> The answer is 42."


async def test_debate_round_two_prompt_holds_the_others_answers_not_its_own() -> None:
    """Scripted deterministic models: 3 debaters x 2 rounds + LLM aggregator = 7 calls; a debater's
    round-2 prompt quotes the other debaters' round-1 answers and not its own (which stays in its history)."""
    prompts: dict[tuple[str, int], ScriptedRequest] = {}

    def fn(req: ScriptedRequest) -> str:
        prompts[(req.agent, n_assistant(req) + 1)] = req
        return debater_reply(req)

    sol = await solve("llm_debate", fn)
    assert sol.usage.calls == 7 and sol.answer == "Final: 42"
    assert {a: r.calls for a, r in sol.usage.by("agent").items()} == {
        "debater_1": 2, "debater_2": 2, "debater_3": 2, "aggregator": 1}
    for i in (1, 2, 3):
        req = prompts[(f"debater_{i}", 2)]
        others = {j for j in (1, 2, 3) if j != i}
        for j in others:
            assert f"<debater_{j} round 1>" in req.prompt
        assert f"<debater_{i} round 1>" not in req.prompt
        assert f"<debater_{i} round 1>" in req.transcript  # its own answer is its history
        assert "round 2>" not in req.transcript
    aggregate = prompts[("aggregator", 1)].prompt
    assert all(f"<debater_{i} round 2>" in aggregate for i in (1, 2, 3))
    assert "round 1>" not in aggregate
    assert len(sol.metadata["rounds"]) == 2


async def test_debaters_of_one_round_run_concurrently() -> None:
    """Scripted deterministic async models: the 3 debaters of a round are in flight together."""
    model = Concurrency(debater_reply)
    sol = await solve("llm_debate", model, rounds=3)
    assert sol.usage.calls == 3 * 3 + 1
    assert model.peak["debater"] == 3 and model.peak["aggregator"] == 1


async def test_heterogeneous_debate_routes_each_debater_to_its_alias() -> None:
    """Scripted deterministic models on four aliases: debater i's calls go to the i-th alias."""
    seen: set[tuple[str, str]] = set()

    def fn(req: ScriptedRequest) -> str:
        seen.add((req.agent, req.alias))
        return debater_reply(req)

    sol = await solve("llm_debate", fn, "a", "b", "c", "d",
                      roles={"debater": ["a", "b", "c"], "aggregator": "d"})
    assert seen == {("debater_1", "a"), ("debater_2", "b"), ("debater_3", "c"), ("aggregator", "d")}
    assert {k: r.calls for k, r in sol.usage.by("alias").items()} == {"a": 2, "b": 2, "c": 2, "d": 1}
    assert {(r.agent, r.alias) for r in sol.usage.rows} == seen


async def test_debate_vote_aggregation_takes_the_majority_without_an_aggregator_call() -> None:
    """Scripted deterministic models: `aggregate: vote` makes agents x rounds calls, majority wins."""
    answers = {"debater_1": "The answer is 41.", "debater_2": "The answer is 42.", "debater_3": "So 42."}
    sol = await solve("llm_debate", lambda req: answers[req.agent], aggregate="vote")
    assert sol.usage.calls == 6 and "aggregator" not in sol.usage.by("role")
    assert sol.answer == "The answer is 42." and sol.metadata["votes"] == {"41": 1, "42": 2}


async def test_a_lone_debater_verifies_its_own_answer() -> None:
    """Scripted deterministic model: with one debater, later rounds ask it to verify itself."""
    prompts: list[str] = []
    sol = await solve("llm_debate", lambda req: prompts.append(req.prompt) or "42", agents=1, rounds=2)
    assert sol.usage.calls == 3 and prompts[1].startswith("Can you verify that your answer is correct")


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_debates_two_rounds_then_aggregates(scenario: str) -> None:
    """Scripted deterministic models, each scenario: MASLab's debate has no early stop — 3 debaters × 2
    rounds + 1 aggregator = 7 calls; in round 2 each debater reads the other two's round-1 replies (not
    its own, which is its history) and the aggregator reads the three round-2 replies."""
    def fn(req: ScriptedRequest) -> str:
        if req.role == "aggregator":
            return "Final: 42"
        return scenario_reply(scenario, int(req.agent[-1]) - 1, n_assistant(req) + 1)

    sol, script = await solve_recorded("llm_debate", fn, profile="reference")
    assert sol.usage.calls == 7  # agents_num 3 × rounds_num 2 + aggregator
    second = [r for r in script.by_role("debater") if n_assistant(r) == 1]
    for req in second:
        me = int(req.agent[-1]) - 1
        others = [scenario_reply(scenario, j, 1) for j in range(3) if j != me]
        assert all(f"One agent response: ```{o}```" in req.prompt for o in others)
        assert req.transcript.count(scenario_reply(scenario, me, 1)) >= 1  # its own answer, as history
        if scenario == "disagree":
            assert scenario_reply(scenario, me, 1) not in req.prompt
    [agg] = script.by_role("aggregator")
    assert all(f"Solution {j + 1}:\n{scenario_reply(scenario, j, 2)}" in agg.prompt for j in range(3))

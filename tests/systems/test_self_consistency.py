"""Self-Consistency (`self_consistency`, arXiv 2203.11171): k parallel samples, majority vote over their
answers (or, with `aggregate: llm`, MASLab's aggregator agent, arXiv 2505.16988).

The tests run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request (here, from its sample index), so the orchestration logic (call counts, sample indices, the
vote) is checked exactly.
"""

from __future__ import annotations

import pytest

from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from tests.systems.scripts import QUESTION, SCENARIOS, TASK, Concurrency, scenario_reply, solve_recorded

PROMPT = f"{QUESTION}\n\nLet's think step by step, then state the final answer clearly at the end."


def by_sample(answers: list[int]):
    """Sample k replies 'Attempt <letter>: the answer is answers[k].'"""
    return lambda req: f"Attempt {'ABCDE'[req.sample_index]}: the answer is {answers[req.sample_index]}."


async def test_five_samples_are_concurrent_calls_with_distinct_sample_indices() -> None:
    """Scripted deterministic async model: samples=5 makes 5 `sampler` calls, in flight together, with
    sample indices 0..4, the same prompt (query + cue) and the default temperature 0.7."""
    seen: list[ScriptedRequest] = []

    def reply(req: ScriptedRequest) -> str:
        seen.append(req)
        return "The answer is 42."

    model = Concurrency(reply)
    sol = await load_method("self_consistency", samples=5).solve(QUESTION, pool=ModelPool.scripted(model))
    assert sol.usage.calls == 5 == len(seen) and model.peak["sampler"] == 5
    assert sorted(r.sample_index for r in seen) == [0, 1, 2, 3, 4]
    assert {(r.agent, r.role, r.prompt, r.params["temperature"]) for r in seen} == {
        ("sampler", "sampler", PROMPT, 0.7)}
    assert "aggregator" not in sol.usage.by("role")


async def test_the_majority_answer_wins_and_ties_go_to_the_earliest_sample() -> None:
    """Scripted deterministic models: the answer is the full text of the first sample carrying the
    majority answer; on a tie, the class whose first sample came earliest wins (not sample 0's)."""
    method = load_method("self_consistency", samples=5)
    sol = await method.solve(QUESTION, pool=ModelPool.scripted(by_sample([41, 42, 43, 42, 42])))
    assert sol.answer == "Attempt B: the answer is 42."
    assert sol.metadata["votes"] == {"41": 1, "42": 3, "43": 1} and sol.metadata["consistency"] == 0.6

    sol = await method.solve(QUESTION, pool=ModelPool.scripted(by_sample([43, 42, 41, 41, 42])))
    assert sol.answer == "Attempt B: the answer is 42."  # 42 and 41 have 2 votes each; 42 came first
    assert sol.metadata["votes"] == {"43": 1, "42": 2, "41": 2} and sol.metadata["consistency"] == 0.4


async def test_llm_aggregation_makes_six_calls_and_the_aggregator_reads_every_sample() -> None:
    """Scripted deterministic models: `aggregate: llm` adds one `aggregator` call (5 + 1 = 6) whose
    prompt lists the 5 samples in sample order; its reply is the answer, whatever the majority."""
    seen: list[ScriptedRequest] = []
    answers = [41, 42, 42, 43, 42]
    samples = by_sample(answers)

    def fn(req: ScriptedRequest) -> str:
        seen.append(req)
        return "Having compared them: the answer is 41." if req.role == "aggregator" else samples(req)

    sol = await load_method("self_consistency", samples=5, aggregate="llm").solve(
        QUESTION, pool=ModelPool.scripted(fn))
    assert sol.usage.calls == 6
    assert {role: row.calls for role, row in sol.usage.by("role").items()} == {"sampler": 5, "aggregator": 1}
    [agg] = [r for r in seen if r.role == "aggregator"]
    assert agg.prompt.startswith(f"Question:\n{QUESTION}\n\nSolution 1:\nAttempt A: the answer is 41.")
    positions = [agg.prompt.index(f"Solution {i}:\nAttempt {'ABCDE'[i - 1]}:") for i in range(1, 6)]
    assert positions == sorted(positions)
    assert sol.answer == "Having compared them: the answer is 41."
    assert sol.metadata["samples"] == [f"Attempt {x}: the answer is {n}." for x, n in zip("ABCDE", answers, strict=True)]


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_samples_five_raw_queries_then_aggregates(scenario: str) -> None:
    """Scripted deterministic models, each scenario: MASLab samples the raw query 5 times at 0.5 and then
    asks an aggregator, whatever the samples say: 5 + 1 = 6 calls; the aggregator's single user message
    holds the task and the 5 samples in order."""
    def fn(req: ScriptedRequest) -> str:
        return "Final: 42" if req.role == "aggregator" else scenario_reply(scenario, req.sample_index)

    sol, script = await solve_recorded("self_consistency", fn, profile="reference")
    assert sol.usage.calls == 6  # parallel_num 5 samples + 1 aggregator call
    samples = script.by_role("sampler")
    assert {(r.prompt, r.params["temperature"]) for r in samples} == {(TASK.prompt(), 0.5)}  # raw query, no cue
    [agg] = script.by_role("aggregator")
    assert [m.role for m in agg.messages] == ["user"] and agg.prompt.startswith(f"[Task]:\n{TASK.prompt()}")
    shown = [agg.prompt.index(f"[Solution {k + 1}]:\n{scenario_reply(scenario, k)}") for k in range(5)]
    assert shown == sorted(shown) and sol.answer == "Final: 42"

"""MAV, Multi-Agent Verification (`mav`, arXiv 2502.20379): candidates gated by aspect verifiers' approvals.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

import pytest

from maslab.agents.mav import parse_approval
from maslab.task import Task
from tests.systems.scripts import SCENARIOS, agrees_now, assert_accounting, scenario_reply
from tests.systems.scripts import solve_recorded as solve


def mav_script(approve):
    def fn(req):
        if req.role == "generator":
            return f"Candidate {'AB'[req.sample_index]}: the answer is {41 + req.sample_index}."
        if "FINAL VERIFICATION ANSWER" in req.prompt:
            return f"FINAL VERIFICATION ANSWER: {approve(req.transcript)}"
        return "Analysis: the steps look fine."
    return fn


async def test_mav_makes_10_calls_with_approvals_at_temperature_0():
    """Scripted deterministic models: (2, 2) makes 2 + 2·2·2 = 10 calls; every approval-only call
    runs at temperature 0.0 after its analysis; the aspects are 2 distinct ones from the list."""
    sol, script = await solve("mav", mav_script(lambda t: True), temperature=0.7)
    assert_accounting(sol, script)
    assert sol.usage.calls == 10
    approvals = [r for r in script.requests if "FINAL VERIFICATION ANSWER" in r.prompt]
    analyses = [r for r in script.by_role("verifier") if r not in approvals]
    assert len(approvals) == 4 and all(r.params["temperature"] == 0.0 for r in approvals)
    assert len(analyses) == 4 and all(r.params["temperature"] == 0.7 for r in analyses)
    assert all("Analysis: the steps look fine." in r.transcript for r in approvals)
    aspects = sol.metadata["aspects"]
    assert len(set(aspects)) == 2 and set(aspects) <= {
        "units_steps", "general_summarize", "general_edge", "general_mistakes", "general_domain",
        "math_steps", "logic_steps", "general_diff"}


async def test_mav_verdicts_gate_the_answer():
    """Scripted deterministic models: the candidate with more approvals wins; ties go to the first."""
    sol, _ = await solve("mav", mav_script(lambda t: "Candidate B" in t))
    assert sol.answer.startswith("Candidate B") and sol.metadata["approvals"] == [0, 2]
    sol, _ = await solve("mav", mav_script(lambda t: True))
    assert sol.answer.startswith("Candidate A") and sol.metadata["approvals"] == [2, 2]
    sol, _ = await solve("mav", mav_script(lambda t: False))
    assert sol.answer.startswith("Candidate A") and sol.metadata["approvals"] == [0, 0]


def test_mav_approval_parser():
    """Scripted deterministic setting, pure parsing (no model call): the verdict symbol wins; unclear replies are rejections."""
    assert parse_approval("FINAL VERIFICATION ANSWER: **True**")
    assert not parse_approval("FINAL VERIFICATION ANSWER: False")
    assert parse_approval("Yes")
    assert not parse_approval("I cannot tell.")


# --------------------------------------------------------------------------- reference profile (MASLab 74265c7)

TASKS = {
    "main": Task(id="g1", question="What is 6 times 7?", metadata={"source": "gsm8k"}),
    "math": Task(id="m1", question="What is 6 times 7?", metadata={"dataset": "math"}),
    "gpqa": Task(id="q1", question="What is 6 times 7?", choices=["40", "42"], metadata={"dataset": "gpqa"}),
}


def mav_reference(scenario: str, variant: str):
    def fn(req):
        if req.role == "generator":
            text = scenario_reply(scenario, req.sample_index)
            if variant == "math":
                return f"{text} So \\\\boxed{{{40 + 3 * req.sample_index if 'working' in text else 42}}}."
            if variant == "gpqa":
                return f"{text} The answer is ({'AB'[req.sample_index]})."
            return text
        if req.messages[-1].text.startswith("To be clear"):
            approve = agrees_now(scenario, 1) or "Candidate 2" in req.messages[0].text
            return f"FINAL VERIFICATION ANSWER: {approve}"
        return "Analysis: checked."
    return fn


@pytest.mark.parametrize("variant", sorted(TASKS))
@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_and_what_each_verifier_reads(scenario: str, variant: str):
    """Scripted deterministic models, each (program, scenario): MASLab's MAV never stops early — 2 candidates ×
    (1 + 2 aspects × 2 calls) = 10; the program follows the dataset name; every analysis and approval runs at
    vera_temp 0.0, the candidates at 0.5; the approval call reads the analysis as a system message."""
    sol, script = await solve("mav", mav_reference(scenario, variant), task=TASKS[variant], profile="reference")
    assert sol.usage.calls == 10  # n_solutions 2 × (1 + 2 × n_max_verifiers 2)
    gens = script.by_role("generator")
    assert {r.params["temperature"] for r in gens} == {0.5}
    verifiers = script.by_role("verifier")
    assert len(verifiers) == 8 and {r.params["temperature"] for r in verifiers} == {0.0}
    approvals = [r for r in verifiers if len(r.messages) == 3]
    assert len(approvals) == 4 and all([m.role for m in r.messages] == ["user", "system", "user"] and
                                       r.messages[1].text == "Analysis: checked." for r in approvals)
    for r in verifiers:  # each verifier reads the question and one candidate in one user message
        assert TASKS[variant].prompt() in r.messages[0].text
    if variant == "math":
        assert sol.answer in ("40", "42", "43")  # the chosen candidate's last box
    if variant == "gpqa":
        assert sol.answer in ("A", "B")


async def test_reference_math_candidate_without_a_box_answers_empty():
    """Scripted deterministic models: MASLab's mav_math fails on a candidate without \\\\boxed{}; the reference
    profile gives that candidate the empty answer (its evident intent) and still makes all 10 calls."""
    def fn(req):
        if req.role == "generator":
            return "It is 42."
        return "FINAL VERIFICATION ANSWER: True" if len(req.messages) == 3 else "Analysis."
    sol, script = await solve("mav", fn, task=TASKS["math"], profile="reference")
    assert sol.usage.calls == 10 and sol.answer == ""

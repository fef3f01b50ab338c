"""MAV, Multi-Agent Verification (`mav`, arXiv 2502.20379): candidates gated by aspect verifiers' approvals.

They run on scripted deterministic models (`ModelPool.scripted`): replies are a pure function of the
request, so the orchestration logic (call counts, prompts, sampling parameters) is asserted exactly.
"""

from __future__ import annotations

from maslab.agents.mav import parse_approval
from tests.systems.scripts import assert_accounting
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

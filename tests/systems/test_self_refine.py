"""Self-Refine (`self_refine`, arXiv 2303.17651): draft, then feedback and refine until the critic stops.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from maslab.models import ScriptedRequest
from tests.systems.scripts import SCENARIOS, agrees_now, scenario_reply, solve, solve_recorded


def refine_model(approve_at: int | None, log: list[ScriptedRequest] | None = None) -> Any:
    """Critic says STOP at feedback round `approve_at` (never when None)."""
    counts: Counter[str] = Counter()

    def fn(req: ScriptedRequest) -> str:
        if log is not None:
            log.append(req)
        counts[req.role] += 1
        n = counts[req.role]
        if req.role == "critic":
            return f"Feedback {n}: looks right.\nSTOP" if n == approve_at else f"Feedback {n}: step 2 is wrong."
        return f"Draft {counts['generator'] + counts['refiner']}: the answer is 42."

    return fn


@pytest.mark.parametrize(("approve_at", "calls", "final"), [(1, 2, 1), (2, 4, 2), (4, 8, 4), (None, 9, 5)])
async def test_self_refine_stops_when_the_critic_approves_or_at_max_iters(
        approve_at: int | None, calls: int, final: int) -> None:
    """Scripted deterministic models: 2k calls when the critic approves in round k, else 1 + 2 x 4."""
    sol = await solve("self_refine", refine_model(approve_at))
    assert sol.usage.calls == calls
    assert sol.answer == f"Draft {final}: the answer is 42."
    assert sol.metadata["approved"] is (approve_at is not None)
    assert sol.usage.by("role")["critic"].calls == (approve_at or 4)


async def test_self_refine_refiner_sees_every_answer_and_its_feedback() -> None:
    """Scripted deterministic models: the refiner's prompt holds the history of drafts and feedback."""
    log: list[ScriptedRequest] = []
    sol = await solve("self_refine", refine_model(None, log), max_iters=2)
    assert sol.usage.calls == 5
    last_refine = [r for r in log if r.role == "refiner"][-1].prompt
    for text in ("Draft 1:", "Feedback 1:", "Draft 2:", "Feedback 2:"):
        assert text in last_refine


# --------------------------------------------------------------------------- reference profile (the paper's loop)

REFERENCE_CALLS = {
    "disagree": 9,  # the critic never says STOP: draft + 4 × (feedback + refine)
    "agree": 2,  # draft + feedback that says STOP
    "paraphrase": 2,  # the critic accepts the reworded draft at once
    "disagree_then_agree": 4,  # draft, feedback, refine, feedback that says STOP
}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_and_the_refiner_reads_every_draft_and_feedback(scenario: str) -> None:
    """Scripted deterministic models, each scenario: Self-Refine is not in MASLab, so its reference is the
    paper's loop (REFERENCE_CALLS); each refinement reads every earlier draft with its feedback."""
    rounds = Counter()

    def fn(req: ScriptedRequest) -> str:
        rounds[req.role] += 1
        if req.role == "critic":
            ok = agrees_now(scenario, rounds["critic"])
            return "Looks right.\nSTOP" if ok else f"Check step {rounds['critic']} again."
        return scenario_reply(scenario, rounds[req.role], rounds["generator"] + rounds["refiner"])

    sol, script = await solve_recorded("self_refine", fn, profile="reference")
    assert sol.usage.calls == REFERENCE_CALLS[scenario]
    for k, req in enumerate(script.by_role("refiner"), start=1):
        assert all(f"Feedback on attempt {j}:\nCheck step {j} again." in req.prompt for j in range(1, k + 1))

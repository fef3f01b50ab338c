"""Self-Refine (`self_refine`, arXiv 2303.17651): draft, then feedback and refine until the critic stops.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from maslab.models import ScriptedRequest
from tests.systems.scripts import solve


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

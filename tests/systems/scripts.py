"""Scripted-model helpers shared by the system tests in `tests/systems/`.

Every system test runs on scripted deterministic models (`ModelPool.scripted`): replies are computed
from the request, so call counts, prompts, routing and sampling parameters are checked exactly.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Solution, Task

QUESTION = "What is 6 * 7?"
TASK = Task(id="t1", question="What is 6 times 7?")


def n_assistant(req: ScriptedRequest) -> int:
    return sum(m.role == "assistant" for m in req.messages)


async def solve(name: str, fn: Any, *aliases: str, task: Task | str = QUESTION, **params: Any) -> Solution:
    method = load_method(name, **params)
    return await method.solve(task, pool=ModelPool.scripted(fn, *aliases))


class Concurrency:
    """An async scripted model that records how many calls of each role were in flight at once."""

    def __init__(self, reply: Any, delay: float = 0.02) -> None:
        self.reply, self.delay = reply, delay
        self.in_flight: Counter[str] = Counter()
        self.peak: Counter[str] = Counter()

    async def __call__(self, req: ScriptedRequest) -> str:
        self.in_flight[req.role] += 1
        self.peak[req.role] = max(self.peak[req.role], self.in_flight[req.role])
        await asyncio.sleep(self.delay)
        self.in_flight[req.role] -= 1
        return self.reply(req)


class Script:
    """A scripted model that records every request it answers, in call order."""

    def __init__(self, fn):
        self.fn = fn
        self.requests: list[ScriptedRequest] = []

    def __call__(self, req: ScriptedRequest) -> str:
        self.requests.append(req)
        return self.fn(req)

    def by_role(self, role: str) -> list[ScriptedRequest]:
        return [r for r in self.requests if r.role == role]


async def solve_recorded(name: str, fn, task: Task = TASK, **params) -> tuple[Solution, Script]:
    """Like `solve`, on one scripted alias, but also returns the `Script` that recorded every request."""
    script = fn if isinstance(fn, Script) else Script(fn)
    sol = await load_method(name, **params).solve(task, pool=ModelPool.scripted(script))
    return sol, script


def assert_accounting(sol: Solution, script: Script) -> None:
    """A Solution with a string answer whose per-role tokens and calls sum to the run totals."""
    assert isinstance(sol, Solution) and isinstance(sol.answer, str)
    by_role = sol.usage.by("role")
    assert sum(r.total_tokens for r in by_role.values()) == sol.usage.total_tokens > 0
    assert sum(r.calls for r in by_role.values()) == sol.usage.calls == len(sol.messages) == len(script.requests)


def generic(req: ScriptedRequest) -> str:
    """Agreeable replies every system can finish on."""
    if req.role == "evaluator":
        return "Correctness: 1\nAdvice: none"
    if req.role == "critic":
        return "[Agree]" if "Option" not in req.prompt else "Option 1"
    if req.role == "ranker":
        return "[1, 2]"
    if "FINAL VERIFICATION ANSWER" in req.prompt:
        return "FINAL VERIFICATION ANSWER: True"
    return "Solution: 6 * 7 = 42. The answer is 42."


# --------------------------------------------------------------------------- reference-profile scenarios
#
# Every baseline's reference profile is pinned on four scripted scenarios (issue 11): the agents all
# disagree; all agree at once; all give the same answer in different words; or disagree in their first
# round and agree afterwards. `scenario_reply` is what the i-th speaker says in round r (1-based).

SCENARIOS = ("disagree", "agree", "paraphrase", "disagree_then_agree")
PARAPHRASES = ("The answer is 42.", "Multiplying six by seven, I obtain 42 as the result.",
               "So the product comes to 42 in total, no doubt about it.")


def scenario_reply(scenario: str, i: int, round_: int = 1) -> str:
    """Speaker i's reply in round `round_`: distinct answers, one identical answer, or one answer worded
    three ways; `disagree_then_agree` disagrees in round 1 only."""
    if scenario == "disagree" or (scenario == "disagree_then_agree" and round_ == 1):
        return f"My working gives {40 + 3 * i} as the answer. The answer is {40 + 3 * i}."
    if scenario == "paraphrase":
        return PARAPHRASES[i % len(PARAPHRASES)]
    return "The answer is 42."


def agrees_now(scenario: str, round_: int) -> bool:
    """Whether a judge (moderator, critic, evaluator, user …) is satisfied in round `round_`."""
    return scenario in ("agree", "paraphrase") or (scenario == "disagree_then_agree" and round_ >= 2)

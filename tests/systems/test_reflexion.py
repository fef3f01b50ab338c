"""Reflexion (`reflexion`, arXiv 2303.11366): trials with self-written tests (code) or an evaluator, and reflections.

They run on scripted deterministic models (`ModelPool.scripted`): replies are computed from the
request, so the orchestration logic (call counts, prompts, routing) is checked exactly, in milliseconds. The code tests
run the sandbox scripted too, except `test_reflexion_in_the_real_sandbox`.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

from maslab.models import ScriptedRequest
from maslab.task import Task
from tests.systems.scripts import SCENARIOS, agrees_now, scenario_reply, solve, solve_recorded

CODE_PROMPT = 'def add(a, b):\n    """Return the sum of a and b."""\n'
CODE_TASK = Task(question=CODE_PROMPT, domain="code",
                 metadata={"entry_point": "add", "prompt": CODE_PROMPT, "test": "def check(c): pass"})
GOOD = "```python\ndef add(a, b):\n    return a + b\n```"
BAD = "```python\ndef add(a, b):\n    return a - b\n```"
TESTS = "```python\nassert add(1, 2) == 3\nassert add(0, 0) == 0\nassert add(-1, 1) == 0\n```"


def coder(implementations: list[str], log: list[ScriptedRequest] | None = None) -> Any:
    """Tester writes three asserts; the actor's t-th attempt is implementations[t-1] (the last repeats)."""
    attempts = 0

    def fn(req: ScriptedRequest) -> str:
        nonlocal attempts
        if log is not None:
            log.append(req)
        if req.role == "tester":
            return TESTS
        if req.role == "reflector":
            return f"Reflection {sum(r.role == 'reflector' for r in log or [])}: add, do not subtract."
        attempts += 1
        return implementations[min(attempts, len(implementations)) - 1]

    return fn


def fake_sandbox(runs: list[str]) -> Any:
    """Stands in for the sandbox: 'runs' the tests by looking at the implementation's text."""

    async def run(program: str, *, timeout: float, memory_mb: int) -> Any:
        runs.append(program)
        tests = re.findall(r"'PASSED:', '([^']*)'", program)
        good = "return a + b" in program
        out = "".join(f"[reflexion-test] {'PASSED' if good else 'FAILED'}: {t}{'' if good else ' # output: -1'}\n"
                      for t in tests)
        return SimpleNamespace(ok=good, stdout=out, stderr="", error=None)

    return run


async def test_reflexion_retries_after_a_failing_test_and_stops_on_success(monkeypatch: Any) -> None:
    """Scripted deterministic models and a scripted sandbox: trial 1 fails its self-written tests, a
    reflection is stored, trial 2 (which sees it) passes: 1 tester + 2 actor + 1 reflector = 4 calls."""
    from maslab.agents import reflexion

    runs: list[str] = []
    monkeypatch.setattr(reflexion, "run_in_sandbox", fake_sandbox(runs))
    log: list[ScriptedRequest] = []
    sol = await solve("reflexion", coder([BAD, GOOD], log), task=CODE_TASK)
    assert sol.usage.calls == 4 and len(runs) == 2
    assert {k: r.calls for k, r in sol.usage.by("role").items()} == {"tester": 1, "actor": 2, "reflector": 1}
    assert "return a + b" in sol.answer and sol.metadata["passed"] is True
    assert [t["passed"] for t in sol.metadata["trials"]] == [False, True]
    assert sol.metadata["tests"] == ["assert add(1, 2) == 3", "assert add(0, 0) == 0", "assert add(-1, 1) == 0"]
    second = [r for r in log if r.role == "actor"][1].prompt
    assert "Reflection 1" in second and "return a - b" in second and "Tests failed" in second
    assert "def check(c)" not in "".join(runs)  # the benchmark's hidden test is never used


async def test_reflexion_code_call_count_bounds(monkeypatch: Any) -> None:
    """Scripted deterministic models and sandbox: success at once = 2 calls; never = 2 x max_trials."""
    from maslab.agents import reflexion

    monkeypatch.setattr(reflexion, "run_in_sandbox", fake_sandbox([]))
    sol = await solve("reflexion", coder([GOOD]), task=CODE_TASK)
    assert sol.usage.calls == 2 and sol.metadata["passed"] is True
    sol = await solve("reflexion", coder([BAD]), task=CODE_TASK)
    assert sol.usage.calls == 1 + 4 + 3 and sol.metadata["passed"] is False and "return a - b" in sol.answer
    sol = await solve("reflexion", coder([BAD]), task=CODE_TASK, max_trials=2)
    assert sol.usage.calls == 4


async def test_reflexion_in_the_real_sandbox() -> None:
    """Scripted deterministic models, real sandbox: the failing test's actual output reaches the
    reflector, and the corrected implementation passes on trial 2."""
    sandbox = pytest.importorskip("maslab.sandbox")
    try:
        probe = await sandbox.arun_python("print('ok')", timeout=10.0)
    except sandbox.SandboxError as exc:
        pytest.skip(f"sandbox refuses here: {exc}")
    if not probe.ok:
        pytest.skip(f"sandbox unavailable here: {probe.error}")
    log: list[ScriptedRequest] = []
    sol = await solve("reflexion", coder([BAD, GOOD], log), task=CODE_TASK)
    assert sol.metadata["passed"] is True and sol.usage.calls == 4
    feedback = sol.metadata["trials"][0]["feedback"]
    assert "Tests failed" in feedback and "assert add(1, 2) == 3" in feedback and "# output: -1" in feedback
    assert "Tests passed" in sol.metadata["trials"][1]["feedback"]


@pytest.mark.parametrize(("correct_at", "calls"), [(1, 2), (2, 5), (None, 11)])
async def test_reflexion_reasoning_variant_uses_an_evaluator(correct_at: int | None, calls: int) -> None:
    """Scripted deterministic models: non-code tasks are judged by the evaluator; 3T - 1 calls."""
    counts: Counter[str] = Counter()
    prompts: dict[str, list[str]] = defaultdict(list)

    def fn(req: ScriptedRequest) -> str:
        counts[req.role] += 1
        prompts[req.role].append(req.prompt)
        if req.role == "evaluator":
            return "CORRECT\nfine." if counts["evaluator"] == correct_at else "INCORRECT\n6*7 is not 41."
        if req.role == "reflector":
            return "I mis-multiplied; recompute carefully."
        return f"Attempt {counts['actor']}: the answer is {40 + counts['actor']}."

    sol = await solve("reflexion", fn)
    assert sol.usage.calls == calls and "tester" not in sol.usage.by("role")
    assert sol.answer.startswith(f"Attempt {correct_at or 4}:")
    if correct_at == 2:
        assert "I mis-multiplied" in prompts["actor"][1] and "INCORRECT" in prompts["actor"][1]


# --------------------------------------------------------------------------- reference profile (the paper's loop)

REFERENCE_CALLS = {
    "disagree": 11,  # never judged correct: 4 × (actor + evaluator) + 3 reflections
    "agree": 2,  # trial 1 is correct: actor + evaluator
    "paraphrase": 2,  # a reworded correct answer is still judged correct at once
    "disagree_then_agree": 5,  # actor, evaluator, reflection, actor, evaluator
}


@pytest.mark.parametrize("scenario", SCENARIOS)
async def test_reference_profile_calls_and_what_a_retry_reads(scenario: str) -> None:
    """Scripted deterministic models, each scenario (a non-code task): Reflexion is not in MASLab, so its
    reference is the paper's loop (REFERENCE_CALLS); a retry reads its previous answer, the evaluator's
    reason and the reflections so far."""
    counts: Counter[str] = Counter()

    def fn(req: ScriptedRequest) -> str:
        counts[req.role] += 1
        if req.role == "evaluator":
            return "CORRECT\nfine." if agrees_now(scenario, counts["evaluator"]) else "INCORRECT\nnot 42."
        if req.role == "reflector":
            return f"Reflection {counts['reflector']}: multiply again."
        return scenario_reply(scenario, counts["actor"], counts["actor"])

    sol, script = await solve_recorded("reflexion", fn, profile="reference")
    assert sol.usage.calls == REFERENCE_CALLS[scenario]
    for t, req in enumerate(script.by_role("actor")[1:], start=2):
        assert scenario_reply(scenario, t - 1, t - 1) in req.prompt and "not 42." in req.prompt
        assert all(f"Reflection {j}: multiply again." in req.prompt for j in range(1, t))

"""Method zoo A: cot, llm_debate, mad, self_refine, reflexion, mixture_of_agents.

Every test here runs on scripted deterministic models (`ModelPool.scripted`): replies are computed
from the request, so call counts, prompts and routing are checked exactly, in milliseconds.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections import Counter, defaultdict
from types import SimpleNamespace
from typing import Any

import pytest

from maslab.method import load_method
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Solution, Task

QUESTION = "What is 6 * 7?"


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


# ----------------------------------------------------------------------------------------- all methods

EXPECTED_CALLS = {
    "cot": 1,
    "llm_debate": 7,  # 3 debaters x 2 rounds + aggregator
    "mad": 5,  # round 1 (3) with an unparsable moderator reply, then the judge's 2 calls
    "self_refine": 9,  # draft + 4 x (feedback + refine), the critic never says STOP
    "reflexion": 11,  # non-code task: 4 x (actor + evaluator) + 3 reflections, never judged correct
    "mixture_of_agents": 10,  # 3 layers x 3 proposers + aggregator
}


@pytest.mark.parametrize("name", sorted(EXPECTED_CALLS))
async def test_every_method_returns_a_solution_with_consistent_usage(name: str) -> None:
    """Scripted deterministic models: a Solution with a string answer, the published call count at
    the defaults, per-role tokens summing to the run total, and a drawable graph."""
    sol = await solve(name, lambda req: f"{req.agent} thinks the answer is 42")
    assert isinstance(sol, Solution) and isinstance(sol.answer, str) and sol.answer
    assert sol.usage.calls == EXPECTED_CALLS[name] == len(sol.messages)
    by_role = sol.usage.by("role")
    assert sum(r.total_tokens for r in by_role.values()) == sol.usage.total_tokens > 0
    assert sum(r.calls for r in by_role.values()) == sol.usage.calls
    mermaid = load_method(name).mermaid()
    assert "graph TD" in mermaid and "__start__" in mermaid


# ----------------------------------------------------------------------------------------- CoT


async def test_cot_sends_the_query_with_the_step_by_step_cue() -> None:
    """Scripted deterministic model: one call whose prompt is the query plus the cue."""
    seen: list[str] = []
    sol = await solve("cot", lambda req: seen.append(req.prompt) or "6*7 = 42. The answer is 42.")
    assert seen == [f"{QUESTION}\n\nLet's think step by step."]
    assert sol.answer.endswith("42.") and sol.usage.by("role")["solver"].calls == 1


# ----------------------------------------------------------------------------------------- LLM-Debate


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


# ----------------------------------------------------------------------------------------- MAD


def mad_model(moderator: Any, judge: Any = None, log: list[ScriptedRequest] | None = None) -> Any:
    """Sides reply with their role and round; the moderator/judge replies come from the given callables."""

    def fn(req: ScriptedRequest) -> str:
        if log is not None:
            log.append(req)
        rnd = n_assistant(req) + 1
        if req.role == "moderator":
            return moderator(rnd)
        if req.role == "judge":
            return (judge or (lambda r: "Candidates: 41, 42" if r == 1 else '{"Reason": "x", "debate_answer": "42"}'))(rnd)
        return f"<{req.role} round {rnd}> I say {40 + rnd}."

    return fn


def verdict(answer: str, fenced: bool = False) -> str:
    text = json.dumps({"Whether there is a preference": "Yes" if answer else "No", "Supported Side": "Affirmative",
                       "Reason": "because", "debate_answer": answer})
    return f"```json\n{text}\n```" if fenced else text


async def test_mad_stops_when_the_moderator_gives_an_answer() -> None:
    """Scripted deterministic models: a non-empty debate_answer in round 1 ends MAD after 3 calls."""
    sol = await solve("mad", mad_model(lambda r: verdict("42", fenced=True)))
    assert sol.answer == "42" and sol.usage.calls == 3
    assert sol.metadata["decided_by"] == "moderator" and sol.metadata["rounds"] == 1


async def test_mad_continues_until_an_answer_or_max_round_then_the_judge_decides() -> None:
    """Scripted deterministic models: empty answers continue the debate (3 calls a round); an answer
    in round 3 stops at 9 calls; none by max_round hands over to the judge (+2 calls = 11), who sees
    both sides' first answers."""
    log: list[ScriptedRequest] = []
    sol = await solve("mad", mad_model(lambda r: verdict("42" if r == 3 else ""), log=log))
    assert sol.answer == "42" and sol.usage.calls == 9 and sol.metadata["rounds"] == 3
    moderator_prompts = [r.prompt for r in log if r.role == "moderator"]
    assert [p.split()[2] for p in moderator_prompts] == ["first", "second", "third"]
    aff_round2 = next(r for r in log if r.role == "affirmative" and n_assistant(r) == 1)
    assert aff_round2.prompt.startswith("<negative round 1>")  # replies to the other side's latest argument

    log.clear()
    sol = await solve("mad", mad_model(lambda r: verdict(""), log=log))
    assert sol.usage.calls == 3 * 3 + 2 and sol.metadata["decided_by"] == "judge" and sol.answer == "42"
    judge_first = next(r for r in log if r.role == "judge")
    assert "<affirmative round 1>" in judge_first.prompt and "<negative round 1>" in judge_first.prompt
    assert "round 2>" not in judge_first.prompt and "round 3>" not in judge_first.prompt

    sol = await solve("mad", mad_model(lambda r: verdict("")), max_round=1)
    assert sol.usage.calls == 5


async def test_mad_malformed_moderator_json_never_executes_and_goes_to_the_judge(tmp_path: Any) -> None:
    """Scripted deterministic models: an unparsable moderator reply (here Python that would write a
    file if evaluated) is never executed; the judge decides at once (3 + 2 calls)."""
    marker = tmp_path / "pwned"
    payload = f"__import__('pathlib').Path({str(marker)!r}).write_text('pwned')"
    sol = await solve("mad", mad_model(lambda r: payload))
    assert not marker.exists()
    assert sol.usage.calls == 5 and sol.answer == "42"
    assert sol.metadata["decided_by"] == "judge" and sol.metadata["moderator_parse_failed"] is True

    # a truncated JSON object is repaired, not rejected
    sol = await solve("mad", mad_model(lambda r: '{"Whether there is a preference": "Yes", "debate_answer": "42"'))
    assert sol.answer == "42" and sol.usage.calls == 3

    # a judge reply that is not JSON either: its text is the answer, still a string
    sol = await solve("mad", mad_model(lambda r: "no idea", judge=lambda r: "I pick 42"))
    assert sol.answer == "I pick 42" and sol.metadata["judge_answer_parsed"] is False


async def test_mad_judge_runs_on_the_moderators_model_unless_assigned() -> None:
    """Scripted deterministic models on three aliases: the judge follows the moderator's alias."""
    sol = await solve("mad", mad_model(lambda r: "bad"), "x", "m", "j", roles={"moderator": "m"})
    assert {(r.role, r.alias) for r in sol.usage.rows if r.role in ("moderator", "judge")} == {
        ("moderator", "m"), ("judge", "m")}
    sol = await solve("mad", mad_model(lambda r: "bad"), "x", "m", "j", roles={"moderator": "m", "judge": "j"})
    assert sol.usage.by("alias")["j"].calls == 2


# ----------------------------------------------------------------------------------------- Self-Refine


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


# ----------------------------------------------------------------------------------------- Reflexion

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
    sandbox = pytest.importorskip("maslab.tools.sandbox")
    probe = await sandbox.arun_python("print('ok')", timeout=10.0)
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


# ----------------------------------------------------------------------------------------- Mixture-of-Agents


def moa_reply(req: ScriptedRequest) -> str:
    """A proposer of layer l (one more than the highest layer quoted in its system prompt) says so."""
    quoted = [int(x) for x in re.findall(r"<L(\d) ", req.system)]
    return f"<L{max(quoted, default=0) + 1} {req.agent}>"


async def test_moa_call_count_and_layers_see_all_previous_answers() -> None:
    """Scripted deterministic models: layers x proposers + 1 calls; each layer-2 proposer's system
    prompt lists every layer-1 answer (and nothing later); the aggregator sees the last layer."""
    log: list[ScriptedRequest] = []
    sol = await solve("mixture_of_agents", lambda req: log.append(req) or moa_reply(req))
    assert sol.usage.calls == 3 * 3 + 1
    layer2 = [r for r in log if r.role == "proposer" and "<L1 " in r.system and "<L2 " not in r.system]
    assert len(layer2) == 3
    for req in layer2:
        assert all(f"<L1 proposer_{i}>" in req.system for i in (1, 2, 3)) and req.prompt == QUESTION
    aggregator = next(r for r in log if r.role == "aggregator")
    assert all(f"<L3 proposer_{i}>" in aggregator.system for i in (1, 2, 3)) and "<L2 " not in aggregator.system
    assert [len(layer) for layer in sol.metadata["layers"]] == [3, 3, 3]

    sol = await solve("mixture_of_agents", moa_reply, layers=2, proposers=4)
    assert sol.usage.calls == 2 * 4 + 1


async def test_moa_proposers_run_concurrently_on_their_own_aliases() -> None:
    """Scripted deterministic async models: a layer's proposers are in flight together, and proposer i
    runs on the i-th alias in every layer."""
    model = Concurrency(moa_reply)
    sol = await solve("mixture_of_agents", model, "a", "b", "c", "d",
                      roles={"proposer": ["a", "b", "c"], "aggregator": "d"})
    assert model.peak["proposer"] == 3
    assert {k: r.calls for k, r in sol.usage.by("alias").items()} == {"a": 3, "b": 3, "c": 3, "d": 1}
    assert {(r.agent, r.alias) for r in sol.usage.rows} == {
        ("proposer_1", "a"), ("proposer_2", "b"), ("proposer_3", "c"), ("aggregator", "d")}


# ----------------------------------------------------------------------------------------- workflows

WORKFLOW_CALLS = {"cot": 1, "llm_debate": 7, "mad": 5, "self_refine": 5, "reflexion": 5, "mixture_of_agents": 5}


@pytest.mark.parametrize("name", sorted(WORKFLOW_CALLS))
async def test_workflow_yaml_validates_and_runs(name: str) -> None:
    """Scripted deterministic model standing in for `smol`: each system's workflow file validates
    and runs, with the call count its (smaller) parameters imply."""
    from pathlib import Path

    from maslab.workflow import load_workflow

    path = Path(__file__).resolve().parents[1] / "workflows" / f"{name}.yaml"
    method = load_workflow(path, aliases=["smol"]).to_method()
    assert method.name == name
    sol = await method.solve(QUESTION, pool=ModelPool.scripted(lambda req: "The answer is 42.", "smol"))
    assert sol.usage.calls == WORKFLOW_CALLS[name] and set(sol.usage.by("alias")) == {"smol"}

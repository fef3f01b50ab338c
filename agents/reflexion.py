"""Reflexion (Shinn et al., arXiv 2303.11366): act, evaluate, reflect in words, retry with the reflections.

Code tasks (`task.domain == "code"`, or `mode: code`) — the paper's programming setting:

    1. the tester writes unit tests (assert statements) from the signature and docstring, once;
       the first `max_tests` asserts that parse are kept (parsed with `ast`, never evaluated here;
       with none, a trial passes when the implementation runs without error);
    2. trial t: the actor writes the full implementation — trial 1 from the task alone, later
       trials from its previous implementation, that implementation's test results and the
       reflections in memory;
    3. the implementation and the tests run together in the sandbox (a subprocess with a timeout
       and a memory limit; never in this process): each test reports passed or failed, with the
       actual output of a failing `assert f(x) == y`;
    4. every test passes → stop. Otherwise, unless this was trial `max_trials`, the reflector
       writes a few sentences on why the implementation failed and what to change; the reflection
       joins the memory (the last `memory` reflections are shown) → 2.

Other tasks — an evaluator-based variant of our own. The paper's reasoning runs (HotPotQA) grade
each trial against the gold answer, which a fair benchmark must not show to the system, so an
evaluator agent takes the sandbox's place: the actor answers step by step, the evaluator judges
the latest answer CORRECT or INCORRECT with a reason (no verdict counts as INCORRECT), and the
reason stands in for the test results in steps 3–4; step 1 is skipped.

The answer is the implementation (code tasks) or the reply (other tasks) of the trial that passed,
else of the last trial. Reflexion is not in MASLab's reference code; we follow the spec (arXiv
2505.16988 §3: "code, run self-written tests, on failure store a reflection and retry;
`max_trials: 4`"). Prompts paraphrase the original repo's programming prompts, zero-shot.
Roles: `actor`, `tester`, `evaluator`, `reflector`. Calls, with T ≤ max_trials trials played:
code 1 + T + (T − 1) = 2T (8 at most); other tasks T + T + (T − 1) = 3T − 1 (11 at most);
a first trial that passes costs 2 either way.
There is no MASLab code to follow, so the `reference` profile is the `default` one (the
original's algorithm at MASLab's sampling, temperature 0.5 and max_tokens 2048).
"""

from __future__ import annotations

import ast
import re
from typing import Any, Literal, TypedDict

from pydantic import Field

from maslab.answers import extract_code
from maslab.graph import END, START, state_graph
from maslab.method import Deviation, Method, MethodConfig, RunContext, register_method
from maslab.task import Task

ACTOR_CODE_PROMPT = ("You are an AI Python programmer. You are given a function signature and docstring. Write "
                     "the full implementation (restate the function signature), in one ```python block.")
TESTER_PROMPT = ("You are an AI coding assistant that writes unique, diverse and intuitive unit tests for "
                 "functions, given their signature and docstring.")
ACTOR_REASONING_PROMPT = "Let's think step by step, then state the final answer clearly at the end."
EVALUATOR_PROMPT = ("You check answers. Examine the proposed answer carefully. Reply with CORRECT or INCORRECT "
                    "on the first line, then a short justification.")
REFLECTOR_CODE_PROMPT = (
    "You are a Python programming assistant. You will be given a function implementation and the results of "
    "its unit tests. Write a few sentences explaining why the implementation is wrong, as the tests show, and "
    "what to change. This is a hint for your next attempt. Do not write the implementation.")
REFLECTOR_REASONING_PROMPT = (
    "You are an advanced reasoning agent that improves by self-reflection. Your previous answer was judged "
    "wrong. In a few sentences, diagnose a possible reason for the failure and devise a new, concise plan "
    "that avoids it. Do not answer the question itself.")

TEST_REQUEST = ("{prompt}\n\nWrite at most {n} unit tests for this function, each a single Python `assert` "
                "statement calling the function, in one ```python block.")
RETRY_REQUEST = ("\n\n[Your previous {what}]:\n{attempt}\n\n[{results} of your previous {what}]:\n{feedback}\n\n"
                 "[Reflections on your earlier attempts]:\n{memory}\n\nUsing these reflections, write an improved {what}.")
REFLECT_REQUEST = "Task:\n{task}\n\n[Your {what}]:\n{attempt}\n\n[{results}]:\n{feedback}\n\n[Reflection]:"
MARK = "[reflexion-test]"
_VERDICT = re.compile(r"\b(in)?correct\b", re.IGNORECASE)


async def run_in_sandbox(program: str, *, timeout: float, memory_mb: int) -> Any:
    """Run a program in the sandbox (`maslab.sandbox`), returning its `SandboxResult`."""
    from maslab.sandbox import arun_python

    return await arun_python(program, timeout=timeout, memory_mb=memory_mb)


def parse_tests(text: str, limit: int) -> list[str]:
    """The `assert` statements of the tester's reply (at most `limit`), each on one line.

    By parsing only (`ast`): nothing the tester wrote is evaluated in this process."""
    code = extract_code(text)
    try:
        nodes = ast.parse(code).body
    except SyntaxError:  # keep the single-line asserts that parse on their own
        nodes = []
        for line in code.splitlines():
            if line.strip().startswith("assert"):
                try:
                    nodes += ast.parse(line.strip()).body
                except SyntaxError:
                    continue
    found = [ast.unparse(node) for node in nodes if isinstance(node, ast.Assert)]
    return list(dict.fromkeys(found))[:limit]


def test_harness(tests: list[str]) -> str:
    """`check(candidate)`: runs each test on its own, printing PASSED/FAILED (and a failing call's output)."""
    lines = ["def check(candidate):", "    import sys as _sys", "    _failed = 0", "    _nothing = object()"]
    for test in tests:
        node = ast.parse(test).body[0]
        body = [test]
        if (isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) and len(node.test.ops) == 1
                and isinstance(node.test.ops[0], ast.Eq)):
            left, right = ast.unparse(node.test.left), ast.unparse(node.test.comparators[0])
            body = [f"_out = ({left})", f"assert _out == ({right})"]
        lines += ["    _out = _nothing", "    try:", *(f"        {b}" for b in body),
                  "    except Exception as _e:", "        _failed += 1",
                  f"        print({MARK!r}, 'FAILED:', {test!r}, '#', type(_e).__name__, _e,",
                  "              '' if _out is _nothing else f'# output: {_out!r}')",
                  "    else:", f"        print({MARK!r}, 'PASSED:', {test!r})"]
    lines.append("    _sys.exit(1 if _failed else 0)")
    return "\n".join(lines) + "\n"


def build_program(task: Task, code: str, tests: list[str]) -> str:
    """The implementation (after the task's prompt, as the code scorer reads it) followed by the tests."""
    harness = test_harness(tests)
    entry_point = task.metadata.get("entry_point")
    if entry_point:
        from maslab.sandbox import build_humaneval_program

        program, _ = build_humaneval_program(task.metadata.get("prompt", task.question), code, harness, entry_point)
        return program
    return f"{code.rstrip()}\n\n\n{harness}\n\ncheck(None)\n"


def test_report(result: Any, tests: list[str]) -> tuple[bool, str]:
    """(all passed, the feedback the actor and reflector see) from a sandbox run of the tests."""
    stdout = result.stdout or ""
    passed = [ln.split("PASSED:", 1)[1].strip() for ln in stdout.splitlines() if ln.startswith(f"{MARK} PASSED:")]
    failed = [ln.split("FAILED:", 1)[1].strip() for ln in stdout.splitlines() if ln.startswith(f"{MARK} FAILED:")]
    ok = bool(result.ok) and len(passed) == len(tests) and not failed
    parts = []
    if passed:
        parts.append("Tests passed:\n" + "\n".join(passed))
    if failed:
        parts.append("Tests failed:\n" + "\n".join(failed))
    if not tests:
        parts.append("No unit tests were available." + (" The program ran without error." if ok else ""))
    if not ok and (not tests or len(passed) + len(failed) < len(tests)):
        why = result.error or (result.stderr or "").strip()[-1500:] or "it stopped early"
        parts.append(f"The program failed{' before finishing its tests' if tests else ''}: {why}")
    return ok, "\n\n".join(parts)


def verdict_ok(text: str) -> bool:
    """The evaluator's first CORRECT/INCORRECT word; no verdict counts as incorrect."""
    match = _VERDICT.search(text)
    return bool(match) and not match.group(1)


class Config(MethodConfig):
    max_trials: int = Field(default=4, ge=1, description="most attempts (our choice, as in the spec)")
    mode: Literal["auto", "code", "reasoning"] = Field(
        default="auto", description="`code`: self-written tests in the sandbox; `reasoning`: an LLM evaluator; "
                                    "`auto`: code for tasks whose domain is code")
    max_tests: int = Field(default=6, ge=1, description="most self-written unit tests kept")
    memory: int = Field(default=3, ge=1, description="most recent reflections shown to the actor (the paper's Ω)")
    timeout: float = Field(default=10.0, gt=0, description="sandbox seconds per test run")
    memory_mb: int = Field(default=1024, ge=64, description="sandbox memory limit per test run")


class State(TypedDict, total=False):
    task: Task
    tests: list[str]
    trial: int
    attempt: str  # the latest implementation (code) or reply
    passed: bool
    feedback: str  # test results or the evaluator's judgement of the latest attempt
    reflections: list[str]
    answer: str
    metadata: dict[str, Any]


DEVIATIONS = (
    Deviation(what="Non-code tasks: an evaluator agent judges each trial; the paper's reasoning runs check the "
                   "gold answer", why="a fair benchmark must not show the gold answer to the system", kind="spec"),
    Deviation(what="Zero-shot prompts paraphrasing the original programming prompts (the original uses few-shot "
                   "examples)", why="one system for every benchmark", kind="wording"),
    Deviation(what="max_trials 4", why="the spec's choice (the paper varies it)", kind="spec"),
    Deviation(what="Self-written tests and implementations run in maslab's sandbox", why="model-written code "
                   "never runs in the main process", kind="spec"),
)

@register_method
class Reflexion(Method[Config]):
    name = "reflexion"
    citation = "arXiv 2303.11366"
    summary = "Act, evaluate (self-written tests in a sandbox, or an evaluator), reflect in words, retry."
    roles = ("actor", "tester", "evaluator", "reflector")
    functions = {"actor": "qa", "tester": "evaluate", "evaluator": "evaluate", "reflector": "plan"}
    Config = Config
    reference = "Reflexion's paper (arXiv 2303.11366) and its programming code; not in MASLab"
    deviations = DEVIATIONS

    def build(self, ctx: RunContext[Config]) -> Any:
        cfg = self.config

        def is_code(task: Task) -> bool:
            return cfg.mode == "code" or (cfg.mode == "auto" and task.domain == "code")

        async def write_tests(state: State) -> State:
            tester = ctx.agent("tester", TESTER_PROMPT)
            reply = await ctx.ask(tester, TEST_REQUEST.format(prompt=state["task"].prompt(), n=cfg.max_tests))
            return {"tests": parse_tests(reply, cfg.max_tests)}

        def words(task: Task) -> dict[str, str]:
            return {"what": "implementation", "results": "Unit test results"} if is_code(task) else \
                {"what": "answer", "results": "Evaluation"}

        async def act(state: State) -> State:
            task, trial, code = state["task"], state.get("trial", 0) + 1, is_code(state["task"])
            actor = ctx.agent("actor", ACTOR_CODE_PROMPT if code else "")
            prompt = task.prompt() if code else f"{task.prompt()}\n\n{ACTOR_REASONING_PROMPT}"
            if trial > 1:
                memory = "\n".join(f"- {r}" for r in state["reflections"][-cfg.memory:])
                prompt += RETRY_REQUEST.format(attempt=state["attempt"], feedback=state["feedback"], memory=memory,
                                               **words(task))
            reply = await ctx.ask(actor, prompt)
            return {"trial": trial, "attempt": extract_code(reply) if code else reply}

        async def run_tests(state: State) -> State:
            tests = state.get("tests", [])
            result = await run_in_sandbox(build_program(state["task"], state["attempt"], tests),
                                          timeout=cfg.timeout, memory_mb=cfg.memory_mb)
            passed, feedback = test_report(result, tests)
            return finish(state, passed, feedback)

        async def self_evaluate(state: State) -> State:
            evaluator = ctx.agent("evaluator", EVALUATOR_PROMPT)
            verdict = await ctx.ask(evaluator, f"Question:\n{state['task'].prompt()}\n\n"
                                               f"Proposed answer:\n{state['attempt']}")
            return finish(state, verdict_ok(verdict), verdict)

        def finish(state: State, passed: bool, feedback: str) -> State:
            trials = [*state.get("metadata", {}).get("trials", []), {"passed": passed, "feedback": feedback}]
            return {"passed": passed, "feedback": feedback, "answer": state["attempt"],
                    "metadata": {"trials": trials, "passed": passed, "tests": state.get("tests", []),
                                 "reflections": state.get("reflections", [])}}

        async def reflect(state: State) -> State:
            task = state["task"]
            reflector = ctx.agent("reflector", REFLECTOR_CODE_PROMPT if is_code(task) else REFLECTOR_REASONING_PROMPT)
            reflection = await ctx.ask(reflector, REFLECT_REQUEST.format(
                task=task.prompt(), attempt=state["attempt"], feedback=state["feedback"], **words(task)))
            return {"reflections": [*state.get("reflections", []), reflection]}

        def after_evaluation(state: State) -> str:
            return END if state["passed"] or state["trial"] >= cfg.max_trials else "reflect"

        graph = state_graph(State)
        graph.add_node("write_tests", write_tests)
        graph.add_node("act", act)
        graph.add_node("run_tests", run_tests)
        graph.add_node("self_evaluate", self_evaluate)
        graph.add_node("reflect", reflect)
        graph.add_conditional_edges(START, lambda s: "write_tests" if is_code(s["task"]) else "act",
                                    ["write_tests", "act"])
        graph.add_edge("write_tests", "act")
        graph.add_conditional_edges("act", lambda s: "run_tests" if is_code(s["task"]) else "self_evaluate",
                                    ["run_tests", "self_evaluate"])
        for node in ("run_tests", "self_evaluate"):
            graph.add_conditional_edges(node, after_evaluation, ["reflect", END])
        graph.add_edge("reflect", "act")
        return graph

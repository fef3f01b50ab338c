"""Extraction, math equivalence and scorers (numeric, choice, exact, math, code in the sandbox, LLM judge)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import textwrap
import time
from pathlib import Path

import pytest

from maslab.answers import extract_boxed, extract_choice, extract_code, extract_number, math_equal
from maslab.bench.datasets import load_dataset
from maslab.bench.scorers import (
    SCORERS,
    Score,
    get_scorer,
    parse_verdict,
    score_for,
)
from maslab.errors import ConfigError, ModelCallError
from maslab.sandbox import build_humaneval_program
from maslab.task import Task

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"
HUMANEVAL = DATA / "humaneval.jsonl.gz"


# ---------------------------------------------------------------------------------- extraction


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("She earns 9 * 2 = $18.\n#### 18", "18"),
        ("first #### 3 then corrected\n#### 1,000.00", "1000"),
        ("so the result is \\boxed{42}. Check: 40 + 2 = 42, and 7 more", "42"),
        ("\\boxed{\\frac{3}{4}}", "0.75"),
        ("The answer is $1,234.50.", "1234.5"),
        ("Answer: -7 degrees", "-7"),
        ("We get 12 cm, then 5-3=2 cm.", "2"),
        ("The temperature fell to −4.", "-4"),
        ("It costs .5 dollars", "0.5"),
        ("a total of 3.000 kg.", "3"),
        ("The answer is 40% of the cost", "40"),
        ("nothing numeric here", None),
        ("", None),
    ],
)
def test_extract_number(text, expected):
    assert extract_number(text) == expected


def test_extract_number_prefers_marked_answers_over_later_numbers():
    assert extract_number("#### 5\nThat took 3 steps.") == "5"
    assert extract_number("The answer is 12. (computed in 4 steps)") == "12"
    assert extract_number("list: 1, 2, 3") == "3"  # commas between items are not thousands separators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Answer: (B)", "B"),
        ("Therefore, the answer is C", "C"),
        ("the final answer is \\boxed{D}", "D"),
        ("\\boxed{(a)}", "A"),
        ("B", "B"),
        ("(e)", "E"),
        ("E.", "E"),
        ("**Answer:** (C) 42 apples", "C"),
        ("I first thought (A), but the answer is option D.", "D"),
        ("Looking at the options...\nB", "B"),
        ("The answer is a number larger than ten", None),
        ("Answer: F", None),  # out of range for 5 options
        ("no letter at all", None),
    ],
)
def test_extract_choice(text, expected):
    assert extract_choice(text, 5) == expected


def test_extract_choice_respects_option_count():
    assert extract_choice("Answer: (E)", 4) is None
    assert extract_choice("Answer: (E)", 5) == "E"


def test_extract_boxed_is_balanced_and_last():
    assert extract_boxed("\\boxed{1} then \\boxed{\\frac{a}{b+\\sqrt{2}}}") == "\\frac{a}{b+\\sqrt{2}}"
    assert extract_boxed("\\boxed{unclosed {x}") is None
    assert extract_boxed("\\boxed 7 is it") == "7"
    assert extract_boxed("no box") is None


def test_extract_code():
    text = "Example:\n```python\nprint(f(1))\n```\nSolution:\n```python\ndef f(x):\n    return x + 1\n```\nThanks"
    assert extract_code(text) == "def f(x):\n    return x + 1\n"
    assert extract_code("```\nx = 1\n```") == "x = 1\n"
    assert extract_code("```py\ny = 2\n```\n```\nlonger = 'untagged block'\n```") == "y = 2\n"
    assert extract_code("```python\ndef g():\n    return 1\n") == "def g():\n    return 1\n"  # truncated reply
    assert extract_code("    return x") == "    return x"


# ---------------------------------------------------------------------------------- math_equal


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("0.5", "\\frac{1}{2}"),
        ("\\frac12", "0.5"),
        ("\\dfrac{3}{4}", "0.75"),
        ("1,000", "1000"),
        ("\\left(1, 2\\right)", "(1,2)"),
        ("\\sqrt{2}/2", "\\frac{1}{\\sqrt2}"),
        ("2\\sqrt{3}", "\\sqrt{12}"),
        ("x^2 + 2x + 1", "(x+1)^{2}"),
        ("3 \\cdot 4", "12"),
        ("50\\%", "0.5"),
        ("50%", "50"),
        ("\\boxed{7}", "7.0"),
        ("x = 5", "5"),
        ("\\text{5 cm}", "5 cm"),
        ("\\frac{\\pi}{2}", "\\pi/2"),
    ],
)
def test_math_equal_true(a, b):
    assert math_equal(a, b)
    assert math_equal(b, a)


@pytest.mark.parametrize(
    ("a", "b"),
    [("0.5", "\\frac{1}{3}"), ("x+1", "x-1"), ("(1,2)", "(2,1)"), ("3", "4"), ("", "0"), (None, "1"), ("\\frac{1}{3}", "0.333")],
)
def test_math_equal_false(a, b):
    assert not math_equal(a, b)


def test_math_equal_guards_untrusted_input():
    start = time.perf_counter()
    assert not math_equal("9^{9^{9^{9}}}", "1")  # would never finish if evaluated
    assert not math_equal("2^{1000000}", "3")
    assert not math_equal("__import__('os').system('echo hi')", "0")
    assert not math_equal("x.evalf(100000)", "x")
    assert not math_equal("1+" * 500 + "1", "501")  # over the size limit
    assert time.perf_counter() - start < 5


# ---------------------------------------------------------------------------------- rule scorers


async def test_numeric_scorer_and_errors():
    task = Task(question="q", answer="1000", metadata={"scorer": "numeric"})
    scorer = get_scorer("numeric")
    good = await scorer.score(task, "so the total is #### 1,000.00")
    assert good.correct and good.value == 1.0 and good.extracted == "1000" and good.error is None
    bad = await scorer.score(task, "#### 999")
    assert not bad.correct and bad.value == 0.0 and bad.error is None
    assert (await get_scorer("numeric", rel_tol=1e-2).score(task, "#### 999")).correct
    missing = await scorer.score(task, None)
    assert not missing.correct and missing.error and "inference" in missing.error
    nothing = await scorer.score(task, "I don't know")
    assert not nothing.correct and nothing.extracted is None and nothing.error is None
    no_gold = await scorer.score(Task(question="q"), "#### 3")
    assert not no_gold.correct and "no reference" in no_gold.error
    bad_gold = await scorer.score(Task(question="q", answer="many"), "#### 3")
    assert not bad_gold.correct and "not a number" in bad_gold.error


def test_score_model():
    err = Score.inference_error("timeout after 3 retries")
    assert not err.correct and err.value == 0.0 and err.error == "timeout after 3 retries"
    with pytest.raises(ValueError):
        Score(value=1.5, correct=True)


async def test_choice_scorer():
    task = Task(question="Pick", choices=["red", "green", "blue"], answer="B", metadata={"scorer": "choice"})
    scorer = score_for(task)
    assert (await scorer.score(task, "The answer is (B).")).correct
    assert not (await scorer.score(task, "The answer is (C).")).correct
    assert (await scorer.score(task, "green")).correct  # the option's text alone
    res = await scorer.score(task, "hmm")
    assert not res.correct and res.extracted is None
    broken = Task(question="Pick", choices=["a", "b"], answer="Z")
    assert "not an option letter" in (await scorer.score(broken, "A")).error


async def test_exact_and_math_scorers():
    exact = get_scorer("exact")
    task = Task(question="Capital of France?", answer="Paris")
    assert (await exact.score(task, "  paris. ")).correct
    assert not (await exact.score(task, "It is Paris")).correct
    assert not (await get_scorer("exact", case_sensitive=True).score(task, "paris")).correct
    math = get_scorer("math")
    mtask = Task(question="half?", answer="\\frac{1}{2}")
    res = await math.score(mtask, "We divide, so the result is $\\boxed{0.5}$.")
    assert res.correct and res.extracted == "0.5"
    assert (await math.score(mtask, "The final answer is \\frac12.")).correct
    assert not (await math.score(mtask, "\\boxed{\\frac{1}{3}}")).correct


async def test_aqua_scoring_follows_the_shuffled_letter():
    path = DATA / "aqua_test.jsonl"
    if not path.is_file():
        pytest.skip(f"real benchmark file {path} is absent")
    tasks = load_dataset("aqua", path=path, seed=4, limit=30)
    for task in tasks:
        scorer = score_for(task)
        original_letter = task.metadata["original_answer"]
        assert (await scorer.score(task, f"The answer is ({task.answer})")).correct
        if original_letter != task.answer:
            assert not (await scorer.score(task, f"The answer is ({original_letter})")).correct


def test_registry():
    assert {"numeric", "choice", "math", "exact", "code", "llm_judge"} <= set(SCORERS)
    with pytest.raises(ConfigError, match="unknown scorer"):
        get_scorer("fuzzy")
    with pytest.raises(ConfigError, match="numeric"):
        get_scorer("numeric", pool=object())
    with pytest.raises(ConfigError, match="needs pool"):
        get_scorer("llm_judge")
    assert score_for(Task(question="q", choices=["a", "b"], answer="A")).name == "choice"
    assert score_for(Task(question="q", answer="x")).name == "exact"
    assert score_for(Task(question="q", answer="1", metadata={"scorer": "math"})).name == "math"


# ---------------------------------------------------------------------------------- code


PROMPT = 'from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    """Sum of xs."""\n'
TEST = "def check(candidate):\n    assert candidate([1, 2, 3]) == 6\n    assert candidate([]) == 0\n"


def test_program_assembly_modes_compile():
    body = "    return sum(xs)\n"
    prog, mode = build_humaneval_program(PROMPT, body, TEST, "total")
    assert mode == "body" and prog.endswith("check(total)\n")
    compile(prog, "<t>", "exec")  # byte-compiling only
    full = "```python\ndef total(xs):\n    s = 0\n    for x in xs:\n        s += x\n    return s\n```"
    prog, mode = build_humaneval_program(PROMPT, full, TEST, "total")
    assert mode == "function" and "from typing import List" in prog
    # a body that lost its indentation, wholly or only on the first line, is re-indented
    for mangled in ("s = 0\nfor x in xs:\n    s += x\nreturn s", "s = 0\n    for x in xs:\n        s += x\n    return s"):
        prog, _ = build_humaneval_program(PROMPT, mangled, TEST, "total")
        compile(prog, "<t>", "exec")
        assert "\n    s = 0\n    for x in xs:\n        s += x\n    return s" in prog


def _sandbox_available() -> bool:
    """Whether model-written code may run here (an isolating mode works, or MASLAB_SANDBOX=none says to)."""
    from maslab.sandbox import isolation_report

    return isolation_report().auto is not None


needs_sandbox = pytest.mark.skipif(not _sandbox_available(), reason="no sandbox isolation works here "
                                   "(`maslab doctor` says why; MASLAB_SANDBOX=none runs the code unisolated)")


@needs_sandbox
async def test_code_scorer_small_cases():
    task = Task(question=PROMPT, metadata={"scorer": "code", "prompt": PROMPT, "test": TEST, "entry_point": "total"})
    scorer = score_for(task)
    assert (await scorer.score(task, "    return sum(xs)\n")).correct
    assert (await scorer.score(task, "```python\ndef total(xs):\n    return sum(xs)\n```")).correct
    assert (await scorer.score(task, "return sum(xs)")).correct
    wrong = await scorer.score(task, "    return None\n")
    assert not wrong.correct and wrong.error is None and "AssertionError" in wrong.detail["stderr"]
    assert not (await scorer.score(task, "    return (\n")).correct  # syntax error, never run
    start = time.perf_counter()
    slow = await get_scorer("code", timeout=2).score(task, "    while True:\n        pass\n")
    assert not slow.correct and time.perf_counter() - start < 15
    assert (await scorer.score(task, None)).error


@needs_sandbox
async def test_code_scorer_reports_sandbox_failures_as_errors(monkeypatch):
    import maslab.sandbox as sandbox

    task = Task(question=PROMPT, metadata={"scorer": "code", "prompt": PROMPT, "test": TEST, "entry_point": "total"})

    async def cannot_start(code, **_):
        return sandbox.SandboxResult(ok=False, stderr="maslab-sandbox: cannot exec python: denied\n",
                                     isolation="namespaces")

    async def raises(code, **_):
        raise sandbox.SandboxError("bubblewrap requested but unavailable")

    monkeypatch.setattr(sandbox, "arun_python", cannot_start)
    res = await score_for(task).score(task, "    return sum(xs)\n")
    assert not res.correct and res.error.startswith("code: maslab-sandbox: cannot exec")
    monkeypatch.setattr(sandbox, "arun_python", raises)
    res = await score_for(task).score(task, "    return sum(xs)\n")
    assert not res.correct and "sandbox failed" in res.error and "unavailable" in res.error


@needs_sandbox
async def test_humaneval_canonical_solutions_all_pass_and_wrong_ones_fail():
    if not HUMANEVAL.is_file():
        pytest.skip(f"real benchmark file {HUMANEVAL} is absent (expected under <repo>/../shared/data)")
    tasks = load_dataset("humaneval", path=HUMANEVAL)
    scorer = get_scorer("code", timeout=20)
    gate = asyncio.Semaphore(16)

    async def run(task: Task, answer: str):
        async with gate:
            return await scorer.score(task, answer)

    good = await asyncio.gather(*(run(t, t.metadata["canonical_solution"]) for t in tasks))
    failed = {t.id: (s.detail.get("stderr", "")[-300:], s.error) for t, s in zip(tasks, good, strict=True) if not s.correct}
    assert not failed, failed
    assert len(good) == 164
    # the same solutions as full functions in a fenced reply also pass (a sample, to stay fast)
    sample = tasks[::16]
    fenced = await asyncio.gather(*(
        run(t, "Sure:\n```python\n" + t.metadata["prompt"] + t.metadata["canonical_solution"] + "```")
        for t in sample
    ))
    assert all(s.correct and s.detail["mode"] == "function" for s in fenced)
    wrong = await asyncio.gather(*(run(t, "    return None\n") for t in sample))
    assert not any(s.correct for s in wrong)


# ---------------------------------------------------------------------------------- LLM judge


@pytest.mark.parametrize(
    ("text", "verdict"),
    [
        ("Correct", True),
        ("incorrect", False),
        ("**Correct**\nbecause ...", True),
        ("[Incorrect]", False),
        ("\n\n  CORRECT.", True),
        ("The answer is correct", None),
        ("Correctness cannot be judged", None),
        ("", None),
        ("yes", None),
    ],
)
def test_parse_verdict(text, verdict):
    assert parse_verdict(text) is verdict


def _pool(fn):
    models = pytest.importorskip("maslab.models")
    if not hasattr(models, "ModelPool"):
        pytest.skip("maslab.models.ModelPool is not available")
    return models.ModelPool.from_dict({"default": "judge", "models": {"judge": {"scripted": [""]}}},
                                      scripted={"judge": fn})


async def test_llm_judge_scores_verdicts_at_temperature_zero():
    seen = []

    def judge(request):
        seen.append(request)
        return "Correct" if "#### 18" in request.prompt else "Incorrect, the output says 17"

    task = Task(id="t1", question="How many dollars?", answer="18")
    scorer = get_scorer("llm_judge", pool=_pool(judge), alias="judge")
    yes = await scorer.score(task, "She makes #### 18")
    no = await scorer.score(task, "She makes #### 17")
    assert yes.correct and yes.value == 1.0 and yes.error is None
    assert not no.correct and no.error is None
    assert all(r.params.get("temperature") == 0.0 for r in seen)
    assert "How many dollars?" in seen[0].prompt and "She makes #### 18" in seen[0].prompt and "18" in seen[0].prompt
    assert yes.detail["judge_model"] and "judge" in yes.detail["judge_model"]
    expected_hash = hashlib.sha256(
        json.dumps([{"role": "user", "content": scorer.render(task, "She makes #### 18")}],
                   sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()
    assert yes.detail["prompt_sha256"] == expected_hash != no.detail["prompt_sha256"]


async def test_llm_judge_unparseable_and_failed_calls_are_errors():
    replies = iter(["Maybe?", "The output is correct"])
    scorer = get_scorer("llm_judge", pool=_pool(lambda _: next(replies)))
    task = Task(question="q", answer="1")
    for _ in range(2):
        res = await scorer.score(task, "1")
        assert not res.correct and res.error.startswith("judge: unparseable verdict")
    failing = get_scorer("llm_judge", pool=_pool(lambda _: ModelCallError("server down", alias="judge")))
    res = await failing.score(task, "1")
    assert not res.correct and "judge: call failed" in res.error
    assert (await scorer.score(task, None)).error  # an inference error never reaches the judge


async def test_llm_judge_gold_shows_the_option_and_output_cannot_inject_placeholders():
    prompts = []
    scorer = get_scorer("llm_judge", pool=_pool(lambda r: prompts.append(r.prompt) or "correct"))
    task = Task(question="Colour?", choices=["red", "green"], answer="B")
    await scorer.score(task, "I say {answer}")
    assert "(B) green" in prompts[0]
    assert "I say {answer}" in prompts[0]
    with pytest.raises(ConfigError):
        get_scorer("llm_judge", pool=_pool(lambda _: "correct"), alias="nope")
    with pytest.raises(ConfigError, match="placeholder"):
        get_scorer("llm_judge", pool=_pool(lambda _: "correct"), prompt="no slots")


def test_judge_prompt_template_mentions_every_slot():
    from maslab.bench.scorers import JUDGE_PROMPT

    for key in ("{question}", "{output}", "{answer}"):
        assert JUDGE_PROMPT.count(key) == 1
    assert textwrap.dedent(JUDGE_PROMPT).strip().endswith("Judgement:")

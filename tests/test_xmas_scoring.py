"""X-MAS-Bench scoring (scorer `xmas`): judge extract + compare 0/1/2 at temperature 0, code by execution
in the sandbox, and the evaluation-function rule.

The judge is a scripted deterministic model (`ModelPool.scripted`) standing in for the judge LLM, so the two
calls, their order, their temperature and the grade mapping are checked exactly; code runs for real in
the sandbox on a real HumanEval item (../shared/data).
"""

from __future__ import annotations

import pytest

from maslab.bench.datasets import load_dataset
from maslab.bench.scorers import get_scorer
from maslab.bench.xmas.prompts import parse_judge_verdict
from maslab.bench.xmas.scoring import evaluation_score
from maslab.errors import ConfigError, ModelCallError
from maslab.models import ModelPool, ScriptedRequest
from maslab.task import Solution, Task

TASK = Task(id="t", question="What is 6 * 7?", answer="42", domain="math")


class Judge:
    """A scripted judge: call 1 copies the last line of the solution, call 2 answers `grade_line`."""

    def __init__(self, grade_line: str = "VERDICT: CORRECT") -> None:
        self.grade_line = grade_line
        self.requests: list[ScriptedRequest] = []

    def __call__(self, req: ScriptedRequest) -> str:
        self.requests.append(req)
        if req.agent == "judge_extract":
            return "The answer is " + req.prompt.split("Solution:\n", 1)[1].split("\n\n")[0]
        return f"Checking.\n{self.grade_line}"


def scorer(judge) -> object:
    return get_scorer("xmas", run_pool=ModelPool.scripted(judge, "judge"))


def test_the_evaluation_rule():
    """The spec's rule: "correct" + label 2 → 2; "incorrect" + label 1 → 2; "correct" + label 1 → 0;
    "incorrect" + label 2 → 0; "incorrect" + label 0 → 2; no verdict → 0."""
    assert evaluation_score(True, 2) == 2
    assert evaluation_score(False, 1) == 2
    assert evaluation_score(True, 1) == 0
    assert evaluation_score(False, 2) == 0
    assert evaluation_score(False, 0) == 2
    assert evaluation_score(True, 0) == 0
    assert all(evaluation_score(None, label) == 0 for label in (0, 1, 2))


@pytest.mark.parametrize(("line", "grade"), [("VERDICT: CORRECT", 2), ("VERDICT: APPROXIMATELY CORRECT", 1),
                                              ("VERDICT: INCORRECT", 0), ("VERDICT: NO ANSWER", 0)])
async def test_two_judge_calls_at_temperature_zero_give_the_grade(line, grade):
    """Scripted judge: call 1 extracts from the output, call 2 grades the *extracted* answer against the
    reference, both at temperature 0; the grade is value·2, correct only at 2."""
    judge = Judge(line)
    score = await scorer(judge).score(TASK, Solution(answer="I think it is 42"))
    extract, compare = judge.requests
    assert (extract.agent, compare.agent) == ("judge_extract", "judge_compare")
    assert extract.params["temperature"] == compare.params["temperature"] == 0.0
    assert "I think it is 42" in extract.prompt and "Reference answer:\n42" in compare.prompt
    assert "Reply:\nThe answer is I think it is 42" in compare.prompt
    assert score.detail["xmas_score"] == grade and score.value == grade / 2 and score.correct == (grade == 2)


async def test_an_unparseable_grade_counts_zero_and_an_empty_output_costs_no_call():
    """Scripted judge: a reply without a verdict line grades 0 (flagged); an empty output is 0 unjudged."""
    judge = Judge("I am not sure")
    score = await scorer(judge).score(TASK, Solution(answer="42"))
    assert score.detail["xmas_score"] == 0 and score.detail["judge_unparsed"] and score.error is None
    empty = Judge()
    score = await scorer(empty).score(TASK, Solution(answer="   "))
    assert score.detail["xmas_score"] == 0 and empty.requests == []


def test_verdict_lines_parse_the_last_one():
    assert parse_judge_verdict("VERDICT: INCORRECT\n...\nverdict: **Correct**") == 2
    assert parse_judge_verdict("VERDICT: APPROXIMATELY CORRECT (close)") == 1
    assert parse_judge_verdict("correct") is None


async def test_multiple_choice_references_reach_the_judge_as_the_option():
    """Scripted judge: the reference of a lettered item is shown as "(B) option text"."""
    judge = Judge()
    task = Task(question="Pick one", choices=["red", "blue"], answer="B", domain="general")
    await scorer(judge).score(task, Solution(answer="blue"))
    assert "Reference answer:\n(B) blue" in judge.requests[1].prompt


async def test_the_evaluate_function_scores_agreement_with_the_label_of_the_fixed_solution(tmp_path):
    """Scripted judge grading the fixed solution 1 (approximately correct): a "correct" verdict scores 0,
    an "incorrect" one 2. The label is graded once and stored: the second examined verdict costs no call."""
    judge = Judge("VERDICT: APPROXIMATELY CORRECT")
    s = scorer(judge)
    store = str(tmp_path / "fixed.sqlite")

    def evaluation(verdict):
        return Solution(answer="...", metadata={"xmas": {"function": "evaluate", "verdict": verdict,
                                                         "fixed_solution": "It is 41.99", "fixed_store": store}})

    said_correct = await s.score(TASK, evaluation(True))
    assert said_correct.detail["xmas_score"] == 0 and said_correct.detail["label"] == 1 and len(judge.requests) == 2
    said_incorrect = await s.score(TASK, evaluation(False))
    assert said_incorrect.detail["xmas_score"] == 2 and said_incorrect.correct and len(judge.requests) == 2
    no_verdict = await s.score(TASK, evaluation(None))
    assert no_verdict.detail["xmas_score"] == 0 and no_verdict.extracted == "no verdict"


async def test_a_failed_judge_call_is_a_scoring_error_not_a_stored_label(tmp_path):
    """Scripted judge that fails once: the row is a scoring error and nothing is stored, so the next row
    grades the fixed solution afresh."""
    calls = {"n": 0}

    def flaky(req):
        calls["n"] += 1
        if calls["n"] == 1:
            raise ModelCallError("alias 'judge': judge down", alias="judge")
        return "VERDICT: CORRECT"

    pool = ModelPool.from_dict({"default": "judge", "models": {"judge": {"scripted": ["x"], "max_retries": 0}}},
                               scripted={"judge": flaky})
    s = get_scorer("xmas", run_pool=pool)
    meta = {"xmas": {"function": "evaluate", "verdict": True, "fixed_solution": "42",
                     "fixed_store": str(tmp_path / "f.sqlite")}}
    failed = await s.score(TASK, Solution(answer="", metadata=meta))
    assert failed.error and "judge down" in failed.error and failed.detail["kind"] == "scoring"
    ok = await s.score(TASK, Solution(answer="", metadata=meta))
    assert ok.detail["xmas_score"] == 2 and ok.detail["label"] == 2


async def test_code_is_graded_by_running_its_tests_in_the_sandbox(shared_data):
    """Real HumanEval item, real sandbox: the canonical solution scores 2, a wrong body 0; no judge call."""
    task = load_dataset("humaneval", path=shared_data / "humaneval.jsonl.gz", limit=1)[0]
    judge = Judge()
    s = get_scorer("xmas", run_pool=ModelPool.scripted(judge, "judge"), code_timeout=30)
    right = await s.score(task, Solution(answer=task.metadata["canonical_solution"]))
    wrong = await s.score(task, Solution(answer="    return None\n"))
    assert right.detail["xmas_score"] == 2 and right.detail["mode"] == "code"
    assert wrong.detail["xmas_score"] == 0 and not wrong.correct
    assert judge.requests == []


def test_the_scorer_needs_a_pool_with_the_judge_alias():
    with pytest.raises(ConfigError, match="needs pool"):
        get_scorer("xmas")
    with pytest.raises(ConfigError, match="unknown model alias 'judge'"):
        get_scorer("xmas", run_pool=ModelPool.scripted(lambda r: "x", "other"))

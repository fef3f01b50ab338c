"""X-MAS-Bench scoring (spec §1, "Scoring"): the scorer `xmas`, grades 0 / 1 / 2.

    * code tasks (HumanEval-style `test` + `entry_point` in the task's metadata): the program runs
      in the sandbox against the tests — 2 if they pass, 0 on a failure, an error or the 120 s
      timeout (never in this process);
    * every other task: an LLM judge at temperature 0 makes two calls — (1) copy the final answer
      out of the output, (2) grade it against the reference: 2 correct, 1 approximately correct,
      0 incorrect or no answer (an unparseable grade counts 0, as in the reference, and is flagged
      in the detail); an empty output is 0 without a call;
    * the evaluate function: the examined verdict is compared with the grade of the fixed
      solution it judged (graded as above, once, and stored content-addressed beside the other
      fixed inputs): 2 when the verdict is "correct" and the fixed solution scored 2, or the
      verdict is "incorrect" and it scored 0 or 1; otherwise 0 — so "approximately correct"
      counts as wrong, and a reply without a verdict scores 0.

`Score.value` is grade / 2 and `Score.correct` is grade == 2, so a sweep report's accuracy is the
primary X-MAS score (the percentage of items scoring 2) and its mean score is mean(grade) / 2;
`detail["xmas_score"]` keeps the grade. The judge is the alias `judge` (option `judge=`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from maslab.bench.scorers import CodeScorer, Score, Scorer, gold_for_judge, register_scorer
from maslab.bench.xmas.fixed import FixedStore
from maslab.bench.xmas.harness import alias_identity
from maslab.bench.xmas.prompts import (
    judge_compare_prompt,
    judge_extract_prompt,
    parse_judge_verdict,
)
from maslab.errors import ConfigError, MaslabError
from maslab.task import Solution, Task

if TYPE_CHECKING:
    from maslab.models import ModelPool


class _NoLabel(Exception):
    pass


def evaluation_score(verdict: bool | None, label: int) -> int:
    """The evaluate function's grade: 2 when the verdict agrees with the judge's label of the fixed
    solution ("correct" and label 2, or "incorrect" and label 0 or 1), else 0 (no verdict: 0)."""
    if verdict is True:
        return 2 if label == 2 else 0
    if verdict is False:
        return 2 if label in (0, 1) else 0
    return 0


def _is_code(task: Task) -> bool:
    return bool(task.metadata.get("test") and task.metadata.get("entry_point"))


@register_scorer("xmas")
class XMASScorer(Scorer):
    """X-MAS grades (see the module docstring); needs a pool holding the judge alias."""

    needs_reference = False  # code tasks are scored by their tests; others check the reference themselves
    needs_pool = True

    def __init__(self, *, pool: ModelPool | None = None, judge: str = "judge", code_timeout: float = 120.0,
                 memory_mb: int = 1024, judge_max_tokens: int | None = None) -> None:
        if pool is None:
            raise ConfigError("scorer 'xmas' needs pool= (a ModelPool with the judge alias)")
        self.pool, self.judge, self.judge_max_tokens = pool, judge, judge_max_tokens
        self.code = CodeScorer(timeout=code_timeout, memory_mb=memory_mb)
        pool.resolve(judge)  # an unknown judge alias is a configuration error, raised now

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        xmas = solution.metadata.get("xmas") or {}
        if xmas.get("function") == "evaluate":
            return await self._score_evaluation(task, xmas)
        grade, detail = await self.grade(task, solution.answer)
        return self._score(grade, detail)

    def _score(self, grade: int, detail: dict[str, Any], extracted: str | None = None) -> Score:
        if detail.get("error"):
            return Score.scoring_error(detail["error"], extracted, xmas_score=0, **detail)
        return Score(value=grade / 2, correct=grade == 2, extracted=extracted or detail.get("extracted"),
                     detail={"xmas_score": grade, **detail})

    async def _score_evaluation(self, task: Task, xmas: dict[str, Any]) -> Score:
        solution = xmas.get("fixed_solution")
        if not isinstance(solution, str):
            return Score.scoring_error("xmas: an evaluate-function solution lacks metadata xmas.fixed_solution")
        store = FixedStore.at(xmas.get("fixed_store") if xmas.get("fixed_store") != ":memory:" else None)
        spec = {"judge": alias_identity(self.pool, self.judge), "max_tokens": self.judge_max_tokens,
                "task": {"id": task.id, "question": task.prompt(), "reference": gold_for_judge(task),
                         "code": bool(_is_code(task))},
                "solution": solution}

        async def make() -> dict[str, Any]:
            grade, detail = await self.grade(task, solution)
            if detail.get("error"):  # a failed judge call is no label: nothing is stored, the next row retries
                raise _NoLabel(detail["error"])
            return {"grade": grade, "detail": detail}

        try:
            label = await store.get_or_make("label", spec, make)
        except _NoLabel as exc:
            return Score.scoring_error(f"xmas: grading the fixed solution failed: {exc}")
        verdict = xmas.get("verdict")
        grade = evaluation_score(verdict, int(label.value["grade"]))
        verdict_text = {True: "correct", False: "incorrect", None: "no verdict"}[verdict]
        return Score(value=grade / 2, correct=grade == 2, extracted=verdict_text,
                     detail={"xmas_score": grade, "verdict": verdict_text, "label": label.value["grade"],
                             "label_key": label.key})

    async def grade(self, task: Task, text: str) -> tuple[int, dict[str, Any]]:
        """(grade 0/1/2, detail) of one output: execution for code tasks, the two judge calls otherwise."""
        if _is_code(task):
            score = await self.code.score(task, text)
            if score.error:
                return 0, {"error": score.error, "mode": "code"}
            return (2 if score.correct else 0), {"mode": "code", "extracted": score.extracted,
                                                 "sandbox_error": score.detail.get("sandbox_error")}
        if task.answer is None:
            return 0, {"error": f"xmas: task {task.id!r} has no reference answer"}
        if not text.strip():
            return 0, {"mode": "judge", "reason": "empty output"}
        question = task.prompt()
        try:
            extracted = await self._ask(judge_extract_prompt(question, text), "judge_extract")
            verdict = await self._ask(judge_compare_prompt(question, gold_for_judge(task), extracted), "judge_compare")
        except MaslabError as exc:
            return 0, {"error": f"xmas: judge call failed: {exc}", "mode": "judge"}
        grade = parse_judge_verdict(verdict)
        detail: dict[str, Any] = {"mode": "judge", "judge": self.judge, "extracted": extracted[:500],
                                  "judge_verdict": verdict[-500:]}
        if grade is None:
            detail["judge_unparsed"] = True
        return grade or 0, detail

    async def _ask(self, prompt: str, agent: str) -> str:
        params: dict[str, Any] = {"temperature": 0.0}
        if self.judge_max_tokens is not None:
            params["max_tokens"] = self.judge_max_tokens
        completion = await self.pool.complete(self.judge, [{"role": "user", "content": prompt}], agent=agent,
                                              role="judge", **params)
        return completion.text.strip()

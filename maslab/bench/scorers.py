"""Scorers: turn (task, solution) into a `Score`; the registry of scorers.

A scorer receives the whole `Solution` — the answer text, the system's structured `metadata`
and the message trace — so a system never encodes structured output into its answer string
(`score(task, "text")` is accepted as a solution with that answer). Text scorers implement
`_score(task, answer)`; structured ones override `score_solution(task, solution)`.

Six generic scorers are registered here, looked up by name with `get_scorer` (a task's default
is `score_for(task)`, from `task.metadata["scorer"]`): `numeric`, `choice`, `math` (boxed
answer + `math_equal`), `exact`, `code` (HumanEval-style unit tests run in the sandbox, never in
this process) and `llm_judge` (one temperature-0 call; only "correct"/"incorrect" verdicts
count, anything else is a scoring error). Benchmark plug-ins register their own with
`@register_scorer` (e.g. `t1` in `maslab.bench.t1`). A missing answer — an inference error —
scores wrong with its error recorded (`Score.inference_error`), so reports can headline accuracy
with errors counted wrong.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from maslab import plugins, sandbox
from maslab.answers import LETTERS as _LETTERS
from maslab.answers import (
    extract_boxed,
    extract_choice,
    extract_code,
    extract_final,
    extract_number,
    math_equal,
    normalize_number,
)
from maslab.errors import ConfigError, MaslabError
from maslab.task import Solution, Task
from maslab.trace import get_logger

if TYPE_CHECKING:
    from maslab.models import ModelPool

log = get_logger(__name__)

__all__ = [
    "SCORERS",
    "ChoiceScorer",
    "CodeScorer",
    "ExactScorer",
    "JUDGE_PROMPT",
    "LLMJudgeScorer",
    "MathScorer",
    "NumericScorer",
    "Score",
    "Scorer",
    "get_scorer",
    "list_scorers",
    "parse_verdict",
    "register_scorer",
    "score_for",
]

class Score(BaseModel):
    """The verdict on one answer."""

    value: float = Field(ge=0.0, le=1.0)
    correct: bool
    extracted: str | None = None  # what the scorer read out of the answer
    error: str | None = None  # an inference or scoring error (the score then counts as wrong)
    detail: dict[str, Any] = Field(default_factory=dict)

    @classmethod
    def of(cls, correct: bool, extracted: str | None = None, **detail: Any) -> Score:
        return cls(value=1.0 if correct else 0.0, correct=correct, extracted=extracted, detail=detail)

    @classmethod
    def inference_error(cls, message: str) -> Score:
        """The score of a run that produced no answer: wrong, with the error kept."""
        return cls(value=0.0, correct=False, error=message, detail={"kind": "inference"})

    @classmethod
    def scoring_error(cls, message: str, extracted: str | None = None, **detail: Any) -> Score:
        """The score when scoring itself failed (bad gold, judge garbage): wrong, with the error kept."""
        return cls(value=0.0, correct=False, extracted=extracted, error=message,
                   detail={"kind": "scoring", **detail})


class Scorer:
    """Base class: `await scorer.score(task, solution)`; `None` is an inference error."""

    name: ClassVar[str] = ""
    needs_reference: ClassVar[bool] = True
    takes_pool: ClassVar[bool] = False  # True: `get_scorer(..., run_pool=)` hands it the run's model pool (judges)

    async def score(self, task: Task, solution: Solution | str | None) -> Score:
        if solution is None:
            return Score.inference_error("no answer (inference error)")
        if isinstance(solution, str):
            solution = Solution(answer=solution)
        if self.needs_reference and task.answer is None:
            return Score.scoring_error(f"{self.name}: task {task.id!r} has no reference answer")
        try:
            return await self.score_solution(task, solution)
        except MaslabError as exc:
            return Score.scoring_error(f"{self.name}: {exc}")

    async def score_solution(self, task: Task, solution: Solution) -> Score:
        """Score a whole solution; text scorers read only its answer (`_score`)."""
        return await self._score(task, solution.answer)

    async def _score(self, task: Task, answer: str) -> Score:
        raise NotImplementedError(f"scorer {self.name!r} implements neither score_solution nor _score")


SCORERS: dict[str, type[Scorer]] = {}


def register_scorer(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    """Class decorator: make a scorer available to `get_scorer(name)`."""

    def deco(cls: type[Scorer]) -> type[Scorer]:
        cls.name = name
        SCORERS[name] = cls
        return cls

    return deco


def list_scorers() -> list[str]:
    """Every registered scorer (the `maslab.benchmarks` plug-ins are imported once)."""
    plugins.load_group(plugins.BENCHMARKS)
    return sorted(SCORERS)


def get_scorer(name: str, *, run_pool: ModelPool | None = None, **options: Any) -> Scorer:
    """A scorer by name, configured with `options` (ConfigError for unknown names or options); a scorer
    that calls a model (`takes_pool`, e.g. a judge) gets `run_pool` as its `pool` unless the options name one."""
    cls = SCORERS.get(name)
    if cls is None:
        plugins.load_group(plugins.BENCHMARKS)
        cls = SCORERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown scorer {name!r}; known: {list_scorers()}" + plugins.failure_hint(plugins.BENCHMARKS))
    if cls.takes_pool and run_pool is not None:
        options.setdefault("pool", run_pool)
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"scorer {name!r}: {exc}") from None


def score_for(task: Task, options: Mapping[str, Mapping[str, Any]] | None = None, *,
              run_pool: ModelPool | None = None) -> Scorer:
    """The task's default scorer (`metadata["scorer"]`; else `choice` with choices, `exact` without).

    `options` maps scorer names to their options, e.g. `{"llm_judge": {"alias": "judge"}}`; `run_pool`
    goes to scorers that take one.
    """
    name = task.metadata.get("scorer") or ("choice" if task.choices else "exact")
    return get_scorer(name, run_pool=run_pool, **dict((options or {}).get(name, {})))


# ---------------------------------------------------------------------------------------------
# rule-based scorers


@register_scorer("numeric")
class NumericScorer(Scorer):
    """The last/marked number of the answer equals the reference, within a float tolerance."""

    def __init__(self, *, rel_tol: float = 1e-6, abs_tol: float = 1e-9) -> None:
        self.rel_tol, self.abs_tol = rel_tol, abs_tol

    async def _score(self, task: Task, answer: str) -> Score:
        gold = normalize_number(task.answer or "") or extract_number(task.answer)
        if gold is None:
            return Score.scoring_error(f"numeric: reference {task.answer!r} is not a number")
        got = extract_number(answer)
        if got is None:
            return Score.of(False, None, gold=gold, reason="no number in answer")
        a, b = Decimal(got), Decimal(gold)
        ok = a == b or abs(a - b) <= max(Decimal(self.abs_tol), Decimal(self.rel_tol) * max(abs(a), abs(b)))
        return Score.of(bool(ok), got, gold=gold)


@register_scorer("choice")
class ChoiceScorer(Scorer):
    """The chosen letter (or the exact text of one option) matches the gold letter."""

    async def _score(self, task: Task, answer: str) -> Score:
        gold = (task.answer or "").strip().strip("()").upper()
        n = len(task.choices) if task.choices else 26
        if len(gold) != 1 or gold not in _LETTERS[:n]:
            return Score.scoring_error(f"choice: reference {task.answer!r} is not an option letter")
        got = extract_choice(answer, n)
        if got is None and task.choices:
            norm = _norm_text(answer)
            hits = [i for i, c in enumerate(task.choices) if _norm_text(c) == norm]
            if len(hits) == 1:
                got = _LETTERS[hits[0]]
        if got is None:
            return Score.of(False, None, gold=gold, reason="no option letter in answer")
        return Score.of(got == gold, got, gold=gold)


def _norm_text(text: str, case_sensitive: bool = False) -> str:
    s = re.sub(r"\s+", " ", text).strip().strip("\"'`").strip().rstrip(".").strip()
    return s if case_sensitive else s.casefold()


@register_scorer("exact")
class ExactScorer(Scorer):
    """The answer equals the reference after normalising whitespace, case and a trailing period."""

    def __init__(self, *, case_sensitive: bool = False) -> None:
        self.case_sensitive = case_sensitive

    async def _score(self, task: Task, answer: str) -> Score:
        got = _norm_text(answer, self.case_sensitive)
        gold = _norm_text(task.answer or "", self.case_sensitive)
        return Score.of(got == gold, got, gold=gold)


@register_scorer("math")
class MathScorer(Scorer):
    """The final (boxed) answer is mathematically equal to the reference (`math_equal`)."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout

    async def _score(self, task: Task, answer: str) -> Score:
        gold_text = task.answer or ""
        gold = extract_boxed(gold_text) or gold_text.strip()
        got = extract_final(answer)
        if got is None:
            return Score.of(False, None, gold=gold, reason="no final answer found")
        try:
            ok = await asyncio.wait_for(asyncio.to_thread(math_equal, got, gold), self.timeout)
        except TimeoutError:
            return Score.scoring_error(f"math: equivalence check timed out after {self.timeout}s", got, gold=gold)
        return Score.of(ok, got, gold=gold)


# ---------------------------------------------------------------------------------------------
# code execution


_SANDBOX_SETUP_PREFIX = "maslab-sandbox: "  # how the sandbox's bootstrap reports its own failures


@register_scorer("code")
class CodeScorer(Scorer):
    """HumanEval-style: prompt + answer, then `test` and `check(entry_point)`, run in the sandbox."""

    needs_reference = False

    def __init__(self, *, timeout: float = 10.0, memory_mb: int = 1024) -> None:
        self.timeout, self.memory_mb = timeout, memory_mb

    async def _score(self, task: Task, answer: str) -> Score:
        meta = task.metadata
        test, entry_point = meta.get("test"), meta.get("entry_point")
        if not test or not entry_point:
            return Score.scoring_error(f"code: task {task.id!r} lacks metadata 'test' / 'entry_point'")
        prompt = meta.get("prompt", task.question)
        program, mode = sandbox.build_humaneval_program(prompt, answer, test, entry_point)
        if not sandbox.program_parses(program):
            return Score.of(False, extract_code(answer), mode=mode, reason="syntax error")
        try:
            result = await sandbox.arun_python(program, timeout=self.timeout, memory_mb=self.memory_mb, stdin="")
        except Exception as exc:  # noqa: BLE001 - a sandbox failure is a scoring error, not a crash
            log.warning("code_scorer.sandbox_failed", task=task.id, error=str(exc)[:300])
            return Score.scoring_error(f"code: sandbox failed: {exc}", extract_code(answer), mode=mode)
        stderr = result.stderr or ""
        if not result.ok and stderr.startswith(_SANDBOX_SETUP_PREFIX):
            # the sandbox itself could not start the program: a scoring error, not a wrong answer
            return Score.scoring_error(f"code: {stderr.strip()[:300]}", extract_code(answer), mode=mode)
        return Score.of(
            bool(result.ok),
            extract_code(answer),
            mode=mode,
            sandbox_error=result.error,
            stderr=stderr[-2000:],
            isolation=str(getattr(result, "isolation", "")),
        )


# ---------------------------------------------------------------------------------------------
# LLM judge

# After xVerify (arXiv 2504.10481): one call on question, output and gold; the verdict is one word.
JUDGE_PROMPT = '''You are a diligent and precise assistant tasked with evaluating the correctness of responses. You will receive a question, an output sentence, and the correct answer. Your task is to determine if the output sentence accurately answers the question based on the provided correct answer. Respond with exactly one word: Correct or Incorrect.
-
Special considerations:

1. **Multiple Answers**: If the output contains multiple answers, evaluate whether later answers modify or correct earlier ones. In such cases, compare the final answer with the correct answer. If the final answer is unclear or incorrect, respond with Incorrect.

2. **Mathematical Problems**: If the formats differ but the answers are mathematically equivalent, respond with Correct.

3. **Explicit Options**: If the question provides explicit candidate answers, the output will be considered correct if it clearly indicates the correct option's code or the correct option's content.

4. **No Explicit Options**: If the question does not provide explicit options, the output must align with the correct answer in content and meaning to be considered Correct.
-

Question: """{question}"""

Output sentence: """{output}"""

Correct answer: {answer}

Judgement:'''


def parse_verdict(text: str) -> bool | None:
    """True for "correct", False for "incorrect" (first word of the first non-empty line, any case,
    markdown/brackets/punctuation ignored); None for anything else."""
    line = next((ln.strip() for ln in (text or "").splitlines() if ln.strip()), "")
    m = re.match(r"[\s\[\]*_\"'`(]*([A-Za-z]+)", line)
    word = m.group(1).lower() if m else ""
    if word == "correct":
        return True
    if word == "incorrect":
        return False
    return None


def _gold_for_judge(task: Task) -> str:
    gold = task.answer or ""
    if task.choices and len(gold) == 1 and gold.upper() in _LETTERS[: len(task.choices)]:
        return f"({gold.upper()}) {task.choices[_LETTERS.index(gold.upper())]}"
    return gold


@register_scorer("llm_judge")
class LLMJudgeScorer(Scorer):
    """One temperature-0 call to a judge model on (question, output, gold)."""

    takes_pool = True

    def __init__(
        self,
        *,
        pool: ModelPool | None = None,
        alias: str = "judge",
        prompt: str = JUDGE_PROMPT,
        max_tokens: int | None = None,
    ) -> None:
        if pool is None:
            raise ConfigError("scorer 'llm_judge' needs pool= (a ModelPool with the judge alias)")
        for key in ("{question}", "{output}", "{answer}"):
            if key not in prompt:
                raise ConfigError(f"llm_judge prompt lacks the placeholder {key}")
        pool.resolve(alias)  # an unknown judge alias is a configuration error, raised now
        self.pool, self.alias, self.prompt, self.max_tokens = pool, alias, prompt, max_tokens

    def render(self, task: Task, answer: str) -> str:
        values = {"question": task.prompt(), "output": answer, "answer": _gold_for_judge(task)}
        # one pass, so text inside the output can never be mistaken for a placeholder
        return re.sub(r"\{(question|output|answer)\}", lambda m: values[m.group(1)], self.prompt)

    async def _score(self, task: Task, answer: str) -> Score:
        messages = [{"role": "user", "content": self.render(task, answer)}]
        digest = hashlib.sha256(json.dumps(messages, sort_keys=True, ensure_ascii=False).encode()).hexdigest()
        detail: dict[str, Any] = {"judge_alias": self.alias, "prompt_sha256": digest, "temperature": 0.0}
        params: dict[str, Any] = {"temperature": 0.0}
        if self.max_tokens is not None:
            params["max_tokens"] = self.max_tokens
        try:
            completion = await self.pool.complete(self.alias, messages, agent="judge", role="judge", **params)
        except MaslabError as exc:
            return Score.scoring_error(f"judge: call failed: {exc}", **detail)
        detail.update(judge_model=completion.model, verdict_raw=completion.text[:500])
        verdict = parse_verdict(completion.text)
        if verdict is None:
            return Score.scoring_error(f"judge: unparseable verdict {completion.text[:80]!r}", **detail)
        return Score.of(verdict, "correct" if verdict else "incorrect", **detail)

"""Scorers: turn (task, answer text) into a `Score`.

Six scorers, looked up by name with `get_scorer` (a task's default is `score_for(task)`, from
`task.metadata["scorer"]`): `numeric`, `choice`, `math` (boxed answer + `math_equal`), `exact`,
`code` (HumanEval-style unit tests run in the sandbox, never in this process) and `llm_judge`
(one temperature-0 call; only "correct"/"incorrect" verdicts count, anything else is a scoring
error). A seventh, `t1`, scores T1 travel-planning dialogues (arXiv 2505.16986; at the end of
this file). A missing answer — an inference error — scores wrong with its error recorded
(`Score.inference_error`), so reports can headline accuracy with errors counted wrong.
"""

from __future__ import annotations

import abc
import asyncio
import hashlib
import json
import re
import textwrap
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import BaseModel, Field

from maslab.bench.extract import (
    extract_boxed,
    extract_choice,
    extract_code,
    extract_number,
    math_equal,
    normalize_number,
)
from maslab.errors import ConfigError, MaslabError
from maslab.task import Task
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
    "T1Scorer",
    "build_humaneval_program",
    "get_scorer",
    "parse_verdict",
    "register_scorer",
    "score_for",
]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


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


class Scorer(abc.ABC):
    """Base class: `await scorer.score(task, answer)`; `answer=None` is an inference error."""

    name: ClassVar[str] = ""
    needs_reference: ClassVar[bool] = True

    async def score(self, task: Task, answer: str | None) -> Score:
        if answer is None:
            return Score.inference_error("no answer (inference error)")
        if self.needs_reference and task.answer is None:
            return Score.scoring_error(f"{self.name}: task {task.id!r} has no reference answer")
        try:
            return await self._score(task, answer)
        except MaslabError as exc:
            return Score.scoring_error(f"{self.name}: {exc}")

    @abc.abstractmethod
    async def _score(self, task: Task, answer: str) -> Score: ...


SCORERS: dict[str, type[Scorer]] = {}


def register_scorer(name: str) -> Callable[[type[Scorer]], type[Scorer]]:
    """Class decorator: make a scorer available to `get_scorer(name)`."""

    def deco(cls: type[Scorer]) -> type[Scorer]:
        cls.name = name
        SCORERS[name] = cls
        return cls

    return deco


def get_scorer(name: str, **options: Any) -> Scorer:
    """A scorer by name, configured with `options` (ConfigError for unknown names or options)."""
    cls = SCORERS.get(name)
    if cls is None:
        raise ConfigError(f"unknown scorer {name!r}; known: {sorted(SCORERS)}")
    try:
        return cls(**options)
    except TypeError as exc:
        raise ConfigError(f"scorer {name!r}: {exc}") from None


def score_for(task: Task, options: Mapping[str, Mapping[str, Any]] | None = None) -> Scorer:
    """The task's default scorer (`metadata["scorer"]`; else `choice` with choices, `exact` without).

    `options` maps scorer names to their options, e.g. `{"llm_judge": {"pool": pool}}`.
    """
    name = task.metadata.get("scorer") or ("choice" if task.choices else "exact")
    return get_scorer(name, **dict((options or {}).get(name, {})))


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


_FINAL_RE = re.compile(r"(?:####|final answer\s*(?:is)?\s*:?|answer\s*(?:is|:))\s*([^\n]+)", re.IGNORECASE)


def _math_final(text: str) -> str | None:
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    hits = _FINAL_RE.findall(text)
    if hits:
        return hits[-1].strip().strip("$").rstrip(".").strip()
    return extract_number(text)


@register_scorer("math")
class MathScorer(Scorer):
    """The final (boxed) answer is mathematically equal to the reference (`math_equal`)."""

    def __init__(self, *, timeout: float = 5.0) -> None:
        self.timeout = timeout

    async def _score(self, task: Task, answer: str) -> Score:
        gold_text = task.answer or ""
        gold = extract_boxed(gold_text) or gold_text.strip()
        got = _math_final(answer)
        if got is None:
            return Score.of(False, None, gold=gold, reason="no final answer found")
        try:
            ok = await asyncio.wait_for(asyncio.to_thread(math_equal, got, gold), self.timeout)
        except TimeoutError:
            return Score.scoring_error(f"math: equivalence check timed out after {self.timeout}s", got, gold=gold)
        return Score.of(ok, got, gold=gold)


# ---------------------------------------------------------------------------------------------
# code execution


def _defines(code: str, name: str) -> bool:
    return re.search(rf"^\s*(?:async\s+)?def\s+{re.escape(name)}\s*\(", code, re.MULTILINE) is not None


def _parses(source: str) -> bool:
    """Whether `source` compiles (byte-compiling only: nothing is executed). Unlike `ast.parse`,
    this also rejects `return` outside a function, which tells a mis-indented body apart."""
    try:
        compile(source, "<answer>", "exec", dont_inherit=True)
    except (SyntaxError, ValueError):
        return False
    return True


def build_humaneval_program(prompt: str, completion: str, test: str, entry_point: str) -> tuple[str, str]:
    """The program the sandbox runs for one HumanEval answer, and how the answer was read.

    A completion that defines `entry_point` itself is appended after the prompt (so the prompt's
    imports and helpers stay available and the new definition wins); otherwise it is the body of
    the prompt's function, re-indented when a model dropped the indentation.
    """
    code = extract_code(completion)
    prompt = prompt if prompt.endswith("\n") else prompt + "\n"
    if _defines(code, entry_point):
        mode, solution = "function", prompt + "\n" + code
    else:
        mode = "body"
        lines = code.strip("\n").splitlines()
        candidates = [code]
        if lines and not lines[0][:1].isspace():  # the model dropped (some of) the indentation
            rest = "\n".join(lines[1:])
            first = "    " + lines[0].lstrip()
            all_shifted = textwrap.indent(textwrap.dedent(code.strip("\n")), "    ") + "\n"
            first_shifted = first + ("\n" + rest if rest else "") + "\n"
            rest_indented = bool(rest.strip()) and not any(
                ln.strip() and not ln[:1].isspace() for ln in lines[1:]
            )
            # rest still indented: only the first line lost its indentation (a .strip() victim);
            # otherwise the whole body sits at column 0
            candidates = [first_shifted, all_shifted, code] if rest_indented else [all_shifted, first_shifted, code]
        solution = next((prompt + c for c in candidates if _parses(prompt + c)), prompt + code)
    tail = f"\n\n{test}\n\ncheck({entry_point})\n"
    return solution.rstrip("\n") + "\n" + tail, mode


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
        program, mode = build_humaneval_program(prompt, answer, test, entry_point)
        if not _parses(program):
            return Score.of(False, extract_code(answer), mode=mode, reason="syntax error")
        from maslab.tools.sandbox import arun_python

        try:
            result = await arun_python(program, timeout=self.timeout, memory_mb=self.memory_mb, stdin="")
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


# ---------------------------------------------------------------------------------------------
# T1 travel-planning dialogues (arXiv 2505.16986) — begin: the `t1` scorer (scoring lives in agents/t1.py)

_T1_HEADLINES = ("tool_f1", "param_f1", "exec_success", "cache_em", "tool_accuracy", "param_accuracy")


@register_scorer("t1")
class T1Scorer(Scorer):
    """The T1 metrics of one dialogue (`maslab.agents.t1.score_dialogue`, `metrics.aggregate`).

    The answer is the `t1_agent`'s JSON (format ``t1-answer/1``: per user turn the predicted code
    and its execution result); any other answer is read as the plan of the last user turn and run
    in the sandbox. `value` is the headline (default ``tool_f1``: the mean tool-call F1 over the
    dialogue's user turns, as a fraction; ``headline=`` picks ``param_f1``, ``exec_success``,
    ``cache_em``, ``tool_accuracy`` or ``param_accuracy``; a metric no turn applies to scores 1).
    `correct`: every turn has exact tool and parameter multisets, no failed execution and no
    cache-summary mismatch. `detail`: ``metrics`` (every aggregate, in percent, with the error
    taxonomy), ``turns`` (every `TurnScore`), ``first_attempt_exec_success``, ``cache_mode``.
    """

    needs_reference = False

    def __init__(self, *, headline: str = "tool_f1", timeout: float = 10.0, memory_mb: int = 1024) -> None:
        if headline not in _T1_HEADLINES:
            raise ConfigError(f"t1: headline must be one of {list(_T1_HEADLINES)}, got {headline!r}")
        self.headline, self.timeout, self.memory_mb = headline, timeout, memory_mb

    async def _score(self, task: Task, answer: str) -> Score:
        from maslab.agents.t1 import score_dialogue
        from maslab.tools.travel.metrics import aggregate

        if "dialogue" not in task.metadata:
            return Score.scoring_error(f"t1: task {task.id!r} has no metadata 'dialogue' (use load_dataset('t1'))")
        try:
            scores, info = await score_dialogue(task, answer, timeout=self.timeout, memory_mb=self.memory_mb)
        except ValueError as exc:  # includes pydantic's ValidationError of a malformed answer
            return Score.scoring_error(f"t1: {exc}"[:2000])
        overall = aggregate(scores).overall
        head = getattr(overall, self.headline)
        value = 1.0 if head is None else min(1.0, max(0.0, head / 100.0))
        correct = all(s.tool_accuracy == 1 and s.param_accuracy == 1 and s.exec_success is not False
                      and s.cache_em is not False for s in scores)

        def pct(x: float | None) -> str:
            return "n/a" if x is None else f"{x:.1f}"

        extracted = (f"tool_f1={pct(overall.tool_f1)} param_f1={pct(overall.param_f1)} "
                     f"exec={pct(overall.exec_success)} cache_em={pct(overall.cache_em)}")
        return Score(value=value, correct=correct, extracted=extracted, detail={
            "headline": self.headline, "answer_format": info["format"], "cache_mode": info["cache_mode"],
            "n_turns": len(scores), "metrics": overall.model_dump(mode="json"),
            "first_attempt_exec_success": info["first_attempt_exec_success"],
            "turns": [s.model_dump(mode="json") for s in scores]})

# T1 — end

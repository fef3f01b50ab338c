"""Answer extraction and majority voting for repeated sampling (Avengers spec §5, arXiv 2505.19797).

Extraction (`extract_answer`) follows the reference code's order:

1. a text of at most 10 characters containing neither "Answer" nor "box" is the answer, stripped;
2. the **last** case-insensitive "Answer:" followed by a letter in the task's range (multiple
   choice) or by free text to the end of the line (math, BBH, FinQA …);
3. a "Final Answer" heading followed, on a later line, by the same;
4. the content of the **first** balanced ``\\boxed{}``.

Math tasks (AIME, MATH500, LiveMathBench, MathBench) take the **last** balanced ``\\boxed{}``
(DeepScaleR style; ``\\boxed 5`` and ``\\fbox{}`` too) and fall back to 1–4 when there is none.
Small generalisations of the reference regexes, all deliberate: markdown bold around the answer
(``**Answer:** B``) and parentheses (``Answer: (B)``) are accepted; a choice letter must stand
alone (``Answer: Based on …`` is not "B") and is returned upper-case; a math text with neither
``\\boxed`` nor "Final Answer" falls back to 1–4 where the reference returns "".

Voting (`vote`) has two modes:

- ``faithful`` — the reference code: the most frequent extracted **raw string** wins, so ``0.5``
  and ``\\frac12`` are different votes; empty extractions are votes and can win (they score 0);
  ties go to the answer that appears first in sample order.
- ``default`` — answers are canonicalised before counting and empty extractions do not vote.
  Math and free-text answers go through `canonical_answer`: LaTeX noise is stripped and a small
  safe parser (no ``eval``) turns numbers, ``\\frac``, ``\\sqrt``, ``\\pi``, powers and one-letter
  variables into sympy expressions, so ``0.5``, ``1/2``, ``\\frac{1}{2}`` and ``\\frac12`` are one
  vote; anything the parser does not take is compared as a case-folded, space-normalised string.
  Choice letters compare case-insensitively with ``(B)``, ``B.`` and ``\\text{B}`` all "B".
  Ties still go to the class whose first member appears first; the returned answer is that
  class's first raw extraction (a string a model actually wrote).

In both modes ``consistency`` is the winner's count divided by the number of samples (empties
included), so a lone non-empty vote among nine empties is not "consistent" for Model-Switch.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Literal

from pydantic import BaseModel, Field

Kind = Literal["mcq", "math", "free", "code"]
VoteMode = Literal["default", "faithful"]


class AnswerFormat(BaseModel):
    """How a task's answers look: multiple choice over `letters`, math, free text or code."""

    kind: Kind
    letters: str = ""


def _mcq(letters: str) -> AnswerFormat:
    return AnswerFormat(kind="mcq", letters=letters)


_MATH = AnswerFormat(kind="math")
_FREE = AnswerFormat(kind="free")
_CODE = AnswerFormat(kind="code")

# dataset name (lower-case, alphanumerics only) -> format; letter ranges as in spec §5
DATASET_FORMATS: dict[str, AnswerFormat] = {
    "mmlupro": _mcq("ABCDEFGHIJ"),
    "gpqa": _mcq("ABCD"), "medqa": _mcq("ABCD"), "truthfulqa": _mcq("ABCD"),
    "arcc": _mcq("ABCDE"), "arcchallenge": _mcq("ABCDE"), "brainteaser": _mcq("ABCDE"),
    "emorynlp": _mcq("ABCDEFG"), "meld": _mcq("ABCDEFG"), "dailydialog": _mcq("ABCDEFG"),
    "winogrande": _mcq("AB"),
    "aime": _MATH, "math500": _MATH, "math": _MATH, "livemathbench": _MATH, "mathbench": _MATH,
    "bbh": _FREE, "finqa": _FREE, "korbench": _FREE, "kandk": _FREE, "knightsandknaves": _FREE, "free": _FREE,
    "humaneval": _CODE, "mbpp": _CODE, "livecodebench": _CODE, "studenteval": _CODE, "code": _CODE,
}


def answer_format(task_kind: str | AnswerFormat) -> AnswerFormat:
    """Resolve a task kind: an `AnswerFormat`, "math", "free", "code", "mcq" (A–D), "mcq:A-J" /
    "mcq:ABCDE", or a dataset name from `DATASET_FORMATS` ("MMLU-Pro", "GPQA", "AIME" …)."""
    if isinstance(task_kind, AnswerFormat):
        return task_kind
    raw = task_kind.strip()
    if raw.lower().startswith("mcq"):
        spec = raw[3:].lstrip(":").strip().upper()
        if not spec:
            return _mcq("ABCD")
        m = re.fullmatch(r"([A-Z])\s*[-–]\s*([A-Z])", spec)
        if m:
            lo, hi = ord(m.group(1)), ord(m.group(2))
            if hi < lo:
                raise ValueError(f"empty letter range in task kind {task_kind!r}")
            return _mcq("".join(chr(c) for c in range(lo, hi + 1)))
        if re.fullmatch(r"[A-Z]+", spec):
            return _mcq(spec)
        raise ValueError(f"bad multiple-choice range in task kind {task_kind!r} (use e.g. 'mcq:A-E')")
    key = re.sub(r"[^a-z0-9]", "", raw.lower())
    if key in DATASET_FORMATS:
        return DATASET_FORMATS[key]
    raise ValueError(f"unknown task kind {task_kind!r}: use math, free, code, mcq[:A-X] or one of "
                     f"{sorted(DATASET_FORMATS)}")


# --------------------------------------------------------------------------- extraction


def _balanced(text: str, open_at: int) -> str | None:
    """Content between the brace at `open_at` and its matching close, or None if unbalanced."""
    depth = 0
    for i in range(open_at, len(text)):
        ch = text[i]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                return text[open_at + 1:i]
    return None


def first_boxed(text: str) -> str | None:
    """Content of the first balanced ``\\boxed{...}``, stripped; None if there is none."""
    at = text.find("\\boxed{")
    if at < 0:
        return None
    inner = _balanced(text, at + len("\\boxed"))
    return inner.strip() if inner is not None else None


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{...}`` / ``\\fbox{...}`` / ``\\boxed x``, stripped; else None."""
    at = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if at < 0:
        return None
    cmd = "\\boxed" if text.startswith("\\boxed", at) else "\\fbox"
    rest = at + len(cmd)
    if rest < len(text) and text[rest] == "{":
        inner = _balanced(text, rest)
        return inner.strip() if inner is not None else None
    if rest < len(text) and text[rest] == " ":
        return re.split(r"[$\n]", text[rest + 1:], maxsplit=1)[0].strip() or None
    return None


_LETTER_AFTER = r"[\s*]*\(?([A-Za-z])\)?(?![A-Za-z0-9])"
_MCQ_ANSWER = re.compile(r"(?i)answer\s*\**\s*:" + _LETTER_AFTER)
_MCQ_FINAL = re.compile(r"(?i)final answer[\s*:]*?\n" + _LETTER_AFTER)
_FREE_ANSWER = re.compile(r"(?i)answer\s*\**\s*:\s*([^\n]+)")
_FREE_FINAL = re.compile(r"(?i)final answer[ \t*:]*\n\s*([^\n]+)")


def _clean_free(s: str) -> str:
    s = s.strip().strip("*").strip()
    if s.lower().startswith("answer:"):
        s = s[len("answer:"):].strip()
    return s


def _extract_general(text: str, fmt: AnswerFormat) -> str:
    if len(text) <= 10 and "Answer" not in text and "box" not in text:
        return text.strip()
    if fmt.kind == "mcq":
        letters = [m.group(1).upper() for m in _MCQ_ANSWER.finditer(text) if m.group(1).upper() in fmt.letters]
        if letters:
            return letters[-1]
        for m in _MCQ_FINAL.finditer(text):
            if m.group(1).upper() in fmt.letters:
                return m.group(1).upper()
    else:
        found = _FREE_ANSWER.findall(text)
        if found and _clean_free(found[-1]):
            return _clean_free(found[-1])
        m = _FREE_FINAL.search(text)
        if m and _clean_free(m.group(1)):
            return _clean_free(m.group(1))
    return first_boxed(text) or ""


def extract_answer(text: str | None, task_kind: str | AnswerFormat) -> str:
    """The answer in one model output, "" when none is found (see the module docstring for the order)."""
    fmt = answer_format(task_kind)
    if fmt.kind == "code":
        raise ValueError("code tasks have no extracted answer: score sample 0 by execution")
    if not text:
        return ""
    if fmt.kind == "math" and ("\\boxed" in text or "\\fbox" in text):
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed
    return _extract_general(text, fmt)


# --------------------------------------------------------------------------- canonical forms


_DELIMS = [("$$", "$$"), ("$", "$"), ("\\(", "\\)"), ("\\[", "\\]")]
_WRAPPERS = re.compile(r"\\(?:text|textbf|textrm|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}")


def _strip_latex(s: str) -> str:
    s = s.strip()
    for lo, hi in _DELIMS:
        if s.startswith(lo) and s.endswith(hi) and len(s) >= len(lo) + len(hi):
            s = s[len(lo):len(s) - len(hi)].strip()
    b = first_boxed(s) if s.startswith("\\boxed{") else None
    if b is not None:
        s = b
    for _ in range(3):
        s = _WRAPPERS.sub(r"\1", s)
    s = re.sub(r"\\(?:left|right|displaystyle)\b", "", s)
    s = re.sub(r"\\[!,;: ]|~", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\^\s*\{?\\circ\}?|°", "", s)
    s = s.replace("\\%", "").replace("%", "").replace("\\$", "").replace("$", "")
    s = s.strip().rstrip(".").strip()
    lhs = re.fullmatch(r"\s*[A-Za-z]\w{0,1}\s*=\s*(.+)", s)
    if lhs:
        s = lhs.group(1)
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    s = re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    return s


_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\[A-Za-z]+|[A-Za-z]+|\*\*|[-+*/^(){}\[\]])")


class _ParseError(Exception):
    pass


class _Parser:
    """Recursive descent over a tiny LaTeX/arithmetic grammar, building sympy objects (no eval)."""

    def __init__(self, text: str, sympy: Any) -> None:
        self.sp = sympy
        self.toks: list[str] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m:
                raise _ParseError(text[pos:])
            self.toks.append(m.group(1))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0

    def peek(self) -> str | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            raise _ParseError(f"expected {expected!r}, got {tok!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        if not self.toks:
            raise _ParseError("empty")
        expr = self.expr()
        if self.peek() is not None:
            raise _ParseError(f"trailing {self.peek()!r}")
        return expr

    def expr(self) -> Any:
        value = self.term()
        while self.peek() in ("+", "-"):
            op = self.take()
            rhs = self.term()
            value = value + rhs if op == "+" else value - rhs
        return value

    _MUL = {"*": "*", "\\cdot": "*", "\\times": "*", "/": "/", "\\div": "/"}

    def _starts_atom(self, tok: str | None) -> bool:
        return tok is not None and (tok[0].isdigit() or tok[0] == "." or tok in ("(", "{", "\\frac", "\\sqrt", "\\pi")
                                    or (len(tok) == 1 and tok.isalpha()))

    def term(self) -> Any:
        value = self.unary()
        while True:
            tok = self.peek()
            if tok in self._MUL:
                self.take()
                rhs = self.unary()
                value = value * rhs if self._MUL[tok] == "*" else value / rhs
            elif self._starts_atom(tok):
                value = value * self.power()
            else:
                return value

    def unary(self) -> Any:
        if self.peek() in ("-", "+"):
            sign = self.take()
            value = self.unary()
            return -value if sign == "-" else value
        return self.power()

    def power(self) -> Any:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            exponent = self.unary()
            if exponent.is_number and abs(exponent) > 64:
                raise _ParseError("exponent too large to canonicalise safely")
            return base ** exponent
        return base

    def group(self) -> Any:
        if self.peek() == "{":
            self.take("{")
            value = self.expr()
            self.take("}")
            return value
        return self.atom()

    def atom(self) -> Any:
        sp = self.sp
        tok = self.take()
        if tok[0].isdigit() or tok[0] == ".":
            return sp.Rational(tok)
        if tok in ("(", "{", "["):
            close = {"(": ")", "{": "}", "[": "]"}[tok]
            value = self.expr()
            self.take(close)
            return value
        if tok == "\\frac":
            num = self.group()
            den = self.group()
            return num / den
        if tok == "\\sqrt":
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
                return sp.root(self.group(), index)
            return sp.sqrt(self.group())
        if tok == "\\pi":
            return sp.pi
        if len(tok) == 1 and tok.isalpha():
            return sp.Symbol(tok)
        raise _ParseError(f"unexpected {tok!r}")


def canonical_math(answer: str) -> str:
    """A canonical key for a math answer: sympy's form when the safe parser takes it, else a normalised string."""
    s = _strip_latex(answer)
    try:
        import sympy

        expr = _Parser(s, sympy).parse()
        return "sym:" + sympy.srepr(sympy.simplify(expr))
    except (_ParseError, ZeroDivisionError, TypeError, ValueError, ArithmeticError, RecursionError):
        return "str:" + re.sub(r"\s+", " ", s).casefold()


def canonical_answer(answer: str, task_kind: str | AnswerFormat) -> str:
    """The key `vote(mode="default")` counts by; "" for an empty answer."""
    if not answer.strip():
        return ""
    fmt = answer_format(task_kind)
    if fmt.kind == "mcq":
        s = _strip_latex(answer)
        m = re.fullmatch(r"\(?([A-Za-z])\)?[.:]?", s)
        return "mcq:" + (m.group(1).upper() if m else re.sub(r"\s+", " ", s).casefold())
    return canonical_math(answer)


# --------------------------------------------------------------------------- voting


class VoteResult(BaseModel):
    """The outcome of one vote.

    `counts` maps each answer class (named by its first raw extraction) to its votes, in first-seen
    order; `extracted` holds every sample's raw extraction; `consistency` = winner count / samples.
    """

    answer: str
    counts: dict[str, int] = Field(default_factory=dict)
    consistency: float = 0.0
    extracted: list[str] = Field(default_factory=list)
    mode: VoteMode = "default"

    def stats(self) -> dict[str, dict[str, float]]:
        """The reference code's log shape: {answer: {count, frequency}} (frequency over all samples)."""
        n = max(len(self.extracted), 1)
        return {a: {"count": c, "frequency": c / n} for a, c in self.counts.items()}


def vote(
    samples: Sequence[str | None],
    task_kind: str | AnswerFormat,
    mode: VoteMode = "default",
    *,
    extracted: bool = False,
) -> VoteResult:
    """Majority vote over sampled outputs (raw texts, or answers already extracted if `extracted`).

    ``faithful``: raw-string vote; empty extractions vote and can win; ties → earliest sample.
    ``default``: canonical-form vote (`canonical_answer`); empty extractions do not vote; ties →
    earliest sample; the answer is the first raw extraction of the winning class. See the module
    docstring for details. No samples, or (default mode) no non-empty extraction, gives answer "".
    """
    if mode not in ("default", "faithful"):
        raise ValueError(f"unknown vote mode {mode!r} (default | faithful)")
    fmt = answer_format(task_kind)
    if fmt.kind == "code":
        raise ValueError("code tasks are not voted: score sample 0 by execution")
    answers = [(s or "").strip() if extracted else extract_answer(s, fmt) for s in samples]
    total = len(answers)
    counts: dict[str, int] = {}
    if mode == "faithful":
        for a in answers:
            counts[a] = counts.get(a, 0) + 1
    else:
        first_raw: dict[str, str] = {}
        by_key: dict[str, int] = {}
        for a in answers:
            key = canonical_answer(a, fmt)
            if not key:
                continue
            first_raw.setdefault(key, a)
            by_key[key] = by_key.get(key, 0) + 1
        counts = {first_raw[k]: c for k, c in by_key.items()}
    if not counts:
        return VoteResult(answer="", counts={}, consistency=0.0, extracted=answers, mode=mode)
    winner = max(counts, key=lambda a: counts[a])  # max keeps the first of equal counts: earliest sample
    return VoteResult(answer=winner, counts=counts, consistency=counts[winner] / total, extracted=answers, mode=mode)

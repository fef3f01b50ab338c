"""Answers: formats, extraction, equivalence and voting — the only copy in maslab.

Systems, scorers and routers import this module; it imports none of them.

Formats
    `AnswerFormat` says how a task's answers look: multiple choice over `letters`, math, free text
    or code. `format_of(task)` reads it off a task (choices → multiple choice A…; domain `code` →
    code; domain `math` → math; else free text); `answer_format(kind)` resolves a kind or a dataset
    name ("mcq:A-E", "GPQA", "AIME" …; letter ranges as in the Avengers spec §5).

Extraction — one family, three rule sets
    * maslab's generic rules: `extract_number` (GSM8K `####`, `\\boxed{}`, "the answer is …", the
      last number), `extract_choice` (a lone or marked option letter), `extract_boxed` (the last
      balanced `\\boxed{}`/`\\fbox{}`, or the first with ``which="first"``), `extract_code` (the
      largest fenced block), `extract_final` (a math answer: boxed, else an "answer"/`####` line,
      else the last number), `extract_json_object` (the last JSON object of a reply, read
      leniently by json_repair — the one JSON repair for structured replies), `extract_tag`
      (``<answer>…</answer>``), `extract_yes_no`, `extract_measure` (a value with its length unit,
      `LENGTH_UNITS_CM`), `extract_tagged_choice` (LAD's ``<answer>`` letter, else the last standalone
      letter), `extract_bracket_rating` (a judge's ``[4]``) and `answer_key(task, text)`, the
      comparable form the baselines vote
      and agree on: the choice letter, the whitespace-folded code, the lower-cased boxed content,
      the normalised number, else the case-folded last line; None means "no answer";
      `solution_verdict` reads an evaluator's "The solution is (in)correct" (X-MAS).
    * the Avengers rules (arXiv 2505.19797 spec §5), `extract_answer(text, fmt, mode)`:
      1. a text of at most 10 characters containing neither "Answer" nor "box" is the answer;
      2. the **last** case-insensitive "Answer:" followed by a letter in the task's range
         (multiple choice) or by free text to the end of the line;
      3. a "Final Answer" heading followed, on a later line, by the same;
      4. the content of the **first** balanced `\\boxed{}`.
      ``mode="faithful"`` is exactly the official evaluators (ZhangYiqun018/Avengers,
      `evaluate/*`), per dataset family: the short text is only left-stripped; the letter is
      taken as written (``b`` and ``B`` are different votes) and need not stand alone
      (``Answer: Based…`` gives ``B``); ``**Answer:** B`` and ``Answer: (B)`` find nothing; a
      "Final Answer" line needs a blank line after it; math sets (AIME, MATH-500,
      LiveMathBench, MATHBench) read a "Final Answer" line only when there is no `\\boxed`,
      else the raw content of the **last** `\\boxed{…}` (not stripped; `\\fbox` and `\\boxed 5`
      give nothing), and nothing at all from an answer without a box; BBH reads the last box
      when there is one, else the rules above; FinQA reads only the last box.
      ``mode="default"`` is maslab's generalisation for the normalised vote: markdown bold
      (``**Answer:** B``) and parentheses (``Answer: (B)``) are accepted, a choice letter must
      stand alone and is upper-cased, and math tasks take the last balanced box (`\\boxed 5`,
      `\\fbox{}` too) before the rules above.
    * MASLab's reference-code rules, for the systems' `reference` profiles: `boxed_reference`
      (Hendrycks' last-box reading, shared by MAV-MATH and the Avengers math evaluators),
      `extract_stated_answer` (DyLAN-MATH: "The answer is …", else the last box, else the last
      number), `extract_paren_choice` (DyLAN-MMLU: the last "(X)") and
      `extract_answer_is_choice` (MAV-GPQA/MMLU: "answer is (X)", else "Answer: X", else the
      last lone capital letter).
    * `canonical_answer(answer, fmt)`: the key the normalised vote counts by — LaTeX noise
      stripped, then a small recursive-descent parser (no `eval`) turns numbers, `\\frac`,
      `\\sqrt`, `\\pi`, powers and one-letter variables into sympy objects, so `0.5`, `1/2`,
      `\\frac{1}{2}` and `\\frac12` are one class; anything it does not take is compared as a
      case-folded string. The same parser is behind `math_equal`, the math scorer's equivalence
      (string match, then numeric, then symbolic), so there is one LaTeX→SymPy translation.

Voting — `vote(texts, fmt, mode, weights=None)`
    ``key``: maslab's generic vote (the baselines): each text's `answer_key`; texts without one do
    not vote. ``default``: the Avengers extraction, falling back to the generic choice letter or
    number when it finds nothing, compared by `canonical_answer`; empty extractions do not vote.
    ``faithful``: the Avengers reference — the official evaluators' extraction, raw strings (not
    stripped), empties vote and can win, as `Counter.most_common` counts them. Ties go
    to the class seen first; `weights` (one per text) weight each vote, as Model-Switch's lazy
    variant does. The result names the winner, the first sample voting for it (`index`), the
    counts, `consistency` (winner votes / all samples) and `share` (winner votes / votes cast).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, Field

from maslab.trace import get_logger

if TYPE_CHECKING:
    from maslab.task import Task

log = get_logger(__name__)

__all__ = [
    "LENGTH_UNITS_CM",
    "LETTERS",
    "AnswerFormat",
    "Measure",
    "VoteResult",
    "answer_format",
    "answer_key",
    "boxed_reference",
    "canonical_answer",
    "extract_answer",
    "extract_answer_is_choice",
    "extract_boxed",
    "extract_bracket_rating",
    "extract_choice",
    "extract_code",
    "extract_final",
    "extract_json_object",
    "extract_measure",
    "extract_number",
    "extract_tag",
    "extract_tagged_choice",
    "extract_yes_no",
    "extract_paren_choice",
    "extract_stated_answer",
    "first_boxed",
    "format_of",
    "last_boxed",
    "math_equal",
    "normalize_number",
    "solution_verdict",
    "vote",
]

LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

# =========================================================================== formats

Kind = Literal["mcq", "math", "free", "code"]
VoteMode = Literal["key", "default", "faithful"]


class AnswerFormat(BaseModel):
    """How a task's answers look: multiple choice over `letters`, math, free text or code; `family`
    names a dataset whose official evaluator reads answers its own way ("bbh", "finqa")."""

    kind: Kind
    letters: str = ""
    family: str = ""


def _mcq(letters: str) -> AnswerFormat:
    return AnswerFormat(kind="mcq", letters=letters)


_MATH = AnswerFormat(kind="math")
_FREE = AnswerFormat(kind="free")
_CODE = AnswerFormat(kind="code")

# dataset name (lower-case, alphanumerics only) -> format; letter ranges as in the Avengers spec §5
DATASET_FORMATS: dict[str, AnswerFormat] = {
    "mmlupro": _mcq("ABCDEFGHIJ"),
    "gpqa": _mcq("ABCD"), "medqa": _mcq("ABCD"), "truthfulqa": _mcq("ABCD"),
    "arcc": _mcq("ABCDE"), "arcchallenge": _mcq("ABCDE"), "brainteaser": _mcq("ABCDE"),
    "emorynlp": _mcq("ABCDEFG"), "meld": _mcq("ABCDEFG"), "dailydialog": _mcq("ABCDEFG"),
    "winogrande": _mcq("AB"),
    "aime": _MATH, "math500": _MATH, "math": _MATH, "livemathbench": _MATH, "mathbench": _MATH,
    "bbh": AnswerFormat(kind="free", family="bbh"), "finqa": AnswerFormat(kind="free", family="finqa"),
    "korbench": _FREE, "kandk": _FREE, "knightsandknaves": _FREE, "free": _FREE,
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


def format_of(task: Task | None) -> AnswerFormat:
    """A task's answer format: choices → multiple choice A…(number of choices); code; math; a free or
    math dataset of `DATASET_FORMATS` by its name (BBH, FinQA, MATH-500 …); else free."""
    if task is None:
        return _FREE
    if task.choices:
        return _mcq(LETTERS[:max(1, min(len(task.choices), len(LETTERS)))])
    domain = (task.domain or "").lower()
    if domain == "code":
        return _CODE
    known = DATASET_FORMATS.get(re.sub(r"[^a-z0-9]", "", (task.dataset_name() or "").lower()))
    if known is not None and known.kind in ("free", "math") and (domain != "math" or known.kind == "math"):
        return known
    if domain == "math":
        return _MATH
    return _FREE


# =========================================================================== numbers

# A number: optional sign (not when glued to a word or closing bracket, so "5-3" is 5 and 3),
# thousands groups or plain digits, optional decimals; or a bare decimal like ".5".
_NUMBER = r"(?:(?<![\w)\].])[-−–])?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?:(?<![\w)\].])[-−])?\.\d+"
_NUMBER_RE = re.compile(_NUMBER)


def normalize_number(text: str) -> str | None:
    """Canonical text of one number: no commas, no trailing zeros (`1,000.00` → `1000`, `-0.50` → `-0.5`)."""
    s = text.strip().replace(",", "").replace("−", "-").replace("–", "-").replace("$", "")
    s = s.rstrip(".").rstrip("%").strip()
    try:
        d = Decimal(s)
    except InvalidOperation:
        return None
    if not d.is_finite():
        return None
    out = format(d.normalize(), "f")
    if "." in out:
        out = out.rstrip("0").rstrip(".")
    return "0" if out in ("-0", "") else out


def _last_number(text: str) -> str | None:
    found = _NUMBER_RE.findall(text)
    return normalize_number(found[-1]) if found else None


def _first_number(text: str) -> str | None:
    m = _NUMBER_RE.search(text)
    return normalize_number(m.group(0)) if m else None


_HASHES_RE = re.compile(r"####\s*([^\n]*)")
_ANSWER_IS_RE = re.compile(
    r"(?:final\s+answer|answer)\s*(?:is|:|=|is:)?\s*[:=]?\s*([^\n]*)", re.IGNORECASE
)


def extract_number(text: str | None) -> str | None:
    """The final numeric answer in `text`, normalised, or None.

    Order: the last GSM8K-style `#### n`, else the last `\\boxed{}`, else the last
    "answer is …" / "Answer: …", else the last number anywhere. Commas, `$`, units,
    percent signs and trailing periods are tolerated; `1,000.00` comes back as `1000`.
    """
    if not text:
        return None
    for chunk in reversed(_HASHES_RE.findall(text)):
        n = _first_number(chunk)
        if n is not None:
            return n
    boxed = extract_boxed(text)
    if boxed is not None:
        n = _boxed_number(boxed)
        if n is not None:
            return n
    for m in reversed(list(_ANSWER_IS_RE.finditer(text))):
        n = _first_number(m.group(1))
        if n is not None:
            return n
    return _last_number(text)


def _boxed_number(boxed: str) -> str | None:
    """A number from boxed content, reading `\\frac{a}{b}` as a decimal when it is exact."""
    frac = re.fullmatch(r"\s*(-?)\\[dt]?frac\{?(\d+)\}?\{?(\d+)\}?\s*", boxed)
    if frac and int(frac.group(3)) != 0:
        value = Decimal(int(frac.group(2))) / Decimal(int(frac.group(3)))
        return normalize_number(frac.group(1) + str(value))
    return _first_number(boxed.replace("\\!", "").replace("{,}", ","))


# =========================================================================== boxed, choice, code


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


_BOX_RE = re.compile(r"\\(?:boxed|fbox)\s*")


def extract_boxed(text: str | None, which: Literal["last", "first"] = "last") -> str | None:
    """The content of the last (or first) balanced `\\boxed{...}` / `\\fbox{...}` in `text`, stripped.

    An unbalanced box is skipped in favour of the next one in reading direction; `\\boxed 5`
    (no braces) gives its next token (up to white space or `$`). None when there is none.
    """
    if not text:
        return None
    starts = list(_BOX_RE.finditer(text))
    for m in (reversed(starts) if which == "last" else starts):
        i = m.end()
        if i < len(text) and text[i] == "{":
            inner = _balanced(text, i)
            if inner is not None:
                return inner.strip()
            continue
        tok = re.match(r"[^\s$]+", text[i:])
        if tok:
            return tok.group(0).strip()
    return None


def first_boxed(text: str) -> str | None:
    """Content of the first balanced `\\boxed{...}`, stripped; None if there is none."""
    return extract_boxed(text, "first")


last_boxed = extract_boxed


def extract_choice(text: str | None, n_choices: int = 5) -> str | None:
    """The chosen option letter (`A`…) in `text`, or None.

    Accepts `\\boxed{B}`, "Answer: (B)", "the answer is C", "Option D", a lone letter such as
    `B` / `(B)` / `B.`, and finally the last parenthesised letter `(C)`.
    """
    if not text:
        return None
    valid = LETTERS[: max(1, min(n_choices, 26))]
    cls = f"[{valid}]"

    boxed = extract_boxed(text)
    if boxed is not None:
        inner = re.sub(r"\\text(?:bf)?\{([^}]*)\}", r"\1", boxed).strip().strip("()").strip()
        if len(inner) == 1 and inner.upper() in valid:
            return inner.upper()
        m = re.match(rf"^\(?({cls})\)?(?:[\s.:)]|$)", inner)
        if m:
            return m.group(1)

    stripped = text.strip().strip("*").strip()
    m = re.fullmatch(rf"\(?({cls}|{cls.lower()})\)?[.:)]?", stripped)
    if m:
        return m.group(1).upper()

    lead = r"(?i:answer)[*_]*\s*(?:(?i:is)\b)?\s*[:=]?[*_\s]*(?:(?i:option|choice)\s*)?[*_]*\s*"
    answer_patterns = [
        # "answer is (B)", "Answer: (b)", "**Final answer:** (C)"
        rf"{lead}\(({cls}|{cls.lower()})\)",
        # "the answer is C", "Answer: B.", "answer is option D" (capital letter only)
        rf"{lead}({cls})(?![\w'])",
    ]
    hits = [m for pat in answer_patterns for m in re.finditer(pat, text)]
    if hits:
        return max(hits, key=lambda m: m.start()).group(1).upper()
    hits = list(re.finditer(rf"(?i:option|choice)\s*\(?({cls})\)?(?![\w'])", text))
    if hits:
        return hits[-1].group(1)

    # a text opening with its option: "A. Yes.", "(B) 2 inches", "C: the laptop" (SpatialAgent's Terminate)
    m = re.match(rf"\(?({cls}|{cls.lower()})\)?[.:)]\s", stripped + " ")
    if m and (stripped[:1] == "(" or stripped[1:2] in ".:)"):
        return m.group(1).upper()

    # a last line that is just a letter, e.g. "...\nC"
    lines = [ln.strip().strip("*").strip() for ln in text.splitlines() if ln.strip()]
    m = re.fullmatch(rf"\(?({cls})\)?[.:)]?", lines[-1]) if lines else None
    if m:
        return m.group(1)
    paren = re.findall(rf"\(({cls})\)", text)
    if paren:
        return paren[-1]
    return None


_FENCE_RE = re.compile(r"```[ \t]*([\w+-]*)[^\n]*\n(.*?)(?:```|\Z)", re.DOTALL)


def extract_code(text: str | None) -> str:
    """The code in `text`: the largest ```python fenced block (the last among equals), else the
    largest untagged block, else the text itself. An unclosed final fence (a truncated reply)
    counts as a block."""
    if not text:
        return ""
    blocks = [(m.group(1).lower(), m.group(2)) for m in _FENCE_RE.finditer(text)]
    python = [b for lang, b in blocks if lang in ("python", "py", "python3")]
    untagged = [b for lang, b in blocks if lang == ""]
    for group in (python, untagged):
        if group:
            best = max(range(len(group)), key=lambda i: (len(group[i].strip()), i))
            return group[best].rstrip() + "\n"
    return text


def extract_json_object(text: str | None) -> dict[str, Any] | None:
    """The last JSON object in `text` (a whole reply, fenced or not, possibly after reasoning), read
    leniently by json_repair (trailing commas, single quotes, a truncated end); None when there is none.

    A reply holding several JSON values (reasoning that quotes one, then the answer) yields the
    last object among them; a reply that is only a list or a scalar yields None.
    """
    if not text or "{" not in text:
        return None
    import json_repair

    try:
        parsed = json_repair.loads(text)
    except Exception:  # noqa: BLE001 - json_repair is tolerant; never let a reply crash a run
        return None
    if isinstance(parsed, dict):
        return parsed
    if isinstance(parsed, list):
        objects = [x for x in parsed if isinstance(x, dict)]
        return objects[-1] if objects else None
    return None
def extract_tag(text: str | None, tag: str) -> str | None:
    """The stripped content of the last ``<tag>…</tag>`` in `text` (e.g. ``<answer>(B)</answer>``), or None."""
    if not text:
        return None
    found = re.findall(rf"<{tag}>\s*(.*?)\s*</{tag}>", text, re.DOTALL | re.IGNORECASE)
    return found[-1] if found else None


ChoiceSource = Literal["tag", "fallback", "none"]


def extract_tagged_choice(text: str | None, letters: str = "ABCDEF") -> tuple[str | None, ChoiceSource]:
    """An option letter from a ``<think>…</think> <answer>…</answer>`` reply, and where it was found.

    "tag": the first standalone letter of `letters` inside the first ``<answer>`` (to ``</answer>`` or
    the end), any case, so ``<answer> C </answer>``, ``<answer>(c)</answer>`` and ``<answer>Option C``
    all read C. "fallback": no such tag or letter — the **last** standalone capital letter of `letters`
    anywhere in the reply. "none": neither (the caller scores it wrong and flags it).
    """
    if not text:
        return None, "none"
    opening = re.search(r"<answer>", text, re.IGNORECASE)
    if opening:
        rest = text[opening.end():]
        closing = re.search(r"</answer>", rest, re.IGNORECASE)
        inside = rest[:closing.start()] if closing else rest
        m = re.search(rf"(?<![A-Za-z])([{letters}{letters.lower()}])(?![A-Za-z])", inside)
        if m:
            return m.group(1).upper(), "tag"
    found = re.findall(rf"(?<![A-Za-z])([{letters}])(?![A-Za-z])", text)
    return (found[-1], "fallback") if found else (None, "none")


def extract_bracket_rating(text: str | None, low: int = 1, high: int = 5) -> int | None:
    """A judge's rating: the first integer inside a ``[…]`` ("[4]", "[Rating: 4]"), else the first integer
    of the text (the LAD reference's rule); None when there is none or it lies outside `low`…`high`."""
    if not text:
        return None
    found = next((m.group(1) for b in re.finditer(r"\[([^\[\]]*)\]", text)
                  for m in [re.search(r"(?<![\d.])(\d+)(?![\d.])", b.group(1))] if m), None)
    if found is None:
        m = re.search(r"\d+", text)
        found = m.group(0) if m else None
    if found is None:
        return None
    value = int(found)
    return value if low <= value <= high else None


def extract_yes_no(text: str | None) -> str | None:
    """"yes" or "no": the first standalone yes/no word (any case) of the answer, else None."""
    m = re.search(r"\b(yes|no)\b", text or "", re.IGNORECASE)
    return m.group(1).lower() if m else None


# Length units → centimetres (the SpatialScore scorer compares in centimetres), and their spellings.
LENGTH_UNITS_CM: dict[str, float] = {"mm": 0.1, "cm": 1.0, "m": 100.0, "km": 100_000.0, "in": 2.54, "ft": 30.48,
                                     "yd": 91.44, "mi": 160_934.4}
_UNIT_SPELLINGS = {
    **{u: u for u in LENGTH_UNITS_CM}, "millimeter": "mm", "millimetre": "mm", "centimeter": "cm",
    "centimetre": "cm", "meter": "m", "metre": "m", "kilometer": "km", "kilometre": "km", "inch": "in",
    "inches": "in", "foot": "ft", "feet": "ft", "yard": "yd", "mile": "mi",
}
_UNIT_WORD = "|".join(sorted((re.escape(u) for u in _UNIT_SPELLINGS), key=len, reverse=True))
_MEASURE_RE = re.compile(rf"({_NUMBER})\s*({_UNIT_WORD})s?\b", re.IGNORECASE)


class Measure(BaseModel):
    """A number read from an answer, with its length unit when it has one."""

    value: float
    unit: str | None = None  # a key of LENGTH_UNITS_CM (mm, cm, m, km, in, ft, yd, mi)

    @property
    def cm(self) -> float | None:
        return None if self.unit is None else self.value * LENGTH_UNITS_CM[self.unit]


def extract_measure(text: str | None) -> Measure | None:
    """A value with its unit ("1.5 m", "150 centimeters", "about 3 feet"): the first number followed by a
    length unit, else the final number (`extract_number`) without a unit; None when there is no number."""
    if not text:
        return None
    m = _MEASURE_RE.search(text)
    if m:
        value = normalize_number(m.group(1))
        if value is not None:
            return Measure(value=float(value), unit=_UNIT_SPELLINGS[m.group(2).lower()])
    number = extract_number(text)
    return Measure(value=float(number)) if number is not None else None


_FINAL_RE = re.compile(r"(?:####|final answer\s*(?:is)?\s*:?|answer\s*(?:is|:))\s*([^\n]+)", re.IGNORECASE)


def extract_final(text: str) -> str | None:
    """A math answer: the last `\\boxed{}`, else the last "answer is …"/`####` line, else the last number."""
    boxed = extract_boxed(text)
    if boxed is not None:
        return boxed
    hits = _FINAL_RE.findall(text)
    if hits:
        return hits[-1].strip().strip("$").rstrip(".").strip()
    return extract_number(text)


def answer_key(task: Task | AnswerFormat | None, text: str) -> str | None:
    """maslab's comparable form of a final answer (what the baselines vote and agree on).

    Multiple choice: the option letter; code: the whitespace-folded text; otherwise the lower-cased
    content of the last `\\boxed{}`, else the normalised final number, else the case-folded last
    line without a trailing period. None (no answer) for empty text.
    """
    if not text or not text.strip():
        return None
    fmt = task if isinstance(task, AnswerFormat) else format_of(task)
    if fmt.kind == "mcq":
        return extract_choice(text, len(fmt.letters))
    if fmt.kind == "code":
        return " ".join(text.split())
    boxed = extract_boxed(text)
    if boxed:
        return " ".join(boxed.split()).lower()
    number = extract_number(text)
    if number is not None:
        return number
    last = next((line for line in reversed(text.strip().splitlines()) if line.strip()), "")
    return " ".join(last.lower().split()).rstrip(".") or None


_VERDICT_RE = re.compile(r"the\s+solution\s+is\s+(in)?correct\b", re.IGNORECASE)


def solution_verdict(text: str | None) -> bool | None:
    """An evaluator's verdict on a solution, as X-MAS (arXiv 2505.16997) asks for it: True for
    "The solution is correct", False for "The solution is incorrect" (any case, markdown around it
    ignored); the **last** such sentence decides (the prompts ask for it at the end). None: no verdict."""
    hits = _VERDICT_RE.findall((text or "").replace("*", "").replace("_", " "))
    if not hits:
        return None
    return hits[-1].lower() != "in"


# =========================================================================== Avengers reference rules

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


def extract_answer(text: str | None, task_kind: str | AnswerFormat, mode: VoteMode = "default") -> str:
    """The answer in one model output by the Avengers rules, "" when none is found: ``faithful`` — the
    official evaluators exactly (not stripped); ``default`` — maslab's generalisation (module docstring)."""
    fmt = answer_format(task_kind)
    if fmt.kind == "code":
        raise ValueError("code tasks have no extracted answer: score sample 0 by execution")
    if not text:
        return ""
    if mode == "faithful":
        return _extract_official(text, fmt)
    if fmt.kind == "math" and ("\\boxed" in text or "\\fbox" in text):
        boxed = last_boxed(text)
        if boxed is not None:
            return boxed
    return _extract_general(text, fmt)


# the official evaluators (ZhangYiqun018/Avengers, evaluate/base_evaluator.py and evaluate/<DATASET>/)


def _official_boxed_first(text: str) -> str:
    """`BaseEvaluator.extract_boxed_content`: the first `\\boxed{`'s content up to its closing brace (or
    the end of the text), stripped; "" without one."""
    start = text.find("\\boxed{")
    if start == -1:
        return ""
    depth, out = 1, []
    for ch in text[start + len("\\boxed{"):]:
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                break
        out.append(ch)
    return "".join(out).strip()


def _official_normal(text: str, letters: str) -> str:
    """`BaseEvaluator.extract_normal_answer` with the dataset's pattern: a letter of `letters`, or (no
    letters) free text to the end of the line."""
    if len(text) <= 10 and "Answer" not in text and "box" not in text:
        return text.lstrip()
    group = f"([{letters}])" if letters else r"([^\n]+)"
    matches = re.findall(r"(?i)Answer\s*:\s*" + group, text)
    if matches:
        found = matches[-1].strip()
        if found.lower().startswith("answer: "):
            found = found[len("answer:"):].strip()
        return found
    final = re.search(r"(?i)Final Answer\s\n+\s*" + group, text)
    if final:
        return final.group(1).strip()
    return _official_boxed_first(text)


def _extract_official(text: str, fmt: AnswerFormat) -> str:
    if fmt.kind == "mcq":
        return _official_normal(text, fmt.letters)
    has_box = "\\boxed" in text
    if fmt.family == "finqa" or (fmt.family == "bbh" and has_box) or (
            fmt.kind == "math" and not ("Final Answer" in text and not has_box)):
        return (boxed_reference(text) if has_box else None) or ""
    return _official_normal(text, "")


# =========================================================================== MASLab reference-code rules


def boxed_reference(text: str) -> str | None:
    """The last box as reference code reads it (Hendrycks' `last_boxed_only_string` + `remove_boxed`, used
    by MASLab's MAV-MATH and the Avengers math evaluators): the raw content of the last `\\boxed{…}`,
    not stripped; None when there is no box, the last one is an `\\fbox` or has no braces, or it is
    unbalanced."""
    idx = text.rfind("\\boxed")
    if idx < 0:
        idx = text.rfind("\\fbox")
        if idx < 0:
            return None
    depth = 0
    for i in range(idx, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                found = text[idx:i + 1]
                return found[len("\\boxed{"):-1] if found.startswith("\\boxed{") else None
    return None


def extract_stated_answer(text: str) -> str:
    """DyLAN-MATH's answer (MASLab `DyLAN_MATH._extract_math_answer`): the text after the last "The answer
    is " (or "the answer is "), else the last box's content, else the last number; one trailing "." and
    "/" dropped, a box inside the result opened; "" when there is nothing."""
    for cue in ("The answer is ", "the answer is "):
        if cue in text:
            found = text.split(cue)[-1].strip()
            break
    else:
        if "boxed" in text:
            found = (extract_boxed(text) or "").strip()
        else:
            numbers = re.findall(r"-?\d*\.?\d+", text)
            found = numbers[-1] if numbers else ""
    found = found[:-1] if found.endswith(".") else found
    found = found[:-1] if found.endswith("/") else found
    if "boxed" in found:
        found = extract_boxed(found) or found
    return found.strip()


def extract_paren_choice(text: str, letters: str = "ABCD") -> str | None:
    """DyLAN-MMLU's choice (MASLab `parse_single_choice`): the last "(X)", else the last "X)", X one of
    `letters` in either case, upper-cased; None when there is none."""
    cls = f"[{letters}{letters.lower()}]"
    for pattern in (rf"\(({cls})\)", rf"({cls})\)"):
        found = re.findall(pattern, text)
        if found:
            return found[-1].upper()
    return None


def extract_answer_is_choice(text: str, letters: str = "ABCDEFGHIJ") -> str | None:
    """MAV-GPQA/MMLU's choice (MASLab `mav/util.extract_answer`): the first "answer is (X)", else the last
    "Answer: X" of the first line that has one, else the last standalone capital letter; None otherwise."""
    cls = f"[{letters}]"
    m = re.search(rf"answer is \(?({cls})\)?", text)
    if m:
        return m.group(1)
    m = re.search(rf".*[aA]nswer:\s*({cls})", text)
    if m:
        return m.group(1)
    m = re.search(rf"\b{cls}\b(?!.*\b{cls}\b)", text, re.DOTALL)
    return m.group(0) if m else None


def _generic(text: str, fmt: AnswerFormat) -> str:
    """maslab's generic fallback for the normalised vote: the choice letter, else the final number."""
    if fmt.kind == "mcq":
        return extract_choice(text, len(fmt.letters)) or ""
    return extract_number(text) or ""


# =========================================================================== canonical forms and math equivalence

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
    s = _brace_digit_arguments(s)
    if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s):
        s = s.replace(",", "")
    return s


def _brace_digit_arguments(s: str) -> str:
    """`\\frac12` → `\\frac{1}{2}`, `\\sqrt2` → `\\sqrt{2}`: LaTeX's one-character arguments, braced."""
    s = re.sub(r"\\frac\s*(\d)\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*\{([^{}]*)\}\s*(\d)", r"\\frac{\1}{\2}", s)
    s = re.sub(r"\\frac\s*(\d)\s*\{", r"\\frac{\1}{", s)
    return re.sub(r"\\sqrt\s*(\d)", r"\\sqrt{\1}", s)


_TOKEN = re.compile(r"\s*(\d+\.\d*|\.\d+|\d+|\\[A-Za-z]+|[A-Za-z]+|\*\*|[-+*/^(){}\[\]])")
_SYMBOL_COMMANDS = {"\\theta": "theta", "\\alpha": "alpha", "\\beta": "beta", "\\gamma": "gamma"}


class _ParseError(Exception):
    pass


class _Parser:
    """Recursive descent over a small LaTeX/arithmetic grammar, building sympy objects (never `eval`).

    Numbers, `+ - * / ^ **`, `\\cdot \\times \\div`, implicit multiplication, parentheses, braces
    and brackets, `\\frac`, `\\sqrt` (with an index), `\\pi`, `\\infty`, a few Greek letters, `pi`,
    `sqrt(...)` and one-letter variables. Numeric exponents above `max_exponent` are refused, so
    `9^{9^{9^{9}}}` fails fast instead of evaluating.
    """

    def __init__(self, text: str, sympy: Any, max_exponent: int = 64) -> None:
        self.sp = sympy
        self.max_exponent = max_exponent
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
    _ATOM_STARTS = ("(", "{", "\\frac", "\\dfrac", "\\sqrt", "\\pi", "\\infty", "pi", "sqrt", *_SYMBOL_COMMANDS)

    def _starts_atom(self, tok: str | None) -> bool:
        return tok is not None and (tok[0].isdigit() or tok[0] == "." or tok in self._ATOM_STARTS
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
            if exponent.is_number and abs(exponent) > self.max_exponent:
                raise _ParseError("exponent too large to evaluate safely")
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
        if tok in ("\\frac", "\\dfrac"):
            num = self.group()
            den = self.group()
            return num / den
        if tok in ("\\sqrt", "sqrt"):
            if self.peek() == "[":
                self.take("[")
                index = self.expr()
                self.take("]")
                return sp.root(self.group(), index)
            return sp.sqrt(self.group())
        if tok in ("\\pi", "pi"):
            return sp.pi
        if tok == "\\infty":
            return sp.oo
        if tok in _SYMBOL_COMMANDS:
            return sp.Symbol(_SYMBOL_COMMANDS[tok])
        if len(tok) == 1 and tok.isalpha():
            return sp.Symbol(tok)
        raise _ParseError(f"unexpected {tok!r}")


_PARSE_ERRORS = (_ParseError, ZeroDivisionError, TypeError, ValueError, ArithmeticError, RecursionError)


def canonical_math(answer: str) -> str:
    """A canonical key for a math answer: sympy's form when the safe parser takes it, else a normalised string."""
    s = _strip_latex(answer)
    try:
        import sympy

        expr = _Parser(s, sympy).parse()
        return "sym:" + sympy.srepr(sympy.simplify(expr))
    except _PARSE_ERRORS:
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


_MAX_EXPR_CHARS = 300
_MAX_EXPONENT = 10_000


def _normalize_str(s: str) -> str:
    """Light textual normal form used for the first (string) comparison of `math_equal`."""
    s = str(s).strip()
    boxed = extract_boxed(s)
    if boxed is not None:
        s = boxed
    s = s.replace("$", "").replace("\\$", "")
    s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    s = re.sub(r"\\(?:left|right|big|Big|bigg|Bigg)\b\s*", "", s)
    s = re.sub(r"\\[,;:! ]", "", s)
    s = s.replace("\\dfrac", "\\frac").replace("\\tfrac", "\\frac")
    s = re.sub(r"\^\s*\{?\\circ\}?", "", s).replace("°", "")
    s = s.replace("\\%", "%")
    s = re.sub(r"^\s*[a-zA-Z]\s*=\s*(?=[^=]+$)", "", s)  # "x = 5" -> "5"
    s = re.sub(r"\\(?:cdot|times)(?![a-zA-Z])", "*", s)
    s = re.sub(r"(\\[a-zA-Z]+)\s+(?=[a-zA-Z])", "\\1\x00", s)  # keep "\pi r" apart
    s = re.sub(r"\s+", "", s).replace("\x00", " ")
    s = s.rstrip(".")
    return s


def _to_float(s: str) -> float | None:
    t = s.replace(",", "") if re.fullmatch(r"-?\d{1,3}(,\d{3})+(\.\d+)?", s) else s
    try:
        return float(t)
    except ValueError:
        return None


def _close(x: float, y: float, rel: float = 1e-6, abs_tol: float = 1e-9) -> bool:
    return abs(x - y) <= max(abs_tol, rel * max(abs(x), abs(y)))


def _split_top_level(s: str) -> list[str]:
    parts, depth, cur = [], 0, []
    for ch in s:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    parts.append("".join(cur))
    return parts


def _symbolic_equal(a: str, b: str) -> bool:
    import sympy

    try:
        ea = _Parser(_brace_digit_arguments(a), sympy, _MAX_EXPONENT).parse()
        eb = _Parser(_brace_digit_arguments(b), sympy, _MAX_EXPONENT).parse()
    except _PARSE_ERRORS as exc:  # any parse failure means "not provably equal"
        log.debug("math_equal.parse_failed", a=a[:80], b=b[:80], error=str(exc)[:200])
        return False
    try:
        if not ea.free_symbols and not eb.free_symbols:
            va, vb = complex(ea.evalf(30)), complex(eb.evalf(30))
            return _close(va.real, vb.real) and _close(va.imag, vb.imag)
        return bool(sympy.simplify(ea - eb) == 0)
    except Exception as exc:  # noqa: BLE001 - sympy can fail in many ways on odd input
        log.debug("math_equal.eval_failed", a=a[:80], b=b[:80], error=str(exc)[:200])
        return False


def math_equal(a: str | None, b: str | None) -> bool:
    """Whether two final answers are mathematically the same (`0.5` ≡ `\\frac{1}{2}` ≡ `\\frac12`)."""
    if a is None or b is None:
        return False
    na, nb = _normalize_str(a), _normalize_str(b)
    if not na or not nb:
        return False
    if na == nb:
        return True
    # tuples / lists: compare element-wise when both have the same top-level arity > 1
    pa, pb = _split_top_level(na.strip("()[]")), _split_top_level(nb.strip("()[]"))
    if len(pa) > 1 and len(pa) == len(pb) and na[:1] == nb[:1]:
        return all(math_equal(x, y) for x, y in zip(pa, pb, strict=True))
    # numeric, with percentages read either way
    fa, fb = _to_float(na.rstrip("%")), _to_float(nb.rstrip("%"))
    if fa is not None and fb is not None:
        if _close(fa, fb):
            return True
        pct_a, pct_b = na.endswith("%"), nb.endswith("%")
        if pct_a != pct_b:
            return _close(fa / 100, fb) if pct_a else _close(fa, fb / 100)
        return False
    if len(na) > _MAX_EXPR_CHARS or len(nb) > _MAX_EXPR_CHARS:
        return False
    if _symbolic_equal(na, nb):
        return True
    if na.endswith("%") != nb.endswith("%"):  # "50%" vs "\frac12": also try the percent as a plain number
        return _symbolic_equal(na.rstrip("%"), nb.rstrip("%"))
    return False


# =========================================================================== voting


class VoteResult(BaseModel):
    """The outcome of one vote.

    `answer` is the winning class's first raw extraction ("" when nothing won); `index` the first
    sample voting for it (None when nothing won); `counts` maps each class (named by its first
    raw extraction) to its votes, in first-seen order; `extracted` holds every sample's
    extraction ("" for none); `consistency` = winner votes / samples; `share` = winner votes /
    votes cast; `weighted` the classes' summed weights when the vote was weighted.
    """

    answer: str
    index: int | None = None
    counts: dict[str, int] = Field(default_factory=dict)
    consistency: float = 0.0
    share: float = 0.0
    extracted: list[str] = Field(default_factory=list)
    weighted: dict[str, float] | None = None
    mode: VoteMode = "default"

    def stats(self) -> dict[str, dict[str, float]]:
        """The Avengers reference code's log shape: {answer: {count, frequency}} (over all samples)."""
        n = max(len(self.extracted), 1)
        return {a: {"count": c, "frequency": c / n} for a, c in self.counts.items()}


def extract_for_vote(text: str | None, fmt: AnswerFormat, mode: VoteMode) -> str:
    """One sample's extraction under a vote mode ("" for none)."""
    if mode == "key":
        return answer_key(fmt, text or "") or ""
    if mode == "faithful":
        return extract_answer(text, fmt, "faithful")  # raw, as the official evaluators count it
    a = extract_answer(text, fmt).strip()
    if not a and mode == "default":
        a = _generic(text or "", fmt).strip()
    return a


def _class_key(answer: str, fmt: AnswerFormat, mode: VoteMode) -> str:
    if mode == "default":
        return canonical_answer(answer, fmt)
    return answer


def vote(
    samples: Sequence[str | None],
    task_kind: str | AnswerFormat,
    mode: VoteMode = "default",
    *,
    weights: Sequence[float] | None = None,
    extracted: bool = False,
) -> VoteResult:
    """Majority vote over sampled outputs (raw texts, or answers already extracted if `extracted`).

    See the module docstring for the modes. Ties go to the class whose first member appears first.
    """
    if mode not in ("key", "default", "faithful"):
        raise ValueError(f"unknown vote mode {mode!r} (key | default | faithful)")
    fmt = answer_format(task_kind)
    if fmt.kind == "code" and mode != "key":
        raise ValueError("code tasks are not voted: score sample 0 by execution")
    if weights is not None and len(weights) != len(samples):
        raise ValueError(f"vote: {len(weights)} weights for {len(samples)} samples")
    answers = [((s or "") if mode == "faithful" else (s or "").strip()) if extracted else extract_for_vote(s, fmt, mode)
               for s in samples]
    first_raw: dict[str, str] = {}
    first_index: dict[str, int] = {}
    count: dict[str, int] = {}
    score: dict[str, float] = {}
    for i, a in enumerate(answers):
        key = _class_key(a, fmt, mode)
        if not key and mode != "faithful":
            continue
        first_raw.setdefault(key, a)
        first_index.setdefault(key, i)
        count[key] = count.get(key, 0) + 1
        score[key] = score.get(key, 0.0) + (weights[i] if weights is not None else 1.0)
    if not count:
        return VoteResult(answer="", extracted=answers, mode=mode,
                          weighted={} if weights is not None else None)
    best = max(score, key=lambda k: score[k])  # max keeps the first of equal scores: the earliest class
    return VoteResult(
        answer=first_raw[best], index=first_index[best],
        counts={first_raw[k]: c for k, c in count.items()},
        consistency=count[best] / len(answers), share=count[best] / sum(count.values()),
        extracted=answers, mode=mode,
        weighted={first_raw[k]: s for k, s in score.items()} if weights is not None else None)

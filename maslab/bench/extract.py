"""Answer extraction: pull a number, a choice letter, a boxed expression or code out of model text.

Also `math_equal`, the equivalence test the math scorer uses: string-normalised match, then
numeric match, then symbolic equivalence through a small LaTeX→SymPy translation. The SymPy
step never `sympify`s raw input: the translated text must pass a character whitelist and a
size limit, is parsed with `parse_expr` against a restricted namespace, unevaluated, and its
powers are bounded before anything is evaluated.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "extract_boxed",
    "extract_choice",
    "extract_code",
    "extract_number",
    "math_equal",
    "normalize_number",
]

_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"

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
    hashes = _HASHES_RE.findall(text)
    for chunk in reversed(hashes):
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


def extract_boxed(text: str | None) -> str | None:
    """The content of the last balanced `\\boxed{...}` (or `\\fbox{...}`) in `text`, or None."""
    if not text:
        return None
    starts = [m for m in re.finditer(r"\\(?:boxed|fbox)\s*", text)]
    for m in reversed(starts):
        i = m.end()
        if i < len(text) and text[i] == "{":
            depth, j = 0, i
            while j < len(text):
                if text[j] == "{":
                    depth += 1
                elif text[j] == "}":
                    depth -= 1
                    if depth == 0:
                        return text[i + 1 : j].strip()
                j += 1
            continue  # unbalanced: try an earlier one
        # "\boxed 5" form: the next token
        tok = re.match(r"[^\s$]+", text[i:])
        if tok:
            return tok.group(0).strip()
    return None


def extract_choice(text: str | None, n_choices: int = 5) -> str | None:
    """The chosen option letter (`A`…) in `text`, or None.

    Accepts `\\boxed{B}`, "Answer: (B)", "the answer is C", "Option D", a lone letter such as
    `B` / `(B)` / `B.`, and finally the last parenthesised letter `(C)`.
    """
    if not text:
        return None
    valid = _LETTERS[: max(1, min(n_choices, 26))]
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


# ---------------------------------------------------------------------------------------------
# math equivalence

_MAX_EXPR_CHARS = 300
_MAX_EXPONENT = 10_000


def _strip_text_commands(s: str) -> str:
    s = re.sub(r"\\(?:text|textbf|mathrm|mathbf|mbox|operatorname)\s*\{([^{}]*)\}", r"\1", s)
    return s


def _normalize_str(s: str) -> str:
    """Light textual normal form used for the first (string) comparison."""
    s = str(s).strip()
    boxed = extract_boxed(s)
    if boxed is not None:
        s = boxed
    s = s.replace("$", "").replace("\\$", "")
    s = _strip_text_commands(s)
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


def _read_group(s: str, i: int) -> tuple[str, int]:
    """The LaTeX argument starting at s[i] (a braced group or one character) and the index after it."""
    while i < len(s) and s[i] == " ":
        i += 1
    if i >= len(s):
        raise ValueError("missing argument")
    if s[i] == "{":
        depth = 0
        for j in range(i, len(s)):
            if s[j] == "{":
                depth += 1
            elif s[j] == "}":
                depth -= 1
                if depth == 0:
                    return s[i + 1 : j], j + 1
        raise ValueError("unbalanced braces")
    if s[i] == "\\":
        m = re.match(r"\\[a-zA-Z]+", s[i:])
        if m:
            return m.group(0), i + len(m.group(0))
    return s[i], i + 1


_GREEK = {"pi": "pi", "theta": "theta", "alpha": "alpha", "beta": "beta", "infty": "oo"}


def latex_to_expr(s: str) -> str:
    """Translate a small LaTeX subset into SymPy input text (raises ValueError when it can't)."""
    out: list[str] = []
    i = 0
    while i < len(s):
        c = s[i]
        if c == "\\":
            m = re.match(r"\\([a-zA-Z]+)", s[i:])
            if not m:
                i += 1
                continue
            cmd = m.group(1)
            i += len(m.group(0))
            if cmd in ("frac", "dfrac", "tfrac"):
                num, i = _read_group(s, i)
                den, i = _read_group(s, i)
                out.append(f"(({latex_to_expr(num)})/({latex_to_expr(den)}))")
            elif cmd == "sqrt":
                index = None
                if i < len(s) and s[i] == "[":
                    j = s.index("]", i)
                    index, i = s[i + 1 : j], j + 1
                arg, i = _read_group(s, i)
                if index is None:
                    out.append(f"sqrt({latex_to_expr(arg)})")
                else:
                    out.append(f"root({latex_to_expr(arg)},{latex_to_expr(index)})")
            elif cmd in ("cdot", "times"):
                out.append("*")
            elif cmd == "div":
                out.append("/")
            elif cmd in _GREEK:
                out.append(f" {_GREEK[cmd]} ")
            elif cmd in ("left", "right", "big", "Big", "displaystyle"):
                pass
            elif cmd in ("text", "mathrm", "textbf", "mbox"):
                arg, i = _read_group(s, i)
                out.append(arg)
            else:
                raise ValueError(f"unsupported LaTeX command \\{cmd}")
        elif c == "{":
            out.append("(")
            i += 1
        elif c == "}":
            out.append(")")
            i += 1
        elif c == "^":
            out.append("**")
            i += 1
        elif c == "%":
            out.append("/100")
            i += 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


_SAFE_EXPR_RE = re.compile(r"[0-9a-zA-Z+\-*/().,\s]*")
_ALLOWED_NAMES = {"sqrt", "root", "pi", "oo", "e", "theta", "alpha", "beta"}


def _sympy_parse(text: str) -> Any:
    """Parse whitelisted expression text into an unevaluated SymPy expression."""
    import sympy
    from sympy.parsing.sympy_parser import (
        implicit_multiplication_application,
        parse_expr,
        standard_transformations,
    )

    expr_text = latex_to_expr(text)
    if len(expr_text) > _MAX_EXPR_CHARS or not _SAFE_EXPR_RE.fullmatch(expr_text):
        raise ValueError("expression outside the accepted subset")
    if "__" in expr_text or re.search(r"\.\s*[a-zA-Z_]", expr_text):
        raise ValueError("expression outside the accepted subset")  # no attribute access
    global_dict: dict[str, Any] = {
        "__builtins__": {},
        "Integer": sympy.Integer,
        "Float": sympy.Float,
        "Rational": sympy.Rational,
        "Symbol": sympy.Symbol,
        "Add": sympy.Add,
        "Mul": sympy.Mul,
        "Pow": sympy.Pow,
        "sqrt": sympy.sqrt,
        "root": sympy.root,
        "pi": sympy.pi,
        "oo": sympy.oo,
        "E": sympy.E,
    }
    local_dict = {"e": sympy.E}
    transformations = (*standard_transformations, implicit_multiplication_application)
    expr = parse_expr(
        expr_text,
        local_dict=local_dict,
        global_dict=global_dict,
        transformations=transformations,
        evaluate=False,
    )
    _check_bounded(expr)
    return expr


def _check_bounded(expr: Any) -> None:
    """Refuse expressions whose evaluation could blow up (huge powers, huge integers)."""
    import sympy

    for node in sympy.preorder_traversal(expr):
        if isinstance(node, sympy.Integer) and abs(int(node)) > 10**30:
            raise ValueError("integer too large")
        if isinstance(node, sympy.Pow):
            exp = node.args[1]
            if exp.is_number:
                value = complex(exp.evalf(15))
                if abs(value) > _MAX_EXPONENT:
                    raise ValueError("exponent too large")


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
        ea, eb = _sympy_parse(a), _sympy_parse(b)
    except Exception as exc:  # noqa: BLE001 - any parse failure means "not provably equal"
        log.debug("math_equal.parse_failed", a=a[:80], b=b[:80], error=str(exc)[:200])
        return False
    try:
        ea, eb = ea.doit(), eb.doit()
        if not ea.free_symbols and not eb.free_symbols:
            va, vb = complex(ea.evalf(30)), complex(eb.evalf(30))
            return _close(va.real, vb.real) and _close(va.imag, vb.imag)
        return bool(sympy.simplify(ea - eb) == 0)
    except Exception as exc:  # noqa: BLE001
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

"""The `calculator` tool: evaluate arithmetic safely by walking the `ast` (no eval), exact for ints.

Supported: numbers, ``+ - * / // % **``, unary ``+``/``-``, parentheses, the functions
sqrt, abs, round, min, max, log, exp, floor, ceil, sin, cos, tan and the constants pi, e.
Everything else (names, attributes, subscripts, comprehensions, strings …) is rejected, and
results that would be huge (``9**9**9``), deep nesting and over-long input are refused with a
clear message instead of tying up the process.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any

from maslab.tool import ToolFailure, tool

__all__ = ["CalculatorError", "calculator", "evaluate", "format_number"]

MAX_EXPRESSION_CHARS = 2000
MAX_DEPTH = 60
MAX_INT_BITS = 10_000  # about 3,000 decimal digits
MAX_EXPONENT = 10_000

Number = int | float


class CalculatorError(ToolFailure):
    """The expression is invalid, unsupported or would produce an unreasonable result."""


def _check(value: Any) -> Number:
    if isinstance(value, complex):
        raise CalculatorError("the result is a complex number, which is not supported")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise CalculatorError(f"unsupported value of type {type(value).__name__}")
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise CalculatorError(f"result too large (more than {MAX_INT_BITS} bits)")
    if isinstance(value, float) and not math.isfinite(value):
        raise CalculatorError("result too large or undefined (not a finite number)")
    return value


def _div(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("division by zero")
    if isinstance(a, int) and isinstance(b, int) and a % b == 0:
        return a // b  # stays exact: 6/3 -> 2, 10**30/10**10 -> 10**20
    return a / b


def _floordiv(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("division by zero")
    return a // b


def _mod(a: Number, b: Number) -> Number:
    if b == 0:
        raise CalculatorError("modulo by zero")
    return a % b


def _mul(a: Number, b: Number) -> Number:
    if isinstance(a, int) and isinstance(b, int) and a.bit_length() + b.bit_length() > MAX_INT_BITS + 1:
        raise CalculatorError(f"result too large (more than {MAX_INT_BITS} bits)")
    return a * b


def _pow(base: Number, exponent: Number) -> Number:
    if isinstance(exponent, int) and abs(exponent) > MAX_EXPONENT and abs(base) not in (0, 1):
        raise CalculatorError(f"exponent too large (|exponent| > {MAX_EXPONENT})")
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0:
        if (abs(base).bit_length() - 1) * exponent > MAX_INT_BITS:
            raise CalculatorError(f"result too large (more than {MAX_INT_BITS} bits)")
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero (zero to a negative power)")
    return base**exponent


_BINARY: dict[type[ast.operator], Callable[[Number, Number], Number]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: _mul,
    ast.Div: _div,
    ast.FloorDiv: _floordiv,
    ast.Mod: _mod,
    ast.Pow: _pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Number], Number]] = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _sqrt(x: Number) -> Number:
    if x < 0:
        raise CalculatorError("sqrt of a negative number")
    if isinstance(x, int):
        root = math.isqrt(x)
        if root * root == x:
            return root
    return math.sqrt(x)


def _round(x: Number, ndigits: Number | None = None) -> Number:
    if ndigits is None:
        return round(x)
    if not isinstance(ndigits, int) or abs(ndigits) > 100:
        raise CalculatorError("round(x, ndigits): ndigits must be an integer between -100 and 100")
    return round(x, ndigits)


def _log(x: Number, base: Number | None = None) -> Number:
    if x <= 0 or (base is not None and (base <= 0 or base == 1)):
        raise CalculatorError("log is only defined for positive numbers (and a positive base other than 1)")
    return math.log(x) if base is None else math.log(x, base)


def _minmax(fn: Callable[..., Number]) -> Callable[..., Number]:
    def wrapped(*args: Number) -> Number:
        if not args:
            raise CalculatorError(f"{fn.__name__}() needs at least one argument")
        return fn(args)

    return wrapped


# name -> (function, min args, max args)
_FUNCTIONS: dict[str, tuple[Callable[..., Number], int, int]] = {
    "sqrt": (_sqrt, 1, 1),
    "abs": (abs, 1, 1),
    "round": (_round, 1, 2),
    "min": (_minmax(min), 1, 100),
    "max": (_minmax(max), 1, 100),
    "log": (_log, 1, 2),
    "exp": (math.exp, 1, 1),
    "floor": (math.floor, 1, 1),
    "ceil": (math.ceil, 1, 1),
    "sin": (math.sin, 1, 1),
    "cos": (math.cos, 1, 1),
    "tan": (math.tan, 1, 1),
}
_CONSTANTS: dict[str, float] = {"pi": math.pi, "e": math.e}


def _eval(node: ast.AST, depth: int) -> Number:
    if depth > MAX_DEPTH:
        raise CalculatorError(f"expression too deeply nested (more than {MAX_DEPTH} levels)")
    if isinstance(node, ast.Expression):
        return _eval(node.body, depth + 1)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise CalculatorError(f"unsupported literal {node.value!r}; only numbers are allowed")
        return _check(node.value)
    if isinstance(node, ast.BinOp):
        op = _BINARY.get(type(node.op))
        if op is None:
            raise CalculatorError(f"unsupported operator {type(node.op).__name__}")
        left, right = _eval(node.left, depth + 1), _eval(node.right, depth + 1)
        return _check(op(left, right))
    if isinstance(node, ast.UnaryOp):
        uop = _UNARY.get(type(node.op))
        if uop is None:
            raise CalculatorError(f"unsupported operator {type(node.op).__name__}")
        return _check(uop(_eval(node.operand, depth + 1)))
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        hint = " (it is a function: call it)" if node.id in _FUNCTIONS else ""
        raise CalculatorError(f"unknown name {node.id!r}{hint}; allowed constants: pi, e")
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS:
            shown = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)[:40]
            raise CalculatorError(f"unknown function {shown!r}; allowed: {', '.join(_FUNCTIONS)}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise CalculatorError(f"{node.func.id}() takes plain positional arguments only")
        fn, lo, hi = _FUNCTIONS[node.func.id]
        if not lo <= len(node.args) <= hi:
            wanted = str(lo) if lo == hi else f"{lo} to {hi}"
            raise CalculatorError(f"{node.func.id}() takes {wanted} argument(s), got {len(node.args)}")
        args = [_eval(a, depth + 1) for a in node.args]
        return _check(fn(*args))
    raise CalculatorError(f"unsupported syntax: {type(node).__name__} (only arithmetic is allowed)")


def evaluate(expression: str) -> Number:
    """Evaluate an arithmetic expression exactly where possible; raises `CalculatorError`."""
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be a string")
    text = expression.strip().replace("^", "**") if "^" in expression else expression.strip()
    if not text:
        raise CalculatorError("empty expression")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"expression too long ({len(text)} > {MAX_EXPRESSION_CHARS} characters)")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise CalculatorError(f"invalid expression: {exc.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise CalculatorError("invalid expression: too complex to parse") from None
    try:
        return _eval(tree, 0)
    except CalculatorError:
        raise
    except ZeroDivisionError:
        raise CalculatorError("division by zero") from None
    except OverflowError:
        raise CalculatorError("result too large") from None
    except RecursionError:
        raise CalculatorError("expression too deeply nested") from None
    except (ValueError, TypeError) as exc:
        raise CalculatorError(f"math error: {exc}") from None


def format_number(value: Number) -> str:
    """Show a number sensibly: ints exactly, integral floats without ``.0``, 12 significant digits."""
    if isinstance(value, int):
        return str(value)
    if value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    text = format(value, ".12g")
    return "0" if text == "-0" else text


@tool(timeout=5.0)
def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression and return the result.

    Args:
        expression: Arithmetic using numbers, + - * / // % ** (or ^), parentheses, the functions
            sqrt, abs, round, min, max, log, exp, floor, ceil, sin, cos, tan and the constants pi, e.
            Example: "sqrt(2) * (3 + 4) / 2".
    """
    return format_number(evaluate(expression))

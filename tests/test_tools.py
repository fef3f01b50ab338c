"""The tool layer: schemas from signatures, validated calls that never raise, registry, calculator."""

from __future__ import annotations

import asyncio
import builtins
import json
import math
import subprocess
import sys
import threading
import time
from typing import Literal

import pytest
from pydantic import BaseModel

from maslab.errors import ToolError
from maslab.tool import Tool, ToolFailure, ToolRegistry, ToolResult, default_registry, get_tool, tool
from maslab.tools.calculator import CalculatorError, calculator, evaluate, format_number


class Point(BaseModel):
    x: int
    y: int = 0


@tool
def search(query: str, limit: int = 5, tags: list[str] | None = None, exact: bool = False) -> list[str]:
    """Search the notes.

    Longer explanation that is not part of the summary.

    Args:
        query: What to look for.
        limit: How many hits to return,
            at most.
        tags (list[str]): Only notes with these tags.

    Returns:
        The matching note titles.
    """
    return [f"{query}:{i}" for i in range(limit)]


@tool(name="add_points", timeout=2.0, description="Add two points.")
async def add(a: Point, b: Point, mode: Literal["sum", "diff"] = "sum") -> Point:
    sign = 1 if mode == "sum" else -1
    return Point(x=a.x + sign * b.x, y=a.y + sign * b.y)


# ------------------------------------------------------------------------------------ schemas


def test_schema_types_required_and_descriptions():
    params = search.parameters
    assert params["type"] == "object"
    assert params["required"] == ["query"]
    props = params["properties"]
    assert props["query"] == {"type": "string", "description": "What to look for."}
    assert props["limit"]["type"] == "integer" and props["limit"]["default"] == 5
    assert props["limit"]["description"] == "How many hits to return, at most."
    assert props["tags"]["description"] == "Only notes with these tags."
    assert {"type": "array", "items": {"type": "string"}} in props["tags"]["anyOf"]
    assert props["exact"] == {"type": "boolean", "default": False}
    assert params["additionalProperties"] is False
    assert search.description == "Search the notes."
    assert search.name == "search" and search.timeout == 30.0


def test_decorator_options_and_openai_schema():
    assert isinstance(add, Tool)
    assert add.name == "add_points" and add.timeout == 2.0
    schema = add.openai_schema()
    assert schema["type"] == "function"
    assert schema["function"]["name"] == "add_points"
    assert schema["function"]["description"] == "Add two points."
    params = schema["function"]["parameters"]
    assert params["required"] == ["a", "b"]
    assert params["properties"]["mode"]["enum"] == ["sum", "diff"]
    assert "Point" in params["$defs"]
    json.dumps(schema)  # serialisable as sent to a server


def test_parameter_names_that_shadow_basemodel_attributes():
    @tool
    def odd(json: str, schema: int = 1, copy: bool = True) -> str:
        """Odd names."""
        return f"{json}-{schema}-{copy}"

    assert set(odd.parameters["properties"]) == {"json", "schema", "copy"}
    result = asyncio.run(odd.call({"json": "j", "schema": 2}))
    assert result.content == "j-2-True"


def test_call_passes_through_to_the_function():
    assert search("x", limit=2) == ["x:0", "x:1"]
    assert search.__name__ == "search"


@pytest.mark.parametrize(
    "fn",
    [
        lambda *args: None,
        lambda **kwargs: None,
    ],
)
def test_varargs_are_misdefined(fn):
    with pytest.raises(ToolError):
        tool(fn, name="bad")


def test_misdefined_tools_raise_tool_error():
    def no_hints(x):
        return x

    with pytest.raises(ToolError, match="no type hint"):
        tool(no_hints)
    with pytest.raises(ToolError, match="invalid tool name"):
        tool(name="has space")(search.fn)
    with pytest.raises(ToolError, match="timeout"):
        tool(timeout=0)(search.fn)


# ------------------------------------------------------------------------------------ calls


async def test_sync_tool_runs_in_a_worker_thread():
    loop_thread = threading.get_ident()

    @tool
    def where() -> dict:
        """Report the thread."""
        return {"same_thread": threading.get_ident() == loop_thread}

    result = await where.call({})
    assert result.ok and json.loads(result.content) == {"same_thread": False}


async def test_async_tool_with_models_and_json_string_arguments():
    result = await add.call('{"a": {"x": 1, "y": 2}, "b": {"x": 10}, "mode": "diff"}')
    assert result.ok, result.error
    assert json.loads(result.content) == {"x": -9, "y": 2}
    assert result.duration_s >= 0


async def test_rendering_of_results():
    @tool
    def value(kind: str) -> object:
        """Return a value of some kind."""
        return {"dict": {"a": [1, 2]}, "int": 3, "none": None, "text": "plain", "tuple": (1, "b")}[kind]

    rendered = {k: (await value.call({"kind": k})).content for k in ("dict", "int", "none", "text", "tuple")}
    assert json.loads(rendered["dict"]) == {"a": [1, 2]}
    assert rendered["int"] == "3"
    assert rendered["none"] == ""
    assert rendered["text"] == "plain"
    assert json.loads(rendered["tuple"]) == [1, "b"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        ({"expression": 3}, "calculator: argument 'expression': Input should be a valid string"),
        ({}, "calculator: missing required argument 'expression'"),
        ({"expression": "1+1", "precision": 3}, "calculator: unexpected argument 'precision'"),
        ('{"expression": "1+1"', "calculator: arguments are not valid JSON"),
        ("[1, 2]", "calculator: arguments must be a JSON object, got list"),
    ],
)
async def test_bad_arguments_are_returned_not_raised(arguments, expected):
    result = await calculator.call(arguments)
    assert isinstance(result, ToolResult)
    assert not result.ok and result.content == ""
    assert result.error.startswith(expected), result.error
    assert "expected arguments: expression: string" in result.error
    assert result.as_text() == "ERROR: " + result.error


async def test_nested_argument_error_names_the_path():
    result = await add.call({"a": {"x": "seven"}, "b": {"x": 1}})
    assert not result.ok
    assert "argument 'a.x'" in result.error and "valid integer" in result.error


async def test_exceptions_inside_tools_become_error_results():
    @tool
    def explode(n: int) -> int:
        """Fail."""
        raise KeyError(f"no item {n}")

    @tool
    def refuse(n: int) -> int:
        """Fail politely."""
        raise ToolFailure(f"cannot do {n} today")

    boom = await explode.call({"n": 4})
    assert not boom.ok and boom.error == "explode: KeyError: 'no item 4'"
    polite = await refuse.call({"n": 4})
    assert polite.error == "refuse: cannot do 4 today"
    assert polite.as_text() == "ERROR: refuse: cannot do 4 today"


async def test_timeouts_become_error_results():
    @tool(timeout=0.2)
    async def slow_async(seconds: float) -> str:
        """Sleep."""
        await asyncio.sleep(seconds)
        return "done"

    @tool(timeout=0.2)
    def slow_sync(seconds: float) -> str:
        """Sleep in a thread."""
        time.sleep(seconds)
        return "done"

    start = time.monotonic()
    results = await asyncio.gather(slow_async.call({"seconds": 5}), slow_sync.call({"seconds": 0.5}))
    assert time.monotonic() - start < 0.45
    assert [r.error for r in results] == [
        "slow_async: timed out after 0.2s",
        "slow_sync: timed out after 0.2s",
    ]
    fast = await slow_async.call({"seconds": 0})
    assert fast.ok and fast.as_text() == "done"


async def test_no_argument_tool_accepts_empty_input():
    @tool
    def ping() -> str:
        """Answer pong."""
        return "pong"

    for empty in (None, "", "  ", {}, "{}"):
        assert (await ping.call(empty)).content == "pong"
    assert "it takes no arguments" in (await ping.call({"x": 1})).error


# ------------------------------------------------------------------------------------ registry


def test_registry_register_get_resolve():
    registry = ToolRegistry()
    registry.register(search)
    registry.register(add)
    assert registry.names() == ["add_points", "search"]
    assert "search" in registry and search in registry and "nope" not in registry
    assert registry.get("search") is search
    assert registry.resolve(["search", add]) == [search, add]
    with pytest.raises(ToolError, match="already registered"):
        registry.register(tool(name="search")(search.fn))
    with pytest.raises(ToolError, match=r"unknown tool 'nope'; known tools: add_points, search"):
        registry.get("nope")
    with pytest.raises(ToolError):
        registry.resolve(["search", 42])


def test_default_registry_has_lazy_builtins():
    assert {"calculator", "python"} <= set(default_registry.names())
    assert get_tool("calculator") is calculator
    assert "calculator" in default_registry
    with pytest.raises(ToolError, match="known tools: .*calculator"):
        get_tool("does-not-exist")


def test_package_import_is_light():
    code = (
        "import sys, maslab.tool as t\n"
        "assert 'maslab.tools.python' not in sys.modules\n"
        "assert 'maslab.tools.calculator' not in sys.modules\n"
        "t.get_tool('calculator')\n"
        "assert 'maslab.tools.calculator' in sys.modules\n"
        "assert 'maslab.tools.python' not in sys.modules\n"
        "print('ok')"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.stdout.strip() == "ok", proc.stderr


# ------------------------------------------------------------------------------------ calculator


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("1 + 2 * 3", 1 + 2 * 3),
        ("(1 + 2) * 3", (1 + 2) * 3),
        ("2 ** 100", 2**100),
        ("-2 ** 2", -(2**2)),
        ("7 // 2", 7 // 2),
        ("-7 // 2", -7 // 2),
        ("7 % 3", 7 % 3),
        ("10 ** 30 / 10 ** 10", 10**20),
        ("+-+3", -3),
        ("abs(-4) + max(1, 9, 3) - min(4, 2)", 4 + 9 - 2),
        ("floor(2.7) + ceil(2.1)", 2 + 3),
        ("round(2.675, 1)", round(2.675, 1)),
        ("sqrt(144)", 12),
        ("2 ^ 10", 2**10),
    ],
)
def test_calculator_integer_and_exact_results(expression, value):
    result = evaluate(expression)
    assert result == value
    assert type(result) is type(value)


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("sqrt(2)", math.sqrt(2)),
        ("log(100, 10)", math.log(100, 10)),
        ("exp(1) - e", 0.0),
        ("sin(pi / 6)", math.sin(math.pi / 6)),
        ("cos(0) + tan(pi / 4)", 1 + math.tan(math.pi / 4)),
        ("1 / 3", 1 / 3),
        ("2 ** -2", 0.25),
    ],
)
def test_calculator_float_results(expression, value):
    assert math.isclose(evaluate(expression), value, rel_tol=1e-12, abs_tol=1e-12)


@pytest.mark.parametrize(
    ("expression", "shown"),
    [("7/2", "3.5"), ("6/3", "2"), ("1/3", "0.333333333333"), ("0.1 + 0.2", "0.3"), ("2**70", str(2**70))],
)
async def test_calculator_tool_output(expression, shown):
    result = await calculator.call({"expression": expression})
    assert result.ok and result.content == shown


def test_format_number():
    assert format_number(2.0) == "2"
    assert format_number(-0.0) == "0"
    assert format_number(1e20) == "1e+20"
    assert format_number(10**20) == "100000000000000000000"


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("(1).real", "unsupported syntax: Attribute"),
        ("x + 1", "unknown name 'x'"),
        ("sqrt", "it is a function"),
        ("'a' * 3", "only numbers are allowed"),
        ("[1, 2][0]", "unsupported syntax"),
        ("(lambda: 1)()", "unknown function"),
        ("[i for i in range(3)]", "unsupported syntax: ListComp"),
        ("1 if 2 else 3", "unsupported syntax: IfExp"),
        ("True + 1", "only numbers"),
        ("1 << 5", "unsupported operator LShift"),
        ("round(1.5, ndigits=1)", "plain positional arguments"),
        ("max(*[1, 2])", "plain positional arguments"),
        ("sqrt(1, 2)", "takes 1 argument"),
        ("1 / 0", "division by zero"),
        ("5 % 0", "modulo by zero"),
        ("sqrt(-1)", "negative"),
        ("log(0)", "positive"),
        ("(-8) ** 0.5", "complex"),
        ("1 +", "invalid expression"),
        ("", "empty expression"),
    ],
)
def test_calculator_rejects_what_is_not_arithmetic(expression, message):
    with pytest.raises(CalculatorError, match=message.replace("(", r"\(").replace("[", r"\[")):
        evaluate(expression)


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("9 ** 9 ** 9", "too large"),
        ("10 ** 10 ** 10", "too large"),
        ("2 ** 20000", "too large"),
        ("(10 ** 2000) * (10 ** 2000)", "too large"),
        ("2.0 ** 5000", "too large"),
        ("exp(1000)", "too large"),
        ("1e308 * 10", "not a finite number"),
        ("-" * 200 + "1", "nested"),
        ("abs(" * 100 + "1" + ")" * 100, "nested"),
        ("1+" * 1500 + "1", "too long"),
    ],
)
def test_calculator_abuse_guards_are_fast(expression, message):
    start = time.monotonic()
    with pytest.raises(CalculatorError, match=message):
        evaluate(expression)
    assert time.monotonic() - start < 1.0


async def test_calculator_errors_reach_the_model(monkeypatch):
    def no_eval(*args, **kwargs):
        raise AssertionError("eval must not be used")

    monkeypatch.setattr(builtins, "eval", no_eval)
    good = await calculator.call({"expression": "3 * (4 + 5)"})
    assert good.ok and good.content == "27"
    bad = await calculator.call({"expression": "__import__('os').system('true')"})
    assert not bad.ok
    assert bad.error.startswith("calculator: unknown function")


def test_a_blocking_sync_tool_past_its_timeout_does_not_hold_the_cli(tmp_path):
    """`maslab run` on a declared-graph workflow whose agent calls a sync tool that blocks for 60 s with
    timeout=1: the model gets the timeout error and the command exits promptly (the abandoned call runs
    on a daemon thread, which does not keep the process alive). Scripted model: it calls the tool once,
    then answers."""
    import subprocess
    import sys

    models = tmp_path / "models.yaml"
    models.write_text("default: s\nmodels:\n  s: {scripted: ['{\"tool\": \"stuck\", \"arguments\": {}}', 'gave up']}\n")
    wf = tmp_path / "wf.yaml"
    wf.write_text("name: stuck\nagents:\n  a: {tools: [stuck]}\ngraph: []\noutput: a\n")
    script = (
        "import sys, time\n"
        "from maslab.tool import default_registry, tool\n"
        "@tool(timeout=1)\n"
        "def stuck() -> str:\n"
        "    '''Never comes back in time.'''\n"
        "    time.sleep(60)\n"
        "    return 'late'\n"
        "default_registry.register(stuck)\n"
        "from maslab.cli import main\n"
        f"sys.exit(main(['run', {str(wf)!r}, '--question', 'go', '--models', {str(models)!r}, "
        f"'--runs-dir', {str(tmp_path / 'runs')!r}]))\n"
    )
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    elapsed = time.monotonic() - start
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "gave up"
    trace = (next((tmp_path / "runs").iterdir()) / "trace.jsonl").read_text()
    assert trace.count('"event": "call"') == 2  # the tool call, then the answer after its timeout error
    assert elapsed < 45, f"the process lived {elapsed:.0f}s"  # not the tool's 60 s

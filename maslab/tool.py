"""Turn typed Python functions into LLM tools: JSON schema from hints, validated calls, a registry.

This is runtime machinery; the tool implementations live in `maslab.tools` (the top-level
`tools/` folder) and in other packages, and reach the default registry through the
`maslab.tools` entry points (`maslab.plugins`), loaded lazily by name.

`@tool` wraps a sync or async function in a `Tool`. The tool's argument schema is built with
pydantic from the signature (descriptions come from a Google-style ``Args:`` docstring section),
and `Tool.call` validates model-produced arguments against it. A call never raises for bad
input: malformed JSON, missing/extra/mistyped arguments, an exception inside the tool or a
timeout all come back as `ToolResult(ok=False, error=...)` with a message the model can act on.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import dataclasses
import functools
import inspect
import json
import re
import threading
import time
import typing
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, overload

import pydantic
import pydantic_core
from pydantic import BaseModel, ConfigDict, Field

from maslab.errors import MaslabError, ToolError, clip
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "Tool",
    "ToolFailure",
    "ToolRegistry",
    "ToolResult",
    "default_registry",
    "get_tool",
    "tool",
]

_MAX_ERROR_CHARS = 2000


class ToolFailure(MaslabError):
    """Raise inside a tool to fail with a message meant for the model (no exception-type prefix)."""


class ToolResult(BaseModel):
    """What one tool call produced; errors are data, returned to the model as the tool's result."""

    ok: bool
    content: str = ""
    error: str | None = None
    error_type: str | None = None  # the exception's class name; "ArgumentError" for rejected arguments
    duration_s: float = 0.0

    def as_text(self) -> str:
        """The text to show the model: the content, or ``ERROR: <reason>``."""
        return self.content if self.ok else f"ERROR: {self.error}"


# --------------------------------------------------------------------------------------------
# docstrings


_SECTION_RE = re.compile(r"^(Args|Arguments|Parameters|Params)\s*:\s*$")
_ARG_RE = re.compile(r"^\*{0,2}(?P<name>\w+)\s*(\([^)]*\))?\s*:\s*(?P<desc>.*)$")


def _parse_docstring(doc: str | None) -> tuple[str, dict[str, str]]:
    """Return (summary, {argument: description}) from a Google-style docstring."""
    if not doc:
        return "", {}
    lines = inspect.cleandoc(doc).splitlines()
    summary_lines: list[str] = []
    for line in lines:
        if not line.strip() or _SECTION_RE.match(line.strip()):
            break
        summary_lines.append(line.strip())
    summary = " ".join(summary_lines)

    args: dict[str, str] = {}
    in_args = False
    section_indent = 0
    entry_indent: int | None = None
    current: str | None = None
    for line in lines:
        stripped = line.strip()
        indent = len(line) - len(line.lstrip())
        if not in_args:
            if _SECTION_RE.match(stripped):
                in_args, section_indent, entry_indent, current = True, indent, None, None
            continue
        if not stripped:
            continue
        if indent <= section_indent:
            # a new section (Returns:, Raises:, ...) or dedented prose ends the Args block
            in_args = bool(_SECTION_RE.match(stripped))
            current = None
            if in_args:
                section_indent, entry_indent = indent, None
            continue
        if entry_indent is None:
            entry_indent = indent
        match = _ARG_RE.match(stripped)
        if indent == entry_indent and match:
            current = match.group("name")
            args[current] = match.group("desc").strip()
        elif current is not None:
            args[current] = (args[current] + " " + stripped).strip()
    return summary, args


# --------------------------------------------------------------------------------------------
# argument models


class _ArgsBase(BaseModel):
    """Base of every generated argument model: unknown arguments are errors."""

    model_config = ConfigDict(extra="forbid", populate_by_name=False, arbitrary_types_allowed=False)


def _build_args_model(
    fn: Callable[..., Any], tool_name: str, arg_docs: dict[str, str]
) -> tuple[type[BaseModel], dict[str, str]]:
    """Build a pydantic model of `fn`'s parameters; returns it and {field name: parameter name}."""
    try:
        signature = inspect.signature(fn)
        hints = typing.get_type_hints(fn, include_extras=True)
    except (TypeError, ValueError, NameError) as exc:
        raise ToolError(f"tool {tool_name!r}: cannot read the signature: {exc}") from exc
    fields: dict[str, Any] = {}
    names: dict[str, str] = {}
    for index, (pname, param) in enumerate(signature.parameters.items()):
        if param.kind in (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD):
            raise ToolError(f"tool {tool_name!r}: *args/**kwargs parameters are not supported ({pname})")
        if param.kind is inspect.Parameter.POSITIONAL_ONLY:
            raise ToolError(f"tool {tool_name!r}: positional-only parameter {pname!r} is not supported")
        if pname not in hints:
            raise ToolError(f"tool {tool_name!r}: parameter {pname!r} has no type hint")
        default = ... if param.default is inspect.Parameter.empty else param.default
        # Fields get neutral internal names and the parameter name as alias, so a parameter called
        # e.g. `json` or `schema` cannot clash with BaseModel's own attributes.
        field_name = f"p{index}"
        names[field_name] = pname
        fields[field_name] = (
            hints[pname],
            Field(default, alias=pname, description=arg_docs.get(pname) or None),
        )
    try:
        model = pydantic.create_model(f"{tool_name}_arguments", __base__=_ArgsBase, **fields)
    except (TypeError, ValueError, pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
        raise ToolError(f"tool {tool_name!r}: unsupported parameter types: {exc}") from exc
    return model, names


def _json_schema(model: type[BaseModel], tool_name: str) -> dict[str, Any]:
    try:
        schema = model.model_json_schema(by_alias=True)
    except (TypeError, ValueError, pydantic.PydanticUserError, pydantic.PydanticSchemaGenerationError) as exc:
        raise ToolError(f"tool {tool_name!r}: cannot build a JSON schema: {exc}") from exc
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
    schema.setdefault("properties", {})
    schema["additionalProperties"] = False
    return schema


def _type_label(prop: dict[str, Any]) -> str:
    if "type" in prop:
        return str(prop["type"])
    if "anyOf" in prop:
        return " | ".join(str(p.get("type", p.get("$ref", "?")).rsplit("/", 1)[-1]) for p in prop["anyOf"])
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if "enum" in prop:
        return "one of " + ", ".join(json.dumps(v) for v in prop["enum"])
    return "any"


def _render(value: Any) -> str:
    """Render a tool's return value as text (JSON for structured values)."""
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray):
        return bytes(value).decode("utf-8", errors="replace")
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, dict | list | tuple | set | frozenset) or dataclasses.is_dataclass(value):
        try:
            return pydantic_core.to_json(value).decode()
        except (TypeError, ValueError, pydantic_core.PydanticSerializationError):
            return str(value)
    return str(value)


def _clip(text: str) -> str:
    return clip(text, _MAX_ERROR_CHARS)


async def _in_daemon_thread(name: str, fn: Callable[..., Any], kwargs: dict[str, Any]) -> Any:
    """Run a sync tool in a daemon thread of its own. Unlike `asyncio.to_thread` (the loop's executor,
    whose threads the loop and the interpreter wait for at shutdown), a call abandoned at its timeout
    cannot keep the process alive: the thread runs on unobserved until it returns or the process exits."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()
    context = contextvars.copy_context()

    def settle(ok: bool, value: Any) -> None:
        if not future.done():
            future.set_result(value) if ok else future.set_exception(value)

    def work() -> None:
        try:
            outcome = (True, context.run(fn, **kwargs))
        except BaseException as exc:  # handed to the awaiting task
            outcome = (False, exc)
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            loop.call_soon_threadsafe(settle, *outcome)

    threading.Thread(target=work, name=f"maslab-tool-{name}", daemon=True).start()
    return await future


# --------------------------------------------------------------------------------------------
# Tool


class Tool:
    """A callable exposed to models: name, description, JSON-schema parameters and a safe `call`."""

    def __init__(
        self,
        fn: Callable[..., Any],
        *,
        name: str | None = None,
        description: str | None = None,
        timeout: float | None = 30.0,
    ) -> None:
        if not callable(fn):
            raise ToolError(f"@tool needs a function, got {type(fn).__name__}")
        self.fn = fn
        self.name = name or getattr(fn, "__name__", "")
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,64}", self.name):
            raise ToolError(f"invalid tool name {self.name!r}: use 1-64 letters, digits, '_' or '-'")
        if timeout is not None and timeout <= 0:
            raise ToolError(f"tool {self.name!r}: timeout must be positive, got {timeout}")
        self.timeout = timeout
        summary, arg_docs = _parse_docstring(inspect.getdoc(fn))
        self.description = description if description is not None else summary
        self._is_async = inspect.iscoroutinefunction(fn)
        self.args_model, self._field_names = _build_args_model(fn, self.name, arg_docs)
        self.parameters: dict[str, Any] = _json_schema(self.args_model, self.name)
        functools.update_wrapper(self, fn)  # type: ignore[arg-type]

    def __repr__(self) -> str:
        return f"Tool(name={self.name!r}, parameters={list(self.parameters.get('properties', {}))})"

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Call the wrapped function directly (no validation, no timeout)."""
        return self.fn(*args, **kwargs)

    def openai_schema(self) -> dict[str, Any]:
        """The OpenAI ``tools=[...]`` entry for this tool."""
        return {
            "type": "function",
            "function": {"name": self.name, "description": self.description, "parameters": self.parameters},
        }

    def _signature_hint(self) -> str:
        props = self.parameters.get("properties", {})
        required = set(self.parameters.get("required", []))
        if not props:
            return "it takes no arguments"
        parts = [f"{k}: {_type_label(v)}{'' if k in required else ' (optional)'}" for k, v in props.items()]
        return "expected arguments: " + ", ".join(parts)

    def _format_validation_error(self, exc: pydantic.ValidationError) -> str:
        problems: list[str] = []
        for err in exc.errors(include_url=False):
            loc = [str(p) for p in err.get("loc", ())]
            arg = loc[0] if loc else ""
            path = ".".join(loc)
            kind = err.get("type", "")
            if kind == "missing" and len(loc) == 1:
                problems.append(f"missing required argument '{arg}'")
            elif kind == "extra_forbidden" and len(loc) == 1:
                problems.append(f"unexpected argument '{arg}'")
            else:
                problems.append(f"argument '{path}': {err.get('msg', 'invalid value')}")
        return f"{self.name}: " + "; ".join(problems) + f" ({self._signature_hint()})"

    def _parse_arguments(self, arguments: dict[str, Any] | str | None) -> dict[str, Any] | str:
        """Return the keyword arguments for the function, or an error message."""
        if arguments is None:
            arguments = {}
        if isinstance(arguments, bytes | bytearray):
            arguments = bytes(arguments).decode("utf-8", errors="replace")
        if isinstance(arguments, str):
            text = arguments.strip()
            if not text:
                arguments = {}
            else:
                try:
                    arguments = json.loads(text)
                except json.JSONDecodeError as exc:
                    return (
                        f"{self.name}: arguments are not valid JSON ({exc.msg} at line {exc.lineno} "
                        f"column {exc.colno}); send a JSON object ({self._signature_hint()})"
                    )
        if not isinstance(arguments, dict):
            return (
                f"{self.name}: arguments must be a JSON object, got {type(arguments).__name__} "
                f"({self._signature_hint()})"
            )
        try:
            validated = self.args_model.model_validate(arguments)
        except pydantic.ValidationError as exc:
            return self._format_validation_error(exc)
        return {pname: getattr(validated, field) for field, pname in self._field_names.items()}

    async def _invoke(self, kwargs: dict[str, Any]) -> Any:
        if self._is_async:
            return await self.fn(**kwargs)
        result = await _in_daemon_thread(self.name, self.fn, kwargs)
        if inspect.isawaitable(result):
            result = await typing.cast(Awaitable[Any], result)
        return result

    async def call(self, arguments: dict[str, Any] | str | None = None) -> ToolResult:
        """Validate `arguments` (a dict or a JSON string), run the tool, and report; never raises."""
        start = time.perf_counter()

        def done(ok: bool, content: str = "", error: str | None = None, error_type: str | None = None) -> ToolResult:
            result = ToolResult(ok=ok, content=content, error=error, error_type=error_type,
                                duration_s=time.perf_counter() - start)
            log.debug("tool call", tool=self.name, ok=ok, duration_s=round(result.duration_s, 4))
            return result

        parsed = self._parse_arguments(arguments)
        if isinstance(parsed, str):
            return done(False, error=_clip(parsed), error_type="ArgumentError")
        try:
            if self.timeout is None:
                value = await self._invoke(parsed)
            else:
                value = await asyncio.wait_for(self._invoke(parsed), timeout=self.timeout)
        except TimeoutError:
            return done(False, error=f"{self.name}: timed out after {self.timeout}s", error_type="TimeoutError")
        except asyncio.CancelledError:
            raise
        except ToolFailure as exc:
            return done(False, error=_clip(f"{self.name}: {exc}"), error_type=type(exc).__name__)
        except Exception as exc:  # noqa: BLE001 - a failing tool is reported to the model, not raised
            log.debug("tool raised", tool=self.name, error=repr(exc))
            return done(False, error=_clip(f"{self.name}: {type(exc).__name__}: {exc}"), error_type=type(exc).__name__)
        try:
            return done(True, content=_render(value))
        except Exception as exc:  # noqa: BLE001 - rendering a weird value must not crash the run
            return done(False, error=_clip(f"{self.name}: cannot render the result: {exc}"), error_type=type(exc).__name__)


@overload
def tool(fn: Callable[..., Any], /) -> Tool: ...


@overload
def tool(
    fn: None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = 30.0,
    description: str | None = None,
) -> Callable[[Callable[..., Any]], Tool]: ...


def tool(
    fn: Callable[..., Any] | None = None,
    /,
    *,
    name: str | None = None,
    timeout: float | None = 30.0,
    description: str | None = None,
) -> Tool | Callable[[Callable[..., Any]], Tool]:
    """Make a `Tool` from a typed function; use as ``@tool`` or ``@tool(name=..., timeout=...)``."""

    def wrap(f: Callable[..., Any]) -> Tool:
        return Tool(f, name=name, timeout=timeout, description=description)

    return wrap(fn) if fn is not None else wrap


# --------------------------------------------------------------------------------------------
# registry


class ToolRegistry:
    """Tools by name; unknown or duplicate names are `ToolError`s."""

    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        self._lock = threading.RLock()
        for t in tools:
            self.register(t)

    def register(self, item: Tool | Callable[..., Any]) -> Tool:
        """Add a tool (a plain function is wrapped with `tool` first); returns the tool."""
        t = item if isinstance(item, Tool) else Tool(item)
        with self._lock:
            if t.name in self._tools:
                if self._tools[t.name] is t:
                    return t
                raise ToolError(f"a tool named {t.name!r} is already registered")
            self._tools[t.name] = t
        return t

    def get(self, name: str) -> Tool:
        """The tool called `name`; ToolError listing the known names if there is none."""
        with self._lock:
            found = self._tools.get(name)
        if found is None:
            known = ", ".join(self.names()) or "none"
            raise ToolError(f"unknown tool {name!r}; known tools: {known}")
        return found

    def names(self) -> list[str]:
        """Sorted names of the registered tools."""
        with self._lock:
            return sorted(self._tools)

    def resolve(self, items: Iterable[str | Tool]) -> list[Tool]:
        """Turn a list of names and/or tools into tools (names looked up here)."""
        out: list[Tool] = []
        for item in items:
            if isinstance(item, Tool):
                out.append(item)
            elif isinstance(item, str):
                out.append(self.get(item))
            else:
                raise ToolError(f"expected a tool name or Tool, got {type(item).__name__}: {item!r}")
        return out

    def __contains__(self, item: object) -> bool:
        name = item.name if isinstance(item, Tool) else item
        if not isinstance(name, str):
            return False
        with self._lock:
            return name in self._tools

    def __iter__(self) -> Iterator[Tool]:
        with self._lock:
            return iter(list(self._tools.values()))

    def __len__(self) -> int:
        with self._lock:
            return len(self._tools)


def _plugin_tools() -> dict[str, Any]:
    """Tool name → its `maslab.tools` entry point (not imported yet)."""
    from maslab import plugins

    return {ep.name: ep for ep in plugins.entry_points(plugins.TOOLS)}


class _DefaultRegistry(ToolRegistry):
    """The process-wide registry; plug-in tools (`maslab.tools` entry points) are imported on first use."""

    def _load(self, name: str) -> None:
        ep = _plugin_tools().get(name)
        if ep is None:
            return
        with self._lock:
            if name in self._tools:
                return
            from maslab import plugins

            try:
                obj = plugins.load(ep)
            except Exception as exc:
                raise ToolError(f"tool {name!r} ({ep.value}) failed to load: {type(exc).__name__}: {exc}") from exc
            self.register(obj)

    def get(self, name: str) -> Tool:
        self._load(name)
        return super().get(name)

    def names(self) -> list[str]:
        with self._lock:
            return sorted(set(self._tools) | set(_plugin_tools()))

    def __contains__(self, item: object) -> bool:
        if isinstance(item, str) and item in _plugin_tools():
            return True
        return super().__contains__(item)

    def __iter__(self) -> Iterator[Tool]:
        for name in _plugin_tools():
            self._load(name)
        return super().__iter__()

    def __len__(self) -> int:
        return len(self.names())


default_registry: ToolRegistry = _DefaultRegistry()


def get_tool(name: str) -> Tool:
    """Look a tool up in the default registry (plug-in tools such as `calculator` and `python` load lazily)."""
    return default_registry.get(name)

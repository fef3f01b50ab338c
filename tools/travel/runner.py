"""Inside the sandbox child only: run one T1 plan with the tools bound to the dialogue's cache.

`execute.py` writes ``t1_input.json`` (plan, cache JSON, KB path) into the sandbox's work dir
and runs ``from maslab.tools.travel.runner import main; main()`` there. `main` binds the tools
to the KB and cache, records every tool call (arguments, which earlier call's result fed which
argument, success), runs the plan as a script with `runpy` in a namespace whose ``__import__``
only admits a short list of harmless modules, and writes ``t1_result.json``: calls, the cache
after the run (also after a failure: whatever was saved before it), the `seek_information`
messages and the error. It must never be imported for its side effects in the parent process.
"""

from __future__ import annotations

import builtins
import contextlib
import io
import json
import runpy
import sys
import traceback
from pathlib import Path
from typing import Any

from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.kb import KnowledgeBase
from maslab.tools.travel.table import Table
from maslab.tools.travel.tools import TOOL_NAMES, TOOL_SPECS, TravelTools

__all__ = ["ALLOWED_IMPORTS", "INPUT_FILE", "PLAN_FILE", "RESULT_FILE", "error_category", "main"]

INPUT_FILE = "t1_input.json"
RESULT_FILE = "t1_result.json"
PLAN_FILE = "plan.py"
ALLOWED_IMPORTS = frozenset({
    "math", "datetime", "json", "re", "collections", "itertools", "functools", "operator", "statistics",
    "random", "string", "decimal", "fractions", "heapq", "bisect", "copy", "typing", "dataclasses", "time",
})
_STDOUT_LIMIT = 64 * 1024
_BLOCKED_BUILTINS = ("open", "exec", "eval", "compile", "input", "breakpoint", "exit", "quit", "help")


def error_category(exc: BaseException) -> str:
    """The spec's error taxonomy: validation_error, undefined_variable, index_out_of_range, other."""
    names = {c.__name__ for c in type(exc).__mro__}
    if "ValidationError" in names:
        return "validation_error"
    if isinstance(exc, NameError):  # includes UnboundLocalError
        return "undefined_variable"
    if isinstance(exc, IndexError):
        return "index_out_of_range"
    return "other"


def _safe_import(name: str, globals: Any = None, locals: Any = None, fromlist: Any = (), level: int = 0) -> Any:
    if level != 0 or name.split(".")[0] not in ALLOWED_IMPORTS:
        raise ImportError(f"import of {name!r} is not allowed in a plan (allowed: {', '.join(sorted(ALLOWED_IMPORTS))})")
    return builtins.__import__(name, globals, locals, fromlist, level)


def _json_safe(v: Any, depth: int = 0) -> Any:
    if isinstance(v, Table):
        return {"$table": v.domain, "rows": len(v)}
    if v is None or isinstance(v, bool | int | float | str):
        return v
    if depth < 3 and isinstance(v, list | tuple):
        if v and all(isinstance(x, dict) for x in v):
            return {"$rows": len(v)}
        return [_json_safe(x, depth + 1) for x in v]
    if depth < 3 and isinstance(v, dict):
        return {str(k): _json_safe(x, depth + 1) for k, x in v.items()}
    return repr(v)[:200]


def _short_error(exc: BaseException) -> str:
    if "ValidationError" in {c.__name__ for c in type(exc).__mro__} and hasattr(exc, "errors"):
        parts = []
        for e in exc.errors(include_url=False):  # type: ignore[attr-defined]
            loc = ".".join(str(x) for x in e.get("loc", ()))
            parts.append(f"{loc}: {e.get('msg')}")
        return f"ValidationError in {getattr(exc, 'title', '?')}: " + "; ".join(parts)
    return f"{type(exc).__name__}: {exc}"


class _Recorder:
    """Wraps the tools to log each call and to trace which call's result reaches which argument."""

    def __init__(self, tools: TravelTools):
        self.tools = tools
        self.calls: list[dict[str, Any]] = []
        self._made_by: dict[int, int] = {}  # id(result) → call index
        self._keep: list[Any] = []  # results stay alive so their ids stay unique

    def wrap(self, name: str) -> Any:
        base = self.tools.function(name)
        spec = TOOL_SPECS[name]

        def fn(*args: Any, **kwargs: Any) -> Any:
            named = spec.name_args(args, kwargs)
            rec: dict[str, Any] = {
                "index": len(self.calls), "name": name,
                "args": {k: _json_safe(v) for k, v in named.items()},
                "inputs_from": {k: self._made_by[id(v)] for k, v in named.items() if id(v) in self._made_by},
                "ok": True, "error": None,
            }
            self.calls.append(rec)
            try:
                out = base(*args, **kwargs)
            except Exception as exc:
                rec["ok"], rec["error"] = False, _short_error(exc)
                raise
            if isinstance(out, list | dict | str):
                self._made_by[id(out)] = rec["index"]
                self._keep.append(out)
            return out

        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = base.__doc__
        fn.__signature__ = base.__signature__  # type: ignore[attr-defined]
        return fn


def _plan_line(exc: BaseException, plan_path: str) -> int | None:
    if isinstance(exc, SyntaxError) and exc.filename == plan_path:
        return exc.lineno
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == plan_path:
            line = frame.lineno
    return line


def _run_one(job: dict[str, Any], kb: KnowledgeBase, plan_path: Path, capture: bool) -> dict[str, Any]:
    plan_path.write_text(job["plan"])
    plan_file = str(plan_path.resolve())
    cache = ToolCache.from_dict(job.get("cache"))
    tools = TravelTools(kb, cache)
    rec = _Recorder(tools)
    safe_builtins = {k: v for k, v in vars(builtins).items() if k not in _BLOCKED_BUILTINS}
    safe_builtins["__import__"] = _safe_import
    namespace: dict[str, Any] = {"__builtins__": safe_builtins}
    namespace.update({n: rec.wrap(n) for n in TOOL_NAMES})
    result: dict[str, Any] = {"ok": True, "error": None, "error_type": None, "error_category": None,
                              "error_line": None}
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out) if capture else contextlib.nullcontext():
            runpy.run_path(plan_file, init_globals=namespace, run_name="__plan__")
    except SystemExit as exc:
        if exc.code not in (None, 0):
            result.update(ok=False, error=f"SystemExit: {exc.code}", error_type="SystemExit",
                          error_category="other")
    except BaseException as exc:  # the plan's failure is data, not our failure
        result.update(ok=False, error=_short_error(exc), error_type=type(exc).__name__,
                      error_category=error_category(exc), error_line=_plan_line(exc, plan_file))
        if result["error_line"]:
            result["error"] = f"line {result['error_line']}: {result['error']}"
    sys.stdout.flush()
    result.update(calls=rec.calls, cache=cache.to_dict(), seek_messages=tools.seek_messages)
    if capture:
        text = out.getvalue()
        result["stdout"] = text if len(text) <= _STDOUT_LIMIT else text[:_STDOUT_LIMIT] + "\n...[truncated]"
    return result


def main(workdir: str | Path = ".") -> None:
    """Run the plan (or the batch of plans) in ``t1_input.json`` in `workdir`; write ``t1_result.json``.

    Input: ``{"kb_path", "plan", "cache"}`` for one plan, or ``{"kb_path", "jobs": [{"plan",
    "cache"}, …]}`` for a batch (each plan in its own namespace with its own cache; stdout is
    captured per plan). Output: one result dict, or ``{"results": [...]}``.
    """
    wd = Path(workdir)
    spec = json.loads((wd / INPUT_FILE).read_text())
    kb = KnowledgeBase(spec["kb_path"])
    if "jobs" in spec:
        results = [_run_one(job, kb, wd / f"plan_{i}.py", capture=True) for i, job in enumerate(spec["jobs"])]
        payload: dict[str, Any] = {"results": results}
    else:
        payload = _run_one(spec, kb, wd / PLAN_FILE, capture=False)
    (wd / RESULT_FILE).write_text(json.dumps(payload, ensure_ascii=False, default=repr))

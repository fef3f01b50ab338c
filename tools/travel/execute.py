"""Run a T1 plan (model-written or gold code) in the sandbox subprocess and report what it did.

`execute_plan(code, cache, kb_path)` ships the plan, the dialogue cache (JSON) and the knowledge
base into a fresh `maslab.sandbox` work dir, where `maslab.tools.travel.runner` executes
the plan with the tools bound to that cache. The parent never runs plan code. The result is an
`ExecutionResult`: success, the error and its category in the spec's taxonomy
(validation_error / undefined_variable / index_out_of_range / other), the tool calls in order
with the data flow between them, the cache after the run, any `seek_information` message and
the plan's stdout. A plan that fails, runs out of time or memory, or is killed is an execution
failure, never an exception here. `plan_graph` (static, from the AST) is re-exported here.
"""

from __future__ import annotations

import json
import stat
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.sync import run_sync
from maslab.tools.travel.analysis import plan_graph
from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.runner import INPUT_FILE, RESULT_FILE
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "ErrorCategory",
    "ExecutionResult",
    "ToolCallRecord",
    "aexecute_plan",
    "aexecute_plans",
    "execute_plan",
    "execute_plans",
    "plan_graph",
]

ErrorCategory = Literal["validation_error", "undefined_variable", "index_out_of_range", "other"]
KB_SHIP_LIMIT = 48 * 1024 * 1024  # KB files up to this size always travel into the work dir
_RUNNER = "from maslab.tools.travel.runner import main\nmain()\n"
_KB_NAME = "t1_kb.sqlite"


class ToolCallRecord(BaseModel):
    """One tool call the plan made while running."""

    index: int
    name: str
    args: dict[str, Any]  # by parameter name; tables shown as {"$table": domain, "rows": n}
    inputs_from: dict[str, int] = Field(default_factory=dict)  # argument → index of the call that made it
    ok: bool = True
    error: str | None = None


class ExecutionResult(BaseModel):
    """What running one plan did."""

    ok: bool
    error: str | None = None
    error_category: ErrorCategory | None = None
    error_type: str | None = None  # exception class name, or Timeout / Killed / SandboxFailure
    calls: list[ToolCallRecord] = Field(default_factory=list)
    cache_after: dict[str, Any] = Field(default_factory=dict)  # ToolCache.to_dict()
    cache_summary: str = ""
    seek_messages: list[str] = Field(default_factory=list)
    stdout: str = ""
    stderr: str = ""
    timed_out: bool = False
    isolation: str | None = None
    duration_s: float = 0.0

    @property
    def seek_message(self) -> str | None:
        return "\n".join(self.seek_messages) if self.seek_messages else None

    def cache(self) -> ToolCache:
        return ToolCache.from_dict(self.cache_after)

    def feedback(self) -> str:
        """A short text for the model: the error, or OK with the calls made."""
        if not self.ok:
            return f"Execution failed ({self.error_category}): {self.error}"
        return "Execution succeeded: " + (", ".join(c.name for c in self.calls) or "no tool calls")


def _as_cache(cache: ToolCache | dict[str, Any] | str | None) -> ToolCache:
    if cache is None:
        return ToolCache()
    if isinstance(cache, ToolCache):
        return cache
    if isinstance(cache, str):
        return ToolCache.from_json(cache)
    return ToolCache.from_dict(cache)


def _resolve_kb(kb_path: str | Path | None) -> Path:
    if kb_path is None:
        from maslab.tools.travel.kb import get_kb

        return get_kb().path
    return Path(kb_path).resolve()


def _sandbox_can_read(path: Path) -> bool:
    """Whether the sandbox's user may read the file once it is made visible (root's sandboxes run as
    `nobody`, so: world-readable)."""
    try:
        return bool(path.stat().st_mode & stat.S_IROTH)
    except OSError:
        return False


def _kb_files(kb: Path) -> tuple[dict[str, str | bytes], str, list[str]]:
    """The KB travels into the work dir when small or not readable by the sandbox's user; else the
    sandbox sees it in place, read-only. Returns (work-dir files, path in the sandbox, read-only paths)."""
    if kb.stat().st_size <= KB_SHIP_LIMIT or not _sandbox_can_read(kb):
        return {_KB_NAME: kb.read_bytes()}, _KB_NAME, []
    return {}, str(kb), [str(kb)]


def _from_data(data: dict[str, Any], common: dict[str, Any]) -> ExecutionResult:
    cache = ToolCache.from_dict(data.get("cache"))
    if "stdout" in data:
        common = {**common, "stdout": data["stdout"]}
    return ExecutionResult(
        ok=bool(data.get("ok")), error=data.get("error"), error_category=data.get("error_category"),
        error_type=data.get("error_type"),
        calls=[ToolCallRecord.model_validate(c) for c in data.get("calls", [])],
        cache_after=cache.to_dict(), cache_summary=cache.summary(),
        seek_messages=list(data.get("seek_messages", [])), **common)


def _failure(sb: Any, cache_before: ToolCache) -> ExecutionResult:
    """Killed, timed out, out of memory, or the runner itself failed: the turn changed nothing."""
    err = sb.error or "the plan runner wrote no result"
    timed_out = "timeout" in err.lower() or "timed out" in err.lower()
    etype = "Timeout" if timed_out else ("MemoryError" if "memory" in err.lower() else "Killed")
    if sb.error is None:
        etype = "SandboxFailure"
    tail = sb.stderr.strip().splitlines()[-1:] if sb.stderr else []
    if tail and not timed_out:
        err = f"{err} ({tail[0][:300]})"
    return ExecutionResult(ok=False, error=err, error_category="other", error_type=etype, timed_out=timed_out,
                           cache_after=cache_before.to_dict(), cache_summary=cache_before.summary(),
                           stdout=sb.stdout, stderr=sb.stderr, isolation=sb.isolation, duration_s=sb.duration_s)


def _read(sb: Any) -> Any:
    raw = sb.files.get(RESULT_FILE)
    if raw is None or sb.error is not None:
        return None
    try:
        return json.loads(raw if isinstance(raw, str) else raw.decode())
    except (ValueError, UnicodeDecodeError):
        return None


async def aexecute_plan(code: str, cache: ToolCache | dict[str, Any] | str | None = None,
                        kb_path: str | Path | None = None, *, timeout: float = 10.0,
                        memory_mb: int = 1024) -> ExecutionResult:
    """Run `code` against `cache` (left unmodified) and the KB at `kb_path` (default: `get_kb()`) in the sandbox.

    Never raises for a fault of the plan: errors, time-outs and kills come back as a failed result.
    """
    from maslab.sandbox import arun_python

    before = _as_cache(cache)
    files, kb_in_child, visible = _kb_files(_resolve_kb(kb_path))
    files[INPUT_FILE] = json.dumps({"plan": code, "cache": before.to_dict(), "kb_path": kb_in_child})
    sb = await arun_python(_RUNNER, timeout=timeout, memory_mb=memory_mb, files=files, return_files=[RESULT_FILE],
                           read_only=visible)
    data = _read(sb)
    common = dict(stdout=sb.stdout, stderr=sb.stderr, isolation=sb.isolation, duration_s=sb.duration_s)
    res = _from_data(data, common) if isinstance(data, dict) else _failure(sb, before)
    log.debug("t1_plan_executed", ok=res.ok, error_category=res.error_category, calls=len(res.calls))
    return res


def execute_plan(code: str, cache: ToolCache | dict[str, Any] | str | None = None,
                 kb_path: str | Path | None = None, *, timeout: float = 10.0,
                 memory_mb: int = 1024) -> ExecutionResult:
    """Blocking `aexecute_plan` (also safe inside a running event loop's thread)."""
    return run_sync(aexecute_plan(code, cache, kb_path, timeout=timeout, memory_mb=memory_mb))


async def aexecute_plans(jobs: Sequence[tuple[str, ToolCache | dict[str, Any] | str | None]],
                         kb_path: str | Path | None = None, *, timeout: float = 10.0,
                         memory_mb: int = 1024) -> list[ExecutionResult]:
    """Run several (plan, cache) jobs in one sandbox child, one namespace and cache each.

    Cheaper than one sandbox per plan (one interpreter start, one KB copy); meant for trusted
    code such as gold plans. The batch gets ``timeout`` seconds per job; if the batch as a whole
    fails (a job hangs or exhausts memory) every job is re-run in its own sandbox.
    """
    from maslab.sandbox import arun_python

    if not jobs:
        return []
    befores = [_as_cache(c) for _, c in jobs]
    kb = _resolve_kb(kb_path)
    files, kb_in_child, visible = _kb_files(kb)
    files[INPUT_FILE] = json.dumps({"kb_path": kb_in_child, "jobs": [
        {"plan": code, "cache": b.to_dict()} for (code, _), b in zip(jobs, befores, strict=True)]})
    sb = await arun_python(_RUNNER, timeout=timeout * len(jobs), memory_mb=memory_mb, files=files,
                           return_files=[RESULT_FILE], read_only=visible)
    data = _read(sb)
    if isinstance(data, dict) and len(data.get("results", [])) == len(jobs):
        common = dict(stderr=sb.stderr, isolation=sb.isolation, duration_s=sb.duration_s / len(jobs))
        return [_from_data(d, {**common, "stdout": ""}) for d in data["results"]]
    log.warning("t1_batch_failed_rerunning_singly", error=sb.error, jobs=len(jobs))
    return [await aexecute_plan(code, b, kb, timeout=timeout, memory_mb=memory_mb)
            for (code, _), b in zip(jobs, befores, strict=True)]


def execute_plans(jobs: Sequence[tuple[str, ToolCache | dict[str, Any] | str | None]],
                  kb_path: str | Path | None = None, *, timeout: float = 10.0,
                  memory_mb: int = 1024) -> list[ExecutionResult]:
    """Blocking `aexecute_plans`."""
    return run_sync(aexecute_plans(jobs, kb_path, timeout=timeout, memory_mb=memory_mb))



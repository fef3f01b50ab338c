"""The `python` tool: run a model-written program in the sandbox (`maslab.sandbox`) and return its stdout."""

from __future__ import annotations

from maslab.sandbox import arun_python
from maslab.tool import ToolFailure, tool


@tool(name="python", timeout=60.0)
async def python(code: str, timeout: float = 10.0) -> str:
    """Run a Python program in an isolated sandbox and return what it printed to stdout.

    Args:
        code: A complete Python program; print() the values you want to see.
        timeout: Wall-clock limit in seconds (at most 30).
    """
    result = await arun_python(code, timeout=max(0.5, min(float(timeout), 30.0)))
    if result.ok:
        text = result.stdout
        if not text.strip():
            text = "(no output; use print() to show values)"
        return text
    details = _last_lines(result.stderr, 2000)
    message = result.error or "failed"
    if result.stdout.strip():
        message += "\nstdout:\n" + _last_lines(result.stdout, 1000)
    if details:
        message += "\nstderr:\n" + details
    raise ToolFailure(message)


def _last_lines(text: str, limit: int) -> str:
    text = text.rstrip()
    return text if len(text) <= limit else "…" + text[-limit:]

"""SpatialAgent's executor: one action → one observation, never an exception.

1. The action must name a toolbox tool (`Terminate` is the agent's, not the executor's).
2. Every string argument that is exactly ``image-N`` — in any argument, inside lists, under the
   `images` key too — is resolved to the task's N-th input image or a generated one (the
   reference resolved only `image` / `other_images`, although a published demo passes `images`).
   A tool that takes `image` but was called with `images` gets them as `image` (ours: the paper's
   own demo calls EstimateOpticalFlow that way).
3. The tool runs through `maslab.tool` (argument validation, timeout) inside the run's workspace,
   so images it draws are saved as the next ``image-k``, numbered after the inputs.
4. A failure of any kind — unknown tool or image id, bad arguments, an exception in the tool —
   becomes the observation "Execution failed with <type>: <error>".
5. Results of stand-ins and oracles carry their `provenance`; the executor also writes a `tool`
   event into the run's trace marking the backend (paper method, stand-in or oracle).

Long lists in an observation (e.g. a thousand SIFT matches) are cut to their first 20 items plus a
count (ours: keeps observations within a context window); the full result stays in the record.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from maslab.tool import get_tool
from maslab.tools.spatial.toolbox import BACKENDS, TOOL_NAMES
from maslab.tools.spatial.workspace import Workspace
from maslab.trace import current_recorder

__all__ = ["LIST_LIMIT", "Observation", "execute", "summarise"]

LIST_LIMIT = 20


@dataclass
class Observation:
    """What one executed action produced."""

    name: str
    arguments: dict[str, Any]
    ok: bool
    result: Any = None  # the tool's result (a dict), when ok
    error: str | None = None  # "Execution failed with <type>: <error>", when not ok
    new_images: list[Path] = field(default_factory=list)

    @property
    def backend(self) -> str:
        return BACKENDS[self.name].kind if self.name in BACKENDS else "unknown"

    @property
    def provenance(self) -> str | None:
        return (BACKENDS[self.name].label or None) if self.name in BACKENDS else None

    def text(self) -> str:
        """The observation as the model reads it: the (summarised) result JSON, or the failure."""
        if not self.ok:
            return str(self.error)
        return json.dumps(summarise(self.result), ensure_ascii=False)

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "arguments": self.arguments, "ok": self.ok, "backend": self.backend,
                "provenance": self.provenance, "error": self.error, "result": self.result,
                "new_images": [str(p) for p in self.new_images]}


def summarise(value: Any, limit: int = LIST_LIMIT) -> Any:
    """`value` with every list longer than `limit` cut to its first `limit` items and a note of the rest."""
    if isinstance(value, dict):
        return {k: summarise(v, limit) for k, v in value.items()}
    if isinstance(value, list):
        head = [summarise(v, limit) for v in value[:limit]]
        return head + [f"... {len(value) - limit} more"] if len(value) > limit else head
    return value


def _failed(name: str, arguments: dict[str, Any], kind: str, message: str) -> Observation:
    return Observation(name, arguments, False, error=f"Execution failed with {kind}: {message}")


def _takes(tool: Any, parameter: str) -> bool:
    return parameter in tool.parameters.get("properties", {})


async def execute(action: dict[str, Any], workspace: Workspace, *, turn: int | None = None) -> Observation:
    """Run one action in `workspace` (see the module docstring); the trace gets a `tool` event."""
    name = str(action.get("name", ""))
    arguments = dict(action.get("arguments") or {})
    observation = await _execute(name, arguments, workspace)
    recorder = current_recorder()
    if recorder is not None:
        recorder.event("tool", name=name, turn=turn, ok=observation.ok, backend=observation.backend,
                       provenance=observation.provenance, error=observation.error,
                       new_images=[str(p) for p in observation.new_images])
    return observation


async def _execute(name: str, arguments: dict[str, Any], workspace: Workspace) -> Observation:
    if name not in TOOL_NAMES or name == "Terminate":
        known = ", ".join(n for n in TOOL_NAMES if n != "Terminate")
        return _failed(name, arguments, "ToolError", f"unknown action {name!r}; the actions are {known}, Terminate")
    tool = get_tool(name)
    call = dict(arguments)
    if "images" in call and "image" not in call and not _takes(tool, "images") and _takes(tool, "image"):
        call["image"] = call.pop("images")
    try:
        resolved = workspace.resolve(call)
    except ValueError as e:
        return _failed(name, arguments, "ValueError", str(e))
    before = len(workspace.generated)
    with workspace.active():
        result = await tool.call(resolved)
    new_images = workspace.generated[before:]
    if not result.ok:
        return Observation(name, arguments, False, new_images=new_images,
                           error=f"Execution failed with {result.error_type or 'Error'}: {result.error}")
    try:
        value = json.loads(result.content)
    except ValueError:
        value = result.content
    return Observation(name, arguments, True, result=value, new_images=new_images)

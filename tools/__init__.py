"""Tool implementations, importable as `maslab.tools`; the tool machinery lives in `tools.core`."""

from maslab.tools.core import (
    Tool,
    ToolFailure,
    ToolRegistry,
    ToolResult,
    default_registry,
    get_tool,
    tool,
)

__all__ = ["Tool", "ToolFailure", "ToolRegistry", "ToolResult", "default_registry", "get_tool", "tool"]

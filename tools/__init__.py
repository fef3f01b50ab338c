"""Tool implementations, importable as `maslab.tools`; the tool machinery lives in `tools.core`.

Names are resolved lazily so that code running inside the sandbox can import one tool module
(e.g. `maslab.tools.travel`) without paying for the rest.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = ["Tool", "ToolFailure", "ToolRegistry", "ToolResult", "default_registry", "get_tool", "tool"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        return getattr(importlib.import_module("maslab.tools.core"), name)
    raise AttributeError(f"module 'maslab.tools' has no attribute {name!r}")

"""maslab: build, run and compare LLM multi-agent systems on heterogeneous local models.

The top-level names are imported lazily so that `import maslab` (and `maslab --help`) stays
instant; litellm, langgraph and friends load only when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "MaslabError": "maslab.errors",
    "ConfigError": "maslab.errors",
    "Message": "maslab.messages",
    "Completion": "maslab.messages",
    "Usage": "maslab.messages",
    "Task": "maslab.task",
    "Solution": "maslab.task",
    "ModelPool": "maslab.models",
    "Agent": "maslab.agent",
    "Method": "maslab.method",
    "MethodConfig": "maslab.method",
    "load_method": "maslab.method",
    "list_methods": "maslab.method",
    "register_method": "maslab.method",
    "tool": "maslab.tool",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'maslab' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)

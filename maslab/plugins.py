"""Plug-in discovery through Python entry points: how the runtime finds what sits beside it.

The runtime never imports a system, a benchmark, a router or a tool implementation by name. A
distribution — maslab itself or any other package — declares them in its metadata::

    [project.entry-points."maslab.methods"]
    my_system = "my_package.my_system"          # a module that registers systems on import

    [project.entry-points."maslab.benchmarks"]
    my_bench = "my_package.my_bench"             # registers datasets and scorers on import

    [project.entry-points."maslab.tools"]
    my_tool = "my_package.tools:my_tool"         # the entry point's name is the tool's name

    [project.entry-points."maslab.commands"]
    mine = "my_package.cli:command"              # a `maslab mine …` sub-command (a `Command`)

    [project.entry-points."maslab.assigners"]
    mine = "my_package.assign:assigner"          # computes a sweep assignment's roles (an `Assigner`)

`load_group(group)` imports every module of a group once per process; a plug-in that fails to
import is skipped with a warning and remembered, so that an error about a missing name can say
which plug-in could not load (`failures(group)`).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

METHODS = "maslab.methods"
BENCHMARKS = "maslab.benchmarks"
ROUTERS = "maslab.routers"
TOOLS = "maslab.tools"
COMMANDS = "maslab.commands"
ASSIGNERS = "maslab.assigners"

_loaded: set[str] = set()
_failures: dict[str, dict[str, str]] = {}
_lock = threading.RLock()


def entry_points(group: str) -> list[importlib.metadata.EntryPoint]:
    """The group's entry points, deduplicated (an editable and a regular install may both list one)."""
    seen: dict[tuple[str, str], importlib.metadata.EntryPoint] = {}
    for ep in importlib.metadata.entry_points(group=group):
        seen.setdefault((ep.name, ep.value), ep)
    return sorted(seen.values(), key=lambda ep: ep.name)


def load(ep: importlib.metadata.EntryPoint) -> Any:
    """Import one entry point; record and re-raise a failure."""
    try:
        return ep.load()
    except Exception as exc:
        with _lock:
            _failures.setdefault(ep.group, {})[ep.name] = f"{ep.value}: {type(exc).__name__}: {exc}"
        raise


def load_group(group: str) -> None:
    """Import every plug-in module of `group` once (a broken plug-in is logged and skipped)."""
    with _lock:
        if group in _loaded:
            return
        for ep in entry_points(group):
            try:
                load(ep)
            except Exception as exc:  # a third-party plug-in must not take maslab down
                from maslab.trace import get_logger

                get_logger(__name__).warning("plugin failed to load", group=group, name=ep.name, value=ep.value, error=str(exc))
        _loaded.add(group)


def failures(group: str) -> dict[str, str]:
    """Plug-ins of `group` that failed to import: name → reason."""
    with _lock:
        return dict(_failures.get(group, {}))


def failure_hint(group: str) -> str:
    """A sentence naming the group's broken plug-ins, or "" when none failed."""
    broken = failures(group)
    if not broken:
        return ""
    return " (plug-ins that failed to load: " + "; ".join(f"{n} = {why}" for n, why in broken.items()) + ")"


def reset(group: str | None = None) -> None:
    """Forget what was loaded (tests that install a plug-in during the run)."""
    with _lock:
        if group is None:
            _loaded.clear()
            _failures.clear()
        else:
            _loaded.discard(group)
            _failures.pop(group, None)


# ---------------------------------------------------------------------------------------------
# plug-in sub-commands


@dataclass
class CommandOutput:
    """What a plug-in command hands back for the CLI to show: text or rich renderables, and an exit code.

    Plug-ins never print; `maslab.cli` prints `items` in order (to stdout) and exits with `exit_code`.
    """

    items: list[Any] = field(default_factory=list)
    exit_code: int = 0


@runtime_checkable
class Command(Protocol):
    """A `maslab NAME …` sub-command contributed through the `maslab.commands` entry points.

    `help` is the one-line description; `configure(parser)` adds its arguments (sub-parsers
    allowed); `run(args)` does the work. Bad input raises `maslab.errors.ConfigError` (exit 2).
    """

    help: str

    def configure(self, parser: argparse.ArgumentParser) -> None: ...

    def run(self, args: argparse.Namespace) -> CommandOutput: ...


# ---------------------------------------------------------------------------------------------
# assigners: role -> alias assignments computed for a sweep


@dataclass
class Assigned:
    """An assigner's answer for one method: its role → alias map and what to record about the choice."""

    roles: dict[str, Any]
    detail: dict[str, Any] = field(default_factory=dict)


@runtime_checkable
class Assigner(Protocol):
    """A `maslab.assigners` plug-in: a sweep assignment written `{name: N, <plug-in name>: {options}}`
    gets its roles from `assign(...)`, once per method of the sweep (e.g. `xmas`: X-MAS-Design).

    `roles` and `functions` are the method's roles and role → MAS-function map; `aliases` the models
    file's aliases in file order (None when unknown); `models` the parsed models file (or None);
    `base_dir` the sweep file's folder, against which relative paths in `options` resolve. Bad
    options raise `maslab.errors.ConfigError`.
    """

    def assign(self, *, method: str, roles: tuple[str, ...], functions: dict[str, str], options: dict[str, Any],
               aliases: list[str] | None, models: Any, base_dir: Path) -> Assigned: ...


def assigner_names() -> list[str]:
    """The names of the installed `maslab.assigners` plug-ins (nothing is imported)."""
    return [ep.name for ep in entry_points(ASSIGNERS)]


def assigner(name: str) -> Assigner:
    """The `maslab.assigners` plug-in called `name` (ConfigError when there is none or it fails to load)."""
    from maslab.errors import ConfigError

    eps = {ep.name: ep for ep in entry_points(ASSIGNERS)}
    if name not in eps:
        raise ConfigError(f"unknown assigner {name!r}; installed: {', '.join(eps) or 'none'}")
    try:
        return load(eps[name])
    except Exception as exc:
        raise ConfigError(f"assigner {name!r} failed to load: {type(exc).__name__}: {exc}") from exc

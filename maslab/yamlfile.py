"""YAML files read with located errors: every problem names its file, line and YAML path.

Workflows (`maslab.workflow`) and sweeps (`maslab.bench.sweep`) are read through `load_yaml`,
which turns unreadable files and YAML syntax errors into a `FileErrors` naming the file and line,
and `Locator`, which collects every further problem (a pydantic validation error, an unknown
name) with its line before anything runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from maslab.errors import ConfigError


class LocatedError(BaseModel):
    """One problem in a workflow, sweep or models file: where (file, line, YAML path) and what."""

    file: str
    line: int | None
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where}: {self.path or '<top>'}: {self.message}"


class FileErrors(ConfigError):
    """A YAML file has problems; `errors` lists each with its YAML path and line."""

    def __init__(self, errors: list[LocatedError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))






def line_map(text: str) -> dict[tuple[Any, ...], int]:
    """YAML path → 1-based line, for every mapping key and sequence item."""
    lines: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, path: tuple[Any, ...]) -> None:
        lines.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                k = key.value if isinstance(key, yaml.ScalarNode) else str(key.value)
                lines[(*path, k)] = key.start_mark.line + 1
                walk(value, (*path, k))
                lines[(*path, k)] = key.start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*path, i))

    root = yaml.compose(text)
    if root is not None:
        walk(root, ())
    return lines


class Locator:
    """Collects located problems of one YAML file (its text mapped to lines once)."""

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.lines = line_map(text)
        self.errors: list[LocatedError] = []

    def line(self, path: tuple[Any, ...]) -> int | None:
        for n in range(len(path), -1, -1):
            if path[:n] in self.lines:
                return self.lines[path[:n]]
        return None

    def add(self, path: tuple[Any, ...], message: str) -> None:
        shown = "".join(f"[{p}]" if isinstance(p, int) else (f".{p}" if i else str(p)) for i, p in enumerate(path))
        self.errors.append(LocatedError(file=self.file, line=self.line(path), path=shown, message=message))

    def add_validation(self, prefix: tuple[Any, ...], e: ValidationError) -> None:
        for err in e.errors():
            loc = tuple(p for p in err["loc"] if not (isinstance(p, str) and p in _UNION_TAGS))
            expected = f" (got {err['input']!r})" if err["type"] != "missing" and not isinstance(
                err.get("input"), dict | list) else ""
            self.add((*prefix, *loc), f"{err['msg']}{expected}")


_UNION_TAGS = {"str", "list[str]", "EdgeCondition", "dict[str,nullable[EdgeCondition]]", "nullable[EdgeCondition]",
               "function-after[_has_backend(), AliasConfig]"}


def load_yaml(path: str | Path) -> tuple[Any, Locator]:
    """Parse a YAML file; `FileErrors` (with the line) when it cannot be read or parsed."""
    path = Path(path)
    file = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as e:
        raise FileErrors([LocatedError(file=file, line=None, path="",
                                       message=f"not UTF-8 text (byte {e.start}: {e.reason})")]) from None
    except OSError as e:
        raise FileErrors([LocatedError(file=file, line=None, path="", message=f"cannot read: {e}")]) from e
    try:
        data = yaml.safe_load(text)
        locator = Locator(file, text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and context_mark is not None:
            problem = f"{problem} ({context} on line {context_mark.line + 1})"
        raise FileErrors([LocatedError(file=file, line=mark.line + 1 if mark else None, path="",
                                       message=f"YAML syntax error: {problem}"
                                       + (f" (column {mark.column + 1})" if mark else ""))]) from e
    return data, locator

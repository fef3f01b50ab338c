"""YAML files read with located errors: every problem names its file, line and YAML path.

This is the one place YAML is read: workflows (`maslab.workflow`), sweeps (`maslab.bench.sweep`)
and models files (`maslab.models`) go through `load_yaml`, `--set` values through `parse_value`.
Unreadable files, text that is not UTF-8 (with the byte offset) and YAML syntax errors become a
`FileErrors` naming the file and line; `Locator` collects every further problem (a pydantic
validation error, an unknown name) with its line before anything runs.

Before anything is built from the text, its event stream (iterative: no recursion) is checked
against two bounds, so that hostile input fails fast with a located error instead of a
RecursionError or a MemoryError: nesting deeper than `MAX_DEPTH` levels, and more than
`MAX_NODES` nodes once every alias is expanded (a "billion laughs" alias bomb is a few hundred
bytes that expand to billions of nodes).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import yaml
from pydantic import AfterValidator, BaseModel, ValidationError

from maslab.errors import ConfigError, clip

MAX_DEPTH = 64  # nesting levels of mappings and sequences
MAX_NODES = 100_000  # nodes of a document with every alias expanded
_SLUG = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")


def is_slug(value: object) -> bool:
    return isinstance(value, str) and bool(_SLUG.fullmatch(value)) and ".." not in value


def _slug(value: str) -> str:
    if not is_slug(value):
        raise ValueError(f"{clip(repr(value))} cannot name a folder: use letters, digits, '.', '_' and '-' "
                         "(no '/', '..', spaces or control characters), starting with a letter or digit, "
                         "at most 100 characters")
    return value


Slug = Annotated[str, AfterValidator(_slug)]
"""A name that becomes a folder or file name (workflow and sweep names: runs/<name>)."""


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
            expected = f" (got {clip(repr(err['input']))})" if err["type"] != "missing" and not isinstance(
                err.get("input"), dict | list) else ""
            self.add((*prefix, *loc), f"{err['msg']}{expected}")


_UNION_TAGS = {"str", "list[str]", "EdgeCondition", "dict[str,nullable[EdgeCondition]]", "nullable[EdgeCondition]",
               "function-after[_has_backend(), AliasConfig]"}


def _check_bounds(text: str) -> tuple[int, str] | None:
    """(line, problem) when the YAML nests deeper than MAX_DEPTH or expands past MAX_NODES nodes."""
    open_nodes: list[list[Any]] = []  # [anchor, expanded size so far] per open collection
    sizes: dict[str, int] = {}  # anchor → expanded size
    total = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        line = event.start_mark.line + 1 if event.start_mark else 0
        if isinstance(event, yaml.CollectionStartEvent):
            open_nodes.append([event.anchor, 1])
            if len(open_nodes) > MAX_DEPTH:
                return line, f"nested deeper than {MAX_DEPTH} levels"
            continue
        if isinstance(event, yaml.CollectionEndEvent):
            anchor, n = open_nodes.pop()
            if anchor:
                sizes[anchor] = n
        elif isinstance(event, yaml.ScalarEvent):
            n = 1
            if event.anchor:
                sizes[event.anchor] = 1
        elif isinstance(event, yaml.AliasEvent):
            n = sizes.get(event.anchor or "", 1)
        else:
            continue
        if open_nodes:
            open_nodes[-1][1] += n
            n = open_nodes[-1][1]
        else:
            total += n
            n = total
        if n > MAX_NODES:
            return line, f"more than {MAX_NODES} nodes once its aliases are expanded (an alias bomb?)"
    return None


def parse_text(text: str, file: str, *, locate: bool = True) -> tuple[Any, Locator | None]:
    """Parse YAML text (bounded, see the module docstring); `FileErrors` naming `file` and the line."""
    try:
        bad = _check_bounds(text)
        if bad is not None:
            raise FileErrors([LocatedError(file=file, line=bad[0] or None, path="", message=bad[1])])
        data = yaml.safe_load(text)
        locator = Locator(file, text) if locate else None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None) or getattr(e, "context_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        context, context_mark = getattr(e, "context", None), getattr(e, "context_mark", None)
        if context and context_mark is not None:
            problem = f"{problem} ({context} on line {context_mark.line + 1})"
        raise FileErrors([LocatedError(file=file, line=mark.line + 1 if mark else None, path="",
                                       message=f"YAML syntax error: {problem}"
                                       + (f" (column {mark.column + 1})" if mark else ""))]) from e
    except (ValueError, RecursionError) as e:  # e.g. an integer of 100 000 digits
        raise FileErrors([LocatedError(file=file, line=None, path="",
                                       message=f"cannot read a value: {clip(str(e))}")]) from None
    return data, locator


def parse_value(text: str, source: str) -> Any:
    """A YAML value given on the command line (`--set key=VALUE`), with the same bounds."""
    return parse_text(text, source, locate=False)[0]


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
    data, locator = parse_text(text, file)
    assert locator is not None
    return data, locator

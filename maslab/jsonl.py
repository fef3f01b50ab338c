"""Read JSON-lines files (plain or .gz) with errors that name the file and line."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from maslab.errors import ConfigError


def read_jsonl(path: str | Path, error: type[Exception] = ConfigError) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line; `error` (default ConfigError) names file:line on
    a missing file, bad JSON or a line that is not a JSON object."""
    path = Path(path)
    if not path.is_file():
        raise error(f"{path}: file not found")
    try:
        fh = gzip.open(path, "rt", encoding="utf-8-sig") if path.name.endswith(".gz") else path.open(
            encoding="utf-8-sig")
        with fh:
            for lineno, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as exc:
                    raise error(f"{path}:{lineno}: invalid JSON ({exc.msg} at column {exc.colno})") from None
                if not isinstance(obj, dict):
                    raise error(f"{path}:{lineno}: expected a JSON object, got {type(obj).__name__}")
                yield lineno, obj
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        raise error(f"{path}: cannot read ({exc})") from None

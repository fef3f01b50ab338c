"""Markdown (pipe) tables in model replies: the table block, its cells, and the numbers in them.

Shared by the Manalyzer system (extraction, merging) and the `manalyzer` benchmark (reading a
baseline's reply).

- `markdown_block(reply)`: the reply's table and the text after it (the explanation). The table is
  the first ```markdown fenced block holding a ``|``; else the run of lines from the first line
  starting with ``|`` to the last one. Its length is what "keep the longest markdown block" compares.
- `parse_table(text)`: header cells and data rows of a pipe table (separator lines skipped; short
  rows padded with "", over-long rows reported).
- `cell_number(cell)`: the Manalyzer merger's number rules (spec §1.6), used when normalisation is
  done by rules and to check the normaliser's output: thousands separators dropped, "45%" → 0.45,
  a range → its midpoint, several numbers → their mean, a trailing unit ignored, anything else →
  None ("n.d.", "declined", text). Ours: "a ± b" reads as a.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

__all__ = ["ParsedTable", "TableBlock", "cell_text", "markdown_block", "cell_number", "parse_table"]


@dataclass(frozen=True)
class TableBlock:
    table: str
    explanation: str


_FENCED = re.compile(r"```markdown[^\n]*\n(.*?)```", re.DOTALL | re.IGNORECASE)


def markdown_block(reply: str) -> TableBlock | None:
    """The table block of a reply and what follows it, or None when the reply has no pipe table."""
    for m in _FENCED.finditer(reply):
        if "|" in m.group(1):
            return TableBlock(m.group(1).strip(), reply[m.end():].strip())
    lines = reply.splitlines()
    rows = [i for i, line in enumerate(lines) if line.strip().startswith("|")]
    if not rows:
        return None
    first, last = rows[0], rows[-1]
    return TableBlock("\n".join(lines[first:last + 1]).strip(), "\n".join(lines[last + 1:]).strip())


@dataclass
class ParsedTable:
    header: list[str]
    rows: list[list[str]]
    dropped: list[str] = field(default_factory=list)  # lines with more cells than the header


_SEPARATOR = re.compile(r"^:?-{2,}:?$")


def _cells(line: str) -> list[str]:
    line = line.strip()
    if line.startswith("|"):
        line = line[1:]
    if line.endswith("|"):
        line = line[:-1]
    return [c.strip() for c in line.split("|")]


def parse_table(text: str) -> ParsedTable:
    """The header and rows of the first pipe table in `text` (empty header when there is none)."""
    lines = [ln for ln in text.splitlines() if ln.strip().startswith("|")]
    if not lines:
        return ParsedTable([], [])
    header = _cells(lines[0])
    rows: list[list[str]] = []
    dropped: list[str] = []
    for line in lines[1:]:
        cells = _cells(line)
        if all(_SEPARATOR.match(c.replace(" ", "")) for c in cells if c) and any(cells):
            continue
        if len(cells) > len(header):
            dropped.append(line)
            continue
        rows.append(cells + [""] * (len(header) - len(cells)))
    return ParsedTable(header, rows, dropped)


_NUM = r"[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?"
_CELL = re.compile(
    rf"^(?P<body>{_NUM}\s*%?(?:\s*(?:[-–—~,;]|to|and)\s*{_NUM}\s*%?)*)\s*(?P<unit>[A-Za-zµμ°/²³·.\s]{{0,16}})$")
_ONE = re.compile(rf"({_NUM})\s*(%?)")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}(?!\d))")
_UNIT_BRACKETS = re.compile(r"\(\s*[^()\d]*\)")


def cell_number(cell: object) -> float | None:
    """The number a cell stands for under the merger's rules, or None when it stands for none."""
    if isinstance(cell, bool) or cell is None:
        return None
    if isinstance(cell, int | float):
        return float(cell) if math.isfinite(cell) else None
    text = _UNIT_BRACKETS.sub(" ", _THOUSANDS.sub("", str(cell))).split("±")[0].strip()
    m = _CELL.match(text)
    if not m or (m.group("unit").strip() and not re.search(r"[A-Za-zµμ°/%²³]", m.group("unit"))):
        return None
    body = m.group("body")
    # a range "a-b": the dash is a separator, not b's sign
    values = [float(num) / (100 if pct else 1) for num, pct in _ONE.findall(re.sub(r"(?<=\d)\s*-\s*(?=\d)", " ~ ", body))]
    if not values:
        return None
    value = float(f"{sum(values) / len(values):.12g}")  # 0.41, not 0.41000000000000003
    return value if math.isfinite(value) else None


def cell_text(value: object) -> str:
    """A cell as written out: None → "", integral floats without ".0" (2015.0 → "2015")."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)

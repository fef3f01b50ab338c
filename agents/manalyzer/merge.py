"""Stage 6, DataMerger: the extracted tables mapped onto the template and their numbers normalised.

1. The template's header gives the columns (plus `Reference`, the paper's title); its example rows
   say which columns are numeric (every example value reads as a number; ours — the reference
   leaves that to the normalising LLM).
2. Each integrated table (the paper's table run, then its text run) is split on pipes; a column
   maps to the template column of the same name or, for template names of more than 5 characters,
   one within Levenshtein distance 2 (`fuzzy_key`: "Content (ug/L)" → "Content (µg/L)"); other
   columns are dropped; missing ones are empty.
3. Numbers are normalised in batches of 20 rows, by the `merger` agent (`normalize: llm`, the
   paper) or by `maslab.tools.markdown_tables.cell_number` (`normalize: rules`, ours): thousands separators
   dropped, % → fraction, range → midpoint, several values → mean, non-numeric → None. The
   agent's reply is held to the contract: the same number of records, every numeric field a
   number or None; text fields it changed are put back as they were (counted). A batch whose
   replies keep breaking the contract is normalised by the rules instead, and the failure recorded.
4. `meta_analysis.csv`: the template columns and `Reference`; None is an empty cell.
"""

from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field

from maslab.agents.manalyzer import prompts
from maslab.agents.manalyzer.contract import Failure, ReplyError, ask_checked, fuzzy_key, list_of
from maslab.errors import ConfigError, MaslabError
from maslab.graph import gather
from maslab.method import RunContext
from maslab.tools.markdown_tables import cell_number, cell_text, parse_table

__all__ = ["MergeReport", "Template", "map_columns", "merge_tables", "normalize_rows", "parse_template",
           "write_csv"]

REFERENCE = "Reference"
Row = dict[str, Any]


class Template(BaseModel):
    columns: list[str]
    numeric: list[str]
    examples: list[list[str]] = Field(default_factory=list)

    @property
    def output_columns(self) -> list[str]:
        return [*self.columns, REFERENCE]


def parse_template(text: str) -> Template:
    """The template's columns and numeric columns; `ConfigError` when it has no pipe-table header."""
    table = parse_table(text)
    if not table.header or not any(table.header):
        raise ConfigError("table_template: no markdown table header (| Column | Column | ...) found")
    columns = [c for c in table.header if c]
    examples = [[row[table.header.index(c)] for c in columns] for row in table.rows]
    numeric = [c for j, c in enumerate(columns)
               if examples and all(cell_number(r[j]) is not None for r in examples if r[j].strip())]
    return Template(columns=columns, numeric=numeric, examples=examples)


def map_columns(header: Sequence[str], columns: Sequence[str]) -> dict[int, str]:
    """Position in `header` → template column, for the header cells that stand for one (first claim wins)."""
    mapping: dict[int, str] = {}
    for column in columns:
        for j, name in enumerate(header):
            if j not in mapping and fuzzy_key(column, [name.strip()]) is not None:
                mapping[j] = column
                break
    return mapping


class MergeReport(BaseModel):
    tables: int = 0
    rows: int = 0
    unmapped_columns: dict[str, list[str]] = Field(default_factory=dict)  # paper -> dropped header cells
    dropped_lines: int = 0
    normalize: str = "llm"
    text_cells_restored: int = 0
    batches_by_rules: int = 0


def merge_tables(papers: Sequence[tuple[str, str, Sequence[str]]], template: Template) -> tuple[list[tuple[str, Row]], MergeReport]:
    """Steps 1–2: (paper id, title, integrated tables) → (paper id, row) in template columns + Reference."""
    report = MergeReport()
    out: list[tuple[str, Row]] = []
    for idx, title, tables in papers:
        for text in tables:
            table = parse_table(text)
            if not table.header:
                continue
            report.tables += 1
            report.dropped_lines += len(table.dropped)
            mapping = map_columns(table.header, template.columns)
            unmapped = [h for j, h in enumerate(table.header) if j not in mapping and h]
            if unmapped:
                report.unmapped_columns.setdefault(idx, []).extend(unmapped)
            if not mapping:
                continue
            for cells in table.rows:
                row: Row = dict.fromkeys(template.columns, "")
                for j, column in mapping.items():
                    row[column] = cells[j]
                row[REFERENCE] = title
                out.append((idx, row))
    report.rows = len(out)
    return out, report


def _by_rules(row: Row, template: Template) -> Row:
    return {k: (cell_number(v) if k in template.numeric else v) for k, v in row.items()}


_NONE = {"", "none", "null", "nan", "n/a", "na"}


def _reply_parser(batch: list[Row], template: Template) -> Any:
    def record(item: Any) -> dict[str, Any]:
        if not isinstance(item, dict):
            raise ReplyError(f"a record is {type(item).__name__}, not a dict")
        return {str(k): v for k, v in item.items()}

    parse_list = list_of(record, length=len(batch))

    def parse(text: str) -> list[tuple[Row, int]]:
        """Each record as a row, with the number of text fields the reply changed (put back)."""
        records = parse_list(text)
        rows = []
        for i, (given, got) in enumerate(zip(batch, records, strict=True)):
            row: Row = {}
            restored = 0
            for column in template.columns:
                key = fuzzy_key(column, got)
                value = got.get(key) if key is not None else None
                if column in template.numeric:
                    if value is None or (isinstance(value, str) and value.strip().lower() in _NONE):
                        row[column] = None
                    else:
                        try:
                            number = float(value)
                        except (TypeError, ValueError):
                            raise ReplyError(f"record {i + 1}, field {column!r}: {value!r} is not a number or None"
                                             ) from None
                        row[column] = number if math.isfinite(number) else None
                else:
                    row[column] = given[column]  # text fields stay as extracted
                    restored += int(value is not None and str(value) != given[column])
            rows.append((row, restored))
        return rows

    return parse


async def normalize_rows(ctx: RunContext[Any], rows: list[Row], template: Template, *, mode: Literal["llm", "rules"],
                         batch_size: int, retries: int, report: MergeReport) -> tuple[list[Row], list[Failure]]:
    """Step 3 over all rows (order kept); `report` counts restorations and rule-normalised batches."""
    failures: list[Failure] = []
    report.normalize = mode
    if mode == "rules" or not template.numeric:
        return [_by_rules(r, template) for r in rows], failures
    merger = ctx.agent("merger", prompts.NORMALIZE_SYSTEM)

    async def batch(start: int) -> list[Row]:
        chunk = rows[start:start + batch_size]
        plain = [{c: r[c] for c in template.columns} for r in chunk]
        try:
            cleaned = await ask_checked(ctx, merger, prompts.NORMALIZE_QUERY.format(
                numeric=", ".join(template.numeric), records=json.dumps(plain, ensure_ascii=False), n=len(chunk)),
                _reply_parser(plain, template), retries=retries)
        except MaslabError as exc:
            failures.append(Failure.of("merge", f"normalise rows {start + 1}-{start + len(chunk)}", exc))
            report.batches_by_rules += 1
            return [_by_rules(r, template) for r in chunk]
        out = []
        for original, (row, restored) in zip(chunk, cleaned, strict=True):
            report.text_cells_restored += restored
            out.append({**row, REFERENCE: original[REFERENCE]})
        return out

    parts = await gather(batch(i) for i in range(0, len(rows), batch_size))
    return [r for part in parts for r in part], failures


def write_csv(rows: Sequence[Row], columns: Sequence[str], path: Path) -> None:
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(columns), extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({c: cell_text(row.get(c)) for c in columns})


def read_csv(path: Path, template: Template) -> list[Row]:
    """`meta_analysis.csv` back as rows (numeric columns as floats or None), for a resumed run."""
    with path.open(newline="", encoding="utf-8") as fh:
        return [{k: (float(v) if v.strip() else None) if k in template.numeric else v for k, v in row.items()}
                for row in csv.DictReader(fh)]

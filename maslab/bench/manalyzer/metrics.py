"""The Manalyzer benchmark's gold file and metrics (spec §3).

**Gold file** `answer.json`: ``{paper_idx: {"field", "doi", "content": [row dicts], "level_1": [..],
"level_2": [..], "level_3": [..]}}``, each level a list of number strings (`GoldPaper`). The levels
are undefined in the reference code; a survey reads them as values in the text / in a table or
image / calculated.

**Hit rate** (the reference's `2_score.py`): a paper's extractions are concatenated; a gold string
is a hit when it occurs in that text as an exact substring — lenient by design: "1.5" hits inside
"11.52", and presence, not the cell, is checked. `hit_counts` per paper; `hit_rates` sums hits and
totals per field × level over papers (micro-averaged, as the reference does).

**Cell-aligned hit rate** (ours): each gold row is matched to extracted rows with the same key
columns (case- and space-folded text, or equal numbers); a gold numeric cell is a hit when a
matched row has a number in that column equal within 1e-6 relative (`cell_aligned`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from maslab.errors import ConfigError
from maslab.tools.markdown_tables import cell_number

__all__ = ["LEVELS", "GoldPaper", "cell_aligned", "hit_counts", "hit_rates", "load_gold"]

LEVELS = ("level_1", "level_2", "level_3")
REL_TOL = 1e-6


class GoldPaper(BaseModel):
    field: str
    doi: str | None = None
    content: list[dict[str, Any]] = Field(default_factory=list)
    level_1: list[str] = Field(default_factory=list)
    level_2: list[str] = Field(default_factory=list)
    level_3: list[str] = Field(default_factory=list)

    def level(self, name: str) -> list[str]:
        return list(getattr(self, name))


def load_gold(path: str | Path) -> dict[str, GoldPaper]:
    """`answer.json` as {paper_idx: GoldPaper}; `ConfigError` naming the file and paper on bad input."""
    import json

    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise ConfigError(f"{path}: cannot read the gold file: {e}") from None
    except json.JSONDecodeError as e:
        raise ConfigError(f"{path}:{e.lineno}:{e.colno}: invalid JSON: {e.msg}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: the gold file must map paper ids to entries")
    out = {}
    for idx, entry in data.items():
        try:
            out[str(idx)] = GoldPaper.model_validate(entry)
        except ValidationError as e:
            problem = "; ".join(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
            raise ConfigError(f"{path}: paper {idx!r}: {problem}") from None
    return out


def hit_counts(extracted: str, gold: GoldPaper) -> dict[str, dict[str, int]]:
    """{level: {"hit", "total"}}: gold strings of each level found as exact substrings of `extracted`."""
    return {lv: {"hit": sum(1 for s in gold.level(lv) if s in extracted), "total": len(gold.level(lv))}
            for lv in LEVELS}


def hit_rates(papers: Iterable[tuple[str, Mapping[str, Mapping[str, int]]]]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per field × level: summed hits and totals over (field, `hit_counts`) pairs, and hit_rate (None if no gold)."""
    table: dict[str, dict[str, dict[str, Any]]] = {}
    for field, counts in papers:
        row = table.setdefault(field, {lv: {"hit": 0, "total": 0} for lv in LEVELS})
        for lv in LEVELS:
            row[lv]["hit"] += int(counts.get(lv, {}).get("hit", 0))
            row[lv]["total"] += int(counts.get(lv, {}).get("total", 0))
    for row in table.values():
        for cell in row.values():
            cell["hit_rate"] = cell["hit"] / cell["total"] if cell["total"] else None
    return table


def _fold(value: Any) -> Any:
    number = cell_number(value) if not isinstance(value, str) or any(ch.isdigit() for ch in value) else None
    if number is not None:
        return round(number, 9)
    return " ".join(str(value).split()).casefold()


def cell_aligned(rows: Sequence[Mapping[str, Any]], gold_rows: Sequence[Mapping[str, Any]], keys: Sequence[str],
                 rel_tol: float = REL_TOL) -> dict[str, int]:
    """{"hit", "total"} over the gold rows' numeric non-key cells (see the module docstring)."""
    folded = [{" ".join(str(k).split()).casefold(): v for k, v in r.items()} for r in rows]
    hit = total = 0
    for gold in gold_rows:
        key_values = {" ".join(k.split()).casefold(): _fold(gold.get(k)) for k in keys if k in gold}
        matches = [r for r in folded if all(k in r and _fold(r[k]) == v for k, v in key_values.items())]
        for column, value in gold.items():
            if column in keys or isinstance(value, bool) or not isinstance(value, int | float):
                continue
            total += 1
            name = " ".join(column.split()).casefold()
            for r in matches:
                got = cell_number(r.get(name))
                if got is not None and math.isclose(got, float(value), rel_tol=rel_tol, abs_tol=1e-12):
                    hit += 1
                    break
    return {"hit": hit, "total": total}

"""Result tables of the T1 tools: rows as dicts, the query that produced them, a text rendering.

The paper's tools return dataframes; ours return a `Table`, a `list` of row dicts that also
remembers its domain and its *provenance* (the chain of tool steps that produced it, e.g.
``search_flights(...) | filter_flights(budget=500)``). The provenance is what the cache summary
prints for an entry, so it is rendered canonically by `render_query`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any, SupportsIndex, overload

from pydantic import BaseModel

from maslab.tools.travel.schema import ROW_MODELS

__all__ = ["DISPLAY_COLUMNS", "Table", "format_value", "render_query", "render_step"]

# columns shown by the text rendering (all columns stay in the rows)
DISPLAY_COLUMNS: dict[str, list[str]] = {
    "flights": ["airline", "flight_number", "origin", "destination", "departure_date", "departure_time",
                "arrival_date", "arrival_time", "num_layovers", "seat_class", "price"],
    "hotels": ["name", "neighborhood", "stars", "rating", "price_per_night", "max_occupancy"],
    "restaurants": ["name", "neighborhood", "cuisine", "rating", "price_per_person"],
    "attractions": ["name", "neighborhood", "type"],
}
MAX_SHOWN = 10


def format_value(value: Any) -> str:
    """Canonical one-line text of a parameter value: lists as sorted sets, 500.0 as 500."""
    if isinstance(value, bool) or value is None:
        return repr(value)
    if isinstance(value, float):
        if math.isfinite(value) and value.is_integer():
            return str(int(value))
        return repr(value)
    if isinstance(value, int | str):
        return repr(value)
    if isinstance(value, list | tuple | set | frozenset):
        return "[" + ", ".join(sorted(format_value(v) for v in value)) + "]"
    if isinstance(value, Mapping):
        return "{" + ", ".join(f"{format_value(k)}: {format_value(v)}" for k, v in sorted(
            value.items(), key=lambda kv: format_value(kv[0]))) + "}"
    return repr(value)


def render_step(step: Mapping[str, Any]) -> str:
    params = ", ".join(f"{k}={format_value(v)}" for k, v in step.get("params", {}).items())
    return f"{step['tool']}({params})"


def render_query(query: Iterable[Mapping[str, Any]]) -> str:
    """A provenance chain as text: ``step | step | …``; ``<derived>`` when unknown."""
    steps = [render_step(s) for s in query]
    return " | ".join(steps) if steps else "<derived>"


class Table(list):
    """A list of row dicts with a domain (flights/hotels/restaurants/attractions) and a provenance."""

    def __init__(self, rows: Iterable[dict[str, Any]] = (), *, domain: str,
                 query: Iterable[Mapping[str, Any]] = ()):
        super().__init__(rows)
        if domain not in ROW_MODELS:
            raise ValueError(f"unknown domain {domain!r}")
        self.domain = domain
        self.query: tuple[dict[str, Any], ...] = tuple(
            {"tool": s["tool"], "params": dict(s.get("params", {}))} for s in query)

    def then(self, rows: Iterable[dict[str, Any]], tool: str, params: Mapping[str, Any],
             domain: str | None = None) -> Table:
        """A new table produced from this one by one more step."""
        return Table(rows, domain=domain or self.domain, query=(*self.query, {"tool": tool, "params": dict(params)}))

    @overload
    def __getitem__(self, i: SupportsIndex) -> dict[str, Any]: ...
    @overload
    def __getitem__(self, i: slice) -> Table: ...
    def __getitem__(self, i: SupportsIndex | slice) -> Any:
        if isinstance(i, slice):
            params = {k: v for k, v in (("start", i.start), ("stop", i.stop), ("step", i.step)) if v is not None}
            return self.then(list.__getitem__(self, i), "slice", params)
        return list.__getitem__(self, i)

    def column(self, name: str) -> list[Any]:
        return [r.get(name) for r in self]

    def models(self) -> list[BaseModel]:
        """The rows as pydantic models of the domain (extra columns such as distances dropped)."""
        model = ROW_MODELS[self.domain]
        fields = set(model.model_fields)
        return [model.model_validate({k: v for k, v in r.items() if k in fields}) for r in self]

    @property
    def query_text(self) -> str:
        return render_query(self.query)

    def to_json(self) -> dict[str, Any]:
        return {"domain": self.domain, "query": [dict(s) for s in self.query], "rows": [dict(r) for r in self]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Table:
        return cls([dict(r) for r in data["rows"]], domain=data["domain"], query=data.get("query", ()))

    def to_text(self, max_rows: int = MAX_SHOWN) -> str:
        n = len(self)
        head = f"{self.domain}: {n} row{'' if n == 1 else 's'} from {self.query_text}"
        if not n:
            return head
        cols = [c for c in DISPLAY_COLUMNS[self.domain] if c in self[0]]
        cols += [c for c in ("distance_miles", "nearest_to") if c in self[0] and c not in cols]
        cells = [[_cell(r.get(c)) for c in cols] for r in list.__iter__(self)][:max_rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
        lines = [head, "  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True))]
        lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)) for row in cells]
        if n > max_rows:
            lines.append(f"... ({n - max_rows} more rows)")
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return f"<Table {self.domain}: {len(self)} rows from {self.query_text}>"

    def __copy__(self) -> Table:
        return Table(self, domain=self.domain, query=self.query)

    def __reduce__(self) -> Any:
        return (_rebuild_table, (self.to_json(),))


def _rebuild_table(data: dict[str, Any]) -> Table:
    return Table.from_json(data)


def _cell(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.2f}".rstrip("0").rstrip(".") if not v.is_integer() else str(int(v))
    return "" if v is None else str(v)

"""The fourteen T1 tools: validated arguments, KB look-ups and filters, results as `Table`s.

Names and categories are the paper's (arXiv 2505.16986, Table 1); the exact signatures are not
published, so these are ours (see the package docstring). Every call binds its arguments to a
pydantic model titled with the tool's name, in strict mode: a wrongly typed, unknown, missing or
out-of-range argument raises `pydantic.ValidationError`, whose message names the tool and the
argument (``1 validation error for search_flights / departure_date / Input should be …``).
Argument checks that need the data (a `sort_results` column, check-out after check-in, a value
that cannot be cached) raise the same error type. The cache tools raise `CacheKeyError`.

`TravelTools(kb, cache)` binds the tools to one knowledge base and one dialogue cache;
`TravelTools.namespace()` is the dict of plain functions a plan is run with.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    create_model,
)

from maslab.tools.travel.cache import ToolCache, encode_value
from maslab.tools.travel.kb import KnowledgeBase, haversine_miles, load_kb
from maslab.tools.travel.schema import (
    Amenity,
    AttractionType,
    DietaryFlag,
    FlightExtra,
    SeatClass,
    columns,
)
from maslab.tools.travel.table import Table

__all__ = [
    "NO_PLANNING",
    "TOOL_CATEGORIES",
    "TOOL_NAMES",
    "TOOL_SPECS",
    "ToolSpec",
    "TravelTools",
    "argument_error",
]

NO_PLANNING = 'print("No planning needed")'

# -- argument types ---------------------------------------------------------------------------


def _check_date(v: str) -> str:
    date.fromisoformat(v)  # ValueError for 2025-02-30 and the like
    return v


IsoDate = Annotated[str, StringConstraints(pattern=r"^\d{4}-\d{2}-\d{2}$"), AfterValidator(_check_date)]
ClockTime = Annotated[str, StringConstraints(pattern=r"^([01]\d|2[0-3]):[0-5]\d$")]
NonEmpty = Annotated[str, StringConstraints(min_length=1)]
_ID_COLUMN = {"flights": "flight_id", "hotels": "hotel_id", "restaurants": "restaurant_id",
              "attractions": "attraction_id"}


def _table_arg(*domains: str) -> Any:
    """An argument that must be a results table of one of `domains` (a list of row dicts is accepted)."""

    def check(v: Any) -> Table:
        if isinstance(v, Table):
            if v.domain not in domains:
                raise ValueError(f"expected {' or '.join(domains)} results, got {v.domain} results")
            return v
        if isinstance(v, list) and all(isinstance(r, dict) for r in v):
            if not v:
                return Table([], domain=domains[0])
            for d in domains:
                if _ID_COLUMN[d] in v[0]:
                    return Table(v, domain=d)
            raise ValueError(f"the rows are not {' or '.join(domains)} results")
        raise ValueError("expected a results table (the value returned by a search/filter/sort tool or by "
                         f"get_results_from_cache), got {type(v).__name__}")

    return Annotated[Any, AfterValidator(check)]


def _f(annotation: Any, description: str, **kw: Any) -> tuple[Any, Any]:
    return (annotation, Field(None, description=description, **kw))


_FLIGHT_FILTERS: dict[str, tuple[Any, Any]] = {
    "airline": _f(str | list[str] | None, "airline name, or a list of acceptable airlines"),
    "seat_class": _f(SeatClass | list[SeatClass] | None, "economy, business or first (or a list)"),
    "budget": _f(float | None, "maximum ticket price in USD", gt=0),
    "max_layovers": _f(int | None, "maximum number of layovers (0 = nonstop)", ge=0, le=2),
    "earliest_departure_time": _f(ClockTime | None, "depart at or after HH:MM"),
    "latest_departure_time": _f(ClockTime | None, "depart at or before HH:MM"),
    "earliest_arrival_time": _f(ClockTime | None, "arrive at or after HH:MM (clock time)"),
    "latest_arrival_time": _f(ClockTime | None, "arrive at or before HH:MM (clock time)"),
    "max_duration_hours": _f(float | None, "maximum total travel time including layovers", gt=0),
    "amenities": _f(list[FlightExtra] | None, "flight features that must all be present"),
}
_HOTEL_FILTERS: dict[str, tuple[Any, Any]] = {
    "name": _f(str | list[str] | None, "hotel name (exact), or a list of names"),
    "neighborhood": _f(str | list[str] | None, "neighbourhood name, or a list"),
    "stars": _f(Annotated[int, Field(ge=1, le=5)] | list[Annotated[int, Field(ge=1, le=5)]] | None,
                "exact star level(s)"),
    "min_stars": _f(int | None, "at least this many stars", ge=1, le=5),
    "min_rating": _f(float | None, "guest rating at least this (1.0-5.0)", ge=1, le=5),
    "budget": _f(float | None, "maximum price per night in USD", gt=0),
    "num_guests": _f(int | None, "room must sleep this many guests", ge=1),
    "amenities": _f(list[Amenity] | None, "amenities that must all be present"),
}
_RESTAURANT_FILTERS: dict[str, tuple[Any, Any]] = {
    "name": _f(str | list[str] | None, "restaurant name (exact), or a list of names"),
    "neighborhood": _f(str | list[str] | None, "neighbourhood name, or a list"),
    "cuisine": _f(str | list[str] | None, "cuisine, or a list of acceptable cuisines"),
    "min_rating": _f(float | None, "rating at least this (1.0-5.0)", ge=1, le=5),
    "budget": _f(float | None, "maximum price per person in USD", gt=0),
    "dietary_restrictions": _f(list[DietaryFlag] | None, "dietary options that must all be offered"),
}
_ATTRACTION_FILTERS: dict[str, tuple[Any, Any]] = {
    "name": _f(str | list[str] | None, "attraction name (exact), or a list of names"),
    "neighborhood": _f(str | list[str] | None, "neighbourhood name, or a list"),
    "attraction_type": _f(AttractionType | list[AttractionType] | None, "attraction type, or a list of types"),
}


def _model(tool: str, **fields: Any) -> type[BaseModel]:
    config = ConfigDict(extra="forbid", strict=True, title=tool, arbitrary_types_allowed=True)
    return create_model(tool, __config__=config, **fields)


def _req(annotation: Any, description: str) -> tuple[Any, Any]:
    return (annotation, Field(..., description=description))


_ARGS: dict[str, type[BaseModel]] = {
    "search_flights": _model(
        "search_flights", origin=_req(NonEmpty, "origin city (or its airport code)"),
        destination=_req(NonEmpty, "destination city (or its airport code)"),
        departure_date=_req(IsoDate, "YYYY-MM-DD"), **_FLIGHT_FILTERS),
    "filter_flights": _model("filter_flights", prior_results=_req(_table_arg("flights"), "flight results"),
                             **_FLIGHT_FILTERS),
    "search_hotels": _model(
        "search_hotels", city=_req(NonEmpty, "city name"), checkin_date=_req(IsoDate, "YYYY-MM-DD"),
        checkout_date=_req(IsoDate, "YYYY-MM-DD, after checkin_date"), **_HOTEL_FILTERS),
    "filter_hotels": _model("filter_hotels", prior_results=_req(_table_arg("hotels"), "hotel results"),
                            **_HOTEL_FILTERS),
    "search_restaurants": _model("search_restaurants", city=_req(NonEmpty, "city name"), **_RESTAURANT_FILTERS),
    "filter_restaurants": _model("filter_restaurants",
                                 prior_results=_req(_table_arg("restaurants"), "restaurant results"),
                                 **_RESTAURANT_FILTERS),
    "search_attractions": _model("search_attractions", city=_req(NonEmpty, "city name"), **_ATTRACTION_FILTERS),
    "filter_attractions": _model("filter_attractions",
                                 prior_results=_req(_table_arg("attractions"), "attraction results"),
                                 **_ATTRACTION_FILTERS),
    "search_nearest": _model(
        "search_nearest",
        prior_results=_req(_table_arg("hotels", "restaurants", "attractions"),
                           "the entities to search around (hotels, restaurants or attractions)"),
        target=_req(Literal["hotels", "restaurants", "attractions"], "what to look for"),
        limit=(int, Field(5, ge=1, le=50, description="how many results"))),
    "sort_results": _model(
        "sort_results",
        prior_results=_req(_table_arg("flights", "hotels", "restaurants", "attractions"), "any results table"),
        by=_req(NonEmpty, "column to sort by"), ascending=(bool, Field(True, description="sort order"))),
    "adjust_date": _model("adjust_date", date=_req(IsoDate, "YYYY-MM-DD"), days=_req(int, "days to add (may be negative)")),
    "save_to_cache": _model("save_to_cache", key=_req(NonEmpty, "a key not yet in the cache"),
                            value=_req(Any, "a results table (or JSON data) to keep for later turns")),
    "get_results_from_cache": _model("get_results_from_cache", key=_req(NonEmpty, "an existing cache key")),
    "seek_information": _model("seek_information",
                               message=_req(NonEmpty, "question naming only the missing mandatory information")),
}


@dataclass(frozen=True)
class ToolSpec:
    """One tool: its name, category, argument model, positional parameters and description."""

    name: str
    category: str
    args_model: type[BaseModel]
    positional: tuple[str, ...]
    description: str
    returns: str

    def bind(self, args: Sequence[Any], kwargs: dict[str, Any]) -> BaseModel:
        """Validate a call's arguments; `ValidationError` (titled with the tool name) if they are wrong."""
        if len(args) > len(self.positional):
            raise argument_error(self.name, len(self.positional), args[len(self.positional)],
                                 f"takes at most {len(self.positional)} positional argument(s)",
                                 kind="unexpected_positional_argument")
        data = dict(zip(self.positional, args, strict=False))
        for k, v in kwargs.items():
            if k in data:
                raise argument_error(self.name, k, v, "given both positionally and by keyword",
                                     kind="multiple_argument_values")
            data[k] = v
        return self.args_model.model_validate(data)

    def name_args(self, args: Sequence[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Arguments by parameter name, without validation (extra positionals as ``#i``)."""
        named = {(self.positional[i] if i < len(self.positional) else f"#{i}"): v for i, v in enumerate(args)}
        named.update(kwargs)
        return named

    @property
    def parameters(self) -> list[str]:
        return list(self.args_model.model_fields)

    def signature(self) -> inspect.Signature:
        params = []
        for n, f in self.args_model.model_fields.items():
            kind = (inspect.Parameter.POSITIONAL_OR_KEYWORD if n in self.positional
                    else inspect.Parameter.KEYWORD_ONLY)
            default = inspect.Parameter.empty if f.is_required() else f.default
            params.append(inspect.Parameter(n, kind, default=default, annotation=f.annotation))
        return inspect.Signature(params)


def argument_error(tool: str, arg: str | int, value: Any, message: str, *, kind: str = "value_error") -> ValidationError:
    """A `pydantic.ValidationError` for one argument of one tool (for checks outside the model)."""
    if kind == "value_error":
        err = {"type": "value_error", "loc": (arg,), "input": value, "ctx": {"error": ValueError(message)}}
    else:
        err = {"type": kind, "loc": (arg,), "input": value}
    return ValidationError.from_exception_data(tool, [err])  # type: ignore[list-item]


_DESCRIPTIONS: list[tuple[str, str, tuple[str, ...], str, str]] = [
    ("search_flights", "flights", ("origin", "destination", "departure_date"),
     "Flights from origin to destination departing on departure_date; optional filters narrow the search.",
     "flights table"),
    ("filter_flights", "flights", ("prior_results",), "Keep the flights of prior_results that match the filters.",
     "flights table"),
    ("search_hotels", "hotels", ("city", "checkin_date", "checkout_date"),
     "Hotels in city available from checkin_date to checkout_date; optional filters narrow the search.",
     "hotels table"),
    ("filter_hotels", "hotels", ("prior_results",), "Keep the hotels of prior_results that match the filters.",
     "hotels table"),
    ("search_restaurants", "restaurants", ("city",), "Restaurants in city; optional filters narrow the search.",
     "restaurants table"),
    ("filter_restaurants", "restaurants", ("prior_results",),
     "Keep the restaurants of prior_results that match the filters.", "restaurants table"),
    ("search_attractions", "attractions", ("city",), "Attractions in city; optional filters narrow the search.",
     "attractions table"),
    ("filter_attractions", "attractions", ("prior_results",),
     "Keep the attractions of prior_results that match the filters.", "attractions table"),
    ("search_nearest", "multi-domain", ("prior_results", "target", "limit"),
     "The `limit` hotels/restaurants/attractions nearest (haversine, in miles) to the entities of prior_results, "
     "closest first, with columns distance_miles and nearest_to added.", "table of the target domain"),
    ("sort_results", "common", ("prior_results", "by", "ascending"), "prior_results sorted by one column.",
     "table of the same domain"),
    ("adjust_date", "common", ("date", "days"), "The date `days` days after `date` (e.g. check-out = check-in + nights).",
     "YYYY-MM-DD string"),
    ("save_to_cache", "common", ("key", "value"),
     "Save a result for later turns under a new key; a key that already exists is an error.", "None"),
    ("get_results_from_cache", "common", ("key",), "A result saved earlier in this dialogue; an unknown key is an error.",
     "the saved value"),
    ("seek_information", "common", ("message",),
     "Ask the user for missing mandatory information (name only what is missing).", "None"),
]

TOOL_SPECS: dict[str, ToolSpec] = {
    n: ToolSpec(n, c, _ARGS[n], pos, d, r) for n, c, pos, d, r in _DESCRIPTIONS
}
TOOL_NAMES: tuple[str, ...] = tuple(TOOL_SPECS)
TOOL_CATEGORIES: dict[str, list[str]] = {}
for _s in TOOL_SPECS.values():
    TOOL_CATEGORIES.setdefault(_s.category, []).append(_s.name)


# -- filtering --------------------------------------------------------------------------------


def _as_set(v: Any) -> set[Any] | None:
    if v is None:
        return None
    return set(v) if isinstance(v, list) else {v}


def _keep(rows: list[dict[str, Any]], col: str, allowed: set[Any] | None) -> list[dict[str, Any]]:
    return rows if allowed is None else [r for r in rows if r.get(col) in allowed]


def _cmp(rows: list[dict[str, Any]], col: str, bound: Any, op: str) -> list[dict[str, Any]]:
    if bound is None:
        return rows
    if op == "<=":
        return [r for r in rows if r.get(col) is not None and r[col] <= bound]
    return [r for r in rows if r.get(col) is not None and r[col] >= bound]


def _all_true(rows: list[dict[str, Any]], flags: list[str] | None) -> list[dict[str, Any]]:
    return rows if not flags else [r for r in rows if all(r.get(f) for f in flags)]


def _filter(domain: str, rows: list[dict[str, Any]], a: BaseModel) -> list[dict[str, Any]]:
    g = a.__dict__
    if domain == "flights":
        rows = _keep(rows, "airline", _as_set(g["airline"]))
        rows = _keep(rows, "seat_class", _as_set(g["seat_class"]))
        rows = _cmp(rows, "price", g["budget"], "<=")
        rows = _cmp(rows, "num_layovers", g["max_layovers"], "<=")
        rows = _cmp(rows, "departure_time", g["earliest_departure_time"], ">=")
        rows = _cmp(rows, "departure_time", g["latest_departure_time"], "<=")
        rows = _cmp(rows, "arrival_time", g["earliest_arrival_time"], ">=")
        rows = _cmp(rows, "arrival_time", g["latest_arrival_time"], "<=")
        rows = _cmp(rows, "total_travel_hours", g["max_duration_hours"], "<=")
        return _all_true(rows, g["amenities"])
    rows = _keep(rows, "name", _as_set(g["name"]))
    rows = _keep(rows, "neighborhood", _as_set(g["neighborhood"]))
    if domain == "hotels":
        rows = _keep(rows, "stars", _as_set(g["stars"]))
        rows = _cmp(rows, "stars", g["min_stars"], ">=")
        rows = _cmp(rows, "rating", g["min_rating"], ">=")
        rows = _cmp(rows, "price_per_night", g["budget"], "<=")
        rows = _cmp(rows, "max_occupancy", g["num_guests"], ">=")
        return _all_true(rows, g["amenities"])
    if domain == "restaurants":
        rows = _keep(rows, "cuisine", _as_set(g["cuisine"]))
        rows = _cmp(rows, "rating", g["min_rating"], ">=")
        rows = _cmp(rows, "price_per_person", g["budget"], "<=")
        return _all_true(rows, g["dietary_restrictions"])
    return _keep(rows, "type", _as_set(g["attraction_type"]))


def _params(a: BaseModel) -> dict[str, Any]:
    """The explicitly meaningful parameters of a validated call, for provenance (no tables, no Nones)."""
    return {k: v for k, v in a.__dict__.items() if v is not None and k != "prior_results"}


# -- the tools bound to a KB and a cache ------------------------------------------------------


class TravelTools:
    """The fourteen tools bound to one knowledge base and one dialogue cache."""

    def __init__(self, kb: KnowledgeBase | str | Path, cache: ToolCache | None = None):
        self.kb = kb if isinstance(kb, KnowledgeBase) else load_kb(kb)
        self.cache = cache if cache is not None else ToolCache()
        self.seek_messages: list[str] = []

    def call(self, tool: str, /, *args: Any, **kwargs: Any) -> Any:
        """Call the tool named `tool`; arguments are validated first (see the module docstring)."""
        spec = TOOL_SPECS[tool]
        a = spec.bind(args, kwargs)
        return getattr(self, f"_{tool}")(a)

    def function(self, name: str) -> Callable[..., Any]:
        """Tool `name` as a plain function (with its signature and docstring) bound to this KB/cache."""
        spec = TOOL_SPECS[name]

        def fn(*args: Any, **kwargs: Any) -> Any:
            return self.call(name, *args, **kwargs)

        fn.__name__ = fn.__qualname__ = name
        fn.__doc__ = f"{spec.description}\n\nReturns: {spec.returns}."
        fn.__signature__ = spec.signature()  # type: ignore[attr-defined]
        return fn

    def namespace(self) -> dict[str, Callable[..., Any]]:
        """All tools as plain functions, keyed by name (what a plan sees)."""
        return {n: self.function(n) for n in TOOL_NAMES}

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name in TOOL_SPECS:
            return self.function(name)
        raise AttributeError(name)

    # -- flights -------------------------------------------------------------------------------
    def _search_flights(self, a: Any) -> Table:
        rows = _filter("flights", self.kb.flights(a.origin, a.destination, a.departure_date), a)
        return Table(rows, domain="flights", query=[{"tool": "search_flights", "params": _params(a)}])

    def _filter_flights(self, a: Any) -> Table:
        return a.prior_results.then(_filter("flights", list(a.prior_results), a), "filter_flights", _params(a))

    # -- hotels --------------------------------------------------------------------------------
    def _search_hotels(self, a: Any) -> Table:
        if a.checkout_date <= a.checkin_date:
            raise argument_error("search_hotels", "checkout_date", a.checkout_date,
                                 f"checkout_date must be after checkin_date ({a.checkin_date})")
        rows = [r for r in self.kb.hotels(a.city)
                if r["start_date_available"] <= a.checkin_date and a.checkout_date <= r["end_date_available"]]
        return Table(_filter("hotels", rows, a), domain="hotels",
                     query=[{"tool": "search_hotels", "params": _params(a)}])

    def _filter_hotels(self, a: Any) -> Table:
        return a.prior_results.then(_filter("hotels", list(a.prior_results), a), "filter_hotels", _params(a))

    # -- restaurants / attractions -------------------------------------------------------------
    def _search_restaurants(self, a: Any) -> Table:
        return Table(_filter("restaurants", self.kb.restaurants(a.city), a), domain="restaurants",
                     query=[{"tool": "search_restaurants", "params": _params(a)}])

    def _filter_restaurants(self, a: Any) -> Table:
        return a.prior_results.then(_filter("restaurants", list(a.prior_results), a), "filter_restaurants",
                                    _params(a))

    def _search_attractions(self, a: Any) -> Table:
        return Table(_filter("attractions", self.kb.attractions(a.city), a), domain="attractions",
                     query=[{"tool": "search_attractions", "params": _params(a)}])

    def _filter_attractions(self, a: Any) -> Table:
        return a.prior_results.then(_filter("attractions", list(a.prior_results), a), "filter_attractions",
                                    _params(a))

    # -- multi-domain and common ---------------------------------------------------------------
    def _search_nearest(self, a: Any) -> Table:
        prior: Table = a.prior_results
        anchors = [r for r in prior if r.get("latitude") is not None and r.get("longitude") is not None]
        cities = sorted({r["city"] for r in anchors if r.get("city")})
        found: list[dict[str, Any]] = []
        for city in cities:
            for cand in self.kb.entities(a.target, city):
                if a.target == prior.domain and any(cand["name"] == r.get("name") for r in anchors):
                    continue  # an entity is not its own neighbour
                best = min(anchors, key=lambda r: (haversine_miles(
                    r["latitude"], r["longitude"], cand["latitude"], cand["longitude"]), r.get("name", "")))
                cand["distance_miles"] = round(haversine_miles(
                    best["latitude"], best["longitude"], cand["latitude"], cand["longitude"]), 3)
                cand["nearest_to"] = best.get("name")
                found.append(cand)
        found.sort(key=lambda r: (r["distance_miles"], r["name"]))
        return prior.then(found[: a.limit], "search_nearest", _params(a), domain=a.target)

    def _sort_results(self, a: Any) -> Table:
        prior: Table = a.prior_results
        known = set(columns(prior.domain)) | (set(prior[0]) if prior else set())
        if a.by not in known:
            raise argument_error("sort_results", "by", a.by,
                                 f"{prior.domain} results have no column {a.by!r}")
        present = [r for r in prior if r.get(a.by) is not None]
        missing = [r for r in prior if r.get(a.by) is None]
        present.sort(key=lambda r: r[a.by], reverse=not a.ascending)
        return prior.then(present + missing, "sort_results", _params(a))

    def _adjust_date(self, a: Any) -> str:
        return (date.fromisoformat(a.date) + timedelta(days=a.days)).isoformat()

    def _save_to_cache(self, a: Any) -> None:
        try:
            encode_value(a.value)
        except TypeError as e:
            raise argument_error("save_to_cache", "value", type(a.value).__name__, str(e)) from None
        self.cache.save_to_cache(a.key, a.value)

    def _get_results_from_cache(self, a: Any) -> Any:
        return self.cache.get_results_from_cache(a.key)

    def _seek_information(self, a: Any) -> None:
        self.seek_messages.append(a.message)

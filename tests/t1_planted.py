"""The hand-built two-turn flights example shared by the T1 metric and agent tests: (1) search flights
and save flights_1; (2) reuse flights_1, filter by a budget, save flights_2."""

from __future__ import annotations

import math
from typing import Any

from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.tools import TravelTools


def two_flight_turns(kb: Any) -> dict[str, Any]:
    """Route, day, budget, the gold code of both turns and the cache after each."""
    o, d, day = next(r for r in kb.routes(kb.splits()["test"]) if len(kb.flights(*r)) >= 3)
    t = TravelTools(kb, ToolCache())
    flights = t.search_flights(o, d, day)
    t.save_to_cache("flights_1", flights)
    cache1 = t.cache.copy()
    budget = int(math.ceil(sorted(flights.column("price"))[1] / 50) * 50)
    t.save_to_cache("flights_2", t.filter_flights(prior_results=flights, budget=budget))
    cache2 = t.cache.copy()
    gold1 = (f"flights = search_flights(origin={o!r}, destination={d!r}, departure_date={day!r})\n"
             "save_to_cache('flights_1', flights)")
    gold2 = ("cached = get_results_from_cache(key='flights_1')\n"
             f"cheap = filter_flights(prior_results=cached, budget={budget})\n"
             "save_to_cache('flights_2', cheap)")
    return {"o": o, "d": d, "day": day, "budget": budget, "cache1": cache1, "cache2": cache2,
            "gold1": gold1, "gold2": gold2}

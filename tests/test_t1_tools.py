"""T1 tools, cache and plan execution: semantics, validation errors, cache rules, sandboxed runs."""

from __future__ import annotations

import json

import pydantic
import pytest

from maslab.bench.t1.metrics import aggregate, score_turn
from maslab.tools.travel.cache import CacheKeyError, ToolCache
from maslab.tools.travel.dialogues import DialogueTurn
from maslab.tools.travel.execute import execute_plan, plan_graph
from maslab.tools.travel.kb import build_kb, haversine_miles, load_kb
from maslab.tools.travel.table import Table
from maslab.tools.travel.tools import TOOL_CATEGORIES, TOOL_NAMES, TravelTools


@pytest.fixture(scope="module")
def kb(tmp_path_factory):
    return load_kb(build_kb(tmp_path_factory.mktemp("kb") / "kb.sqlite", seed=0, scale="test"))


@pytest.fixture()
def tools(kb):
    return TravelTools(kb, ToolCache())


@pytest.fixture(scope="module")
def route(kb):
    """A (origin, destination, date) of the test split with at least three flights."""
    for r in kb.routes(kb.splits()["test"]):
        if len(kb.flights(*r)) >= 3:
            return r
    pytest.skip("no busy route")


def test_fourteen_tools_in_the_paper_categories():
    assert len(TOOL_NAMES) == 14
    assert set(TOOL_CATEGORIES) == {"flights", "hotels", "restaurants", "attractions", "multi-domain", "common"}
    assert TOOL_CATEGORIES["multi-domain"] == ["search_nearest"]
    assert set(TOOL_CATEGORIES["common"]) == {"save_to_cache", "get_results_from_cache", "sort_results",
                                              "seek_information", "adjust_date"}


def test_search_and_filter_flights(tools, route):
    o, d, day = route
    flights = tools.search_flights(o, d, day)
    assert isinstance(flights, Table) and flights.domain == "flights" and len(flights) >= 3
    assert all((r["origin"], r["destination"], r["departure_date"]) == route for r in flights)
    budget = sorted(r["price"] for r in flights)[1]
    cheap = tools.filter_flights(prior_results=flights, budget=budget)
    assert 2 <= len(cheap) < len(flights) + 1 and all(r["price"] <= budget for r in cheap)
    # a search with the filter gives the same rows as search-then-filter
    assert tools.search_flights(origin=o, destination=d, departure_date=day, budget=budget) == cheap
    # airport codes work for flights; entity strings are case-sensitive
    code = tools.kb.city(o).airport
    assert tools.search_flights(code, d, day) == flights
    assert tools.search_flights(o.lower(), d, day) == []


def test_search_hotels_respects_availability_and_date_order(tools, kb):
    city = kb.splits()["test"][0]
    hotels = tools.search_hotels(city, "2025-06-10", "2025-06-14")
    assert hotels and all(r["start_date_available"] <= "2025-06-10" and r["end_date_available"] >= "2025-06-14"
                          for r in hotels)
    assert len(hotels) <= len(kb.hotels(city))
    with pytest.raises(pydantic.ValidationError, match="checkout_date"):
        tools.search_hotels(city, "2025-06-14", "2025-06-10")
    good = tools.filter_hotels(prior_results=hotels, min_stars=3, amenities=["free_wifi"])
    assert all(r["stars"] >= 3 and r["free_wifi"] for r in good)


@pytest.mark.parametrize(("call", "arg"), [
    (lambda t, r: t.search_flights(r[0], r[1], 20250601), "departure_date"),
    (lambda t, r: t.search_flights(r[0], r[1], "2025-02-30"), "departure_date"),
    (lambda t, r: t.search_flights(*r, budget="cheap"), "budget"),
    (lambda t, r: t.search_flights(*r, seat_class="premium"), "seat_class"),
    (lambda t, r: t.search_flights(*r, cabin="economy"), "cabin"),
    (lambda t, r: t.filter_flights(prior_results="flights_1", budget=300), "prior_results"),
    (lambda t, r: t.filter_hotels(prior_results=t.search_flights(*r)), "prior_results"),
    (lambda t, r: t.search_nearest(t.search_flights(*r), "hotels"), "prior_results"),
    (lambda t, r: t.sort_results(t.search_flights(*r), by="cost"), "by"),
    (lambda t, r: t.adjust_date("2025-06-01", "3"), "days"),
    (lambda t, r: t.save_to_cache("k", {1, 2}), "value"),
])
def test_a_bad_argument_is_a_validation_error_naming_tool_and_argument(tools, route, call, arg):
    with pytest.raises(pydantic.ValidationError) as info:
        call(tools, route)
    text = str(info.value)
    assert arg in text
    assert info.value.title in TOOL_NAMES and info.value.title in text


def test_list_parameters_match_in_any_order(tools, kb):
    city = kb.splits()["test"][1]
    a = tools.search_restaurants(city, dietary_restrictions=["vegetarian", "gluten_free"])
    b = tools.search_restaurants(city, dietary_restrictions=["gluten_free", "vegetarian"])
    assert a == b
    tools.save_to_cache("a", a)
    tools.save_to_cache("b", b)
    la, lb = tools.cache.summary_lines()
    assert la.split(": ", 1)[1] == lb.split(": ", 1)[1]


def test_search_nearest_sort_and_adjust_date(tools, kb):
    city = kb.splits()["test"][2]
    hotels = tools.search_hotels(city, "2025-06-10", "2025-06-12")
    anchor = tools.filter_hotels(prior_results=hotels, name=hotels[0]["name"])
    near = tools.search_nearest(prior_results=anchor, target="restaurants", limit=3)
    assert near.domain == "restaurants" and len(near) == min(3, len(kb.restaurants(city)))
    dists = [r["distance_miles"] for r in near]
    assert dists == sorted(dists)
    h = anchor[0]
    farther = [haversine_miles(h["latitude"], h["longitude"], r["latitude"], r["longitude"])
               for r in kb.restaurants(city) if r["name"] not in {x["name"] for x in near}]
    assert all(d >= dists[-1] - 1e-3 for d in farther)
    other_hotels = tools.search_nearest(prior_results=anchor, target="hotels", limit=50)
    assert h["name"] not in other_hotels.column("name")  # an entity is not its own neighbour
    by_price = tools.sort_results(hotels, by="price_per_night", ascending=False)
    assert by_price.column("price_per_night") == sorted(hotels.column("price_per_night"), reverse=True)
    assert tools.adjust_date("2025-06-28", 5) == "2025-07-03"
    assert tools.adjust_date(date="2025-06-03", days=-3) == "2025-05-31"


def test_cache_rejects_duplicate_and_unknown_keys(tools, route):
    flights = tools.search_flights(*route)
    tools.save_to_cache("flights_1", flights)
    with pytest.raises(CacheKeyError, match="already exists"):
        tools.save_to_cache("flights_1", flights)
    with pytest.raises(CacheKeyError, match="flights_2"):
        tools.get_results_from_cache("flights_2")
    got = tools.get_results_from_cache(key="flights_1")
    assert got == flights and got.query == flights.query
    got[0]["price"] = -1  # a read is a copy
    assert tools.get_results_from_cache("flights_1")[0]["price"] == flights[0]["price"]


def test_cache_summary_is_deterministic_and_json_roundtrips(kb, route):
    def build() -> ToolCache:
        t = TravelTools(kb, ToolCache())
        f = t.search_flights(*route, seat_class=["first", "economy"])
        t.save_to_cache("flights_1", f)
        t.save_to_cache("flights_2", t.filter_flights(prior_results=f, budget=float(int(f[0]["price"]) + 1)))
        t.save_to_cache("note", "window seat")
        return t.cache

    a, b = build(), build()
    assert a.summary().encode() == b.summary().encode()
    back = ToolCache.from_json(a.to_json())
    assert back.summary() == a.summary() and back == a
    assert json.loads(a.to_json()) == a.to_dict()
    lines = a.summary().splitlines()
    o, d, day = route
    assert lines[0] == (f"flights_1: search_flights(origin={o!r}, destination={d!r}, departure_date={day!r}, "
                        f"seat_class=['economy', 'first']) → {len(a.get('flights_1'))} "
                        f"row{'' if len(a.get('flights_1')) == 1 else 's'}")
    assert lines[1].startswith("flights_2: search_flights(") and "| filter_flights(budget=" in lines[1]
    assert lines[2] == "note: str = 'window seat'"
    assert ToolCache().summary() == ""


# -- execution in the sandbox -----------------------------------------------------------------


def test_wrong_argument_type_is_a_recorded_validation_failure_not_a_crash(kb, route):
    o, d, _ = route
    code = (f"flights = search_flights(origin={o!r}, destination={d!r}, departure_date=20250601)\n"
            "save_to_cache('flights_1', flights)\n")
    res = execute_plan(code, None, kb.path)
    assert not res.ok and res.error_category == "validation_error" and res.error_type == "ValidationError"
    assert "search_flights" in res.error and "departure_date" in res.error and "line 1" in res.error
    assert [c.name for c in res.calls] == ["search_flights"] and not res.calls[0].ok
    assert res.cache_summary == ""
    gold = DialogueTurn(role="user", text="", code=code.replace("20250601", "'2025-06-01'"), kind="plan",
                        cache_summary="flights_1: whatever")
    score = score_turn(code, gold, execution=res)
    assert score.exec_success is False and score.error_category == "validation_error"
    assert aggregate([score]).overall.errors == {"validation_error": 1}


def test_calls_record_arguments_and_data_flow(kb, route):
    o, d, day = route
    code = (f"flights = search_flights({o!r}, {d!r}, {day!r})\n"
            "save_to_cache('flights_1', flights)\n"
            "cheap = filter_flights(prior_results=flights, budget=100000)\n"
            "ranked = sort_results(cheap, 'price')\n"
            "save_to_cache('flights_2', ranked)\n"
            "seek_information('Which class would you like?')\n"
            "print(len(ranked))\n")
    res = execute_plan(code, None, kb.path)
    assert res.ok, res.error
    assert [c.name for c in res.calls] == ["search_flights", "save_to_cache", "filter_flights", "sort_results",
                                           "save_to_cache", "seek_information"]
    assert res.calls[0].args == {"origin": o, "destination": d, "departure_date": day}
    assert [c.inputs_from for c in res.calls] == [{}, {"value": 0}, {"prior_results": 0}, {"prior_results": 2},
                                                  {"value": 3}, {}]
    assert res.seek_message == "Which class would you like?"
    assert res.stdout.strip() == str(len(res.cache().get("flights_2")))
    assert res.cache().keys() == ["flights_1", "flights_2"]
    g = plan_graph(code)
    assert set(g.edges) == {(0, 1), (0, 2), (2, 3), (3, 4)}
    assert g.nodes[3]["name"] == "sort_results" and g.edges[2, 3]["args"] == ["prior_results"]


def test_sandbox_kills_an_infinite_loop(kb):
    res = execute_plan("x = 0\nwhile True:\n    x += 1\n", None, kb.path, timeout=3)
    assert not res.ok and res.timed_out and res.error_category == "other" and res.error_type == "Timeout"


def test_sandbox_blocks_deletion_with_os(kb, tmp_path):
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    escape = ("wrap = [c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]\n"
              f"wrap.__init__.__globals__['remove']({str(victim)!r})\n")  # gets os without importing it
    for code in (f"import os\nos.remove({str(victim)!r})\n",
                 f"__import__('os').remove({str(victim)!r})\n",
                 "import shutil\nshutil.rmtree('/work')\n",
                 escape):
        res = execute_plan(code, ToolCache(), kb.path)
        assert not res.ok and res.error_category == "other", code
    assert victim.read_text() == "keep me"


def test_sandbox_stops_a_4gib_allocation(kb):
    res = execute_plan("block = bytearray(4 * 1024 ** 3)\nprint(len(block))\n", None, kb.path, memory_mb=1024)
    assert not res.ok and res.error_category == "other" and "4294967296" not in res.stdout

"""T1 knowledge base: determinism per seed, disjoint city splits, flight arrival times, value ranges."""

from __future__ import annotations

import sqlite3
from datetime import datetime

import pytest

from maslab.tools.travel.kb import MPH, SCALES, SPLITS, build_kb, haversine_miles, load_kb
from maslab.tools.travel.schema import ATTRACTION_TYPES, DIETARY_FLAGS, DOMAINS, SEAT_CLASSES, columns


@pytest.fixture(scope="module")
def kb_path(tmp_path_factory):
    return build_kb(tmp_path_factory.mktemp("kb") / "kb.sqlite", seed=0, scale="test")


@pytest.fixture(scope="module")
def kb(kb_path):
    return load_kb(kb_path)


def test_attribute_counts_match_the_paper():
    counts = {d: len(columns(d)) for d in DOMAINS}
    assert counts == {"flights": 35, "hotels": 43, "restaurants": 21, "attractions": 7}
    assert sum(counts.values()) == 106


def test_paper_scale_has_the_paper_counts():
    p = SCALES["paper"]
    assert (p.n_airports, p.n_cities, p.n_flights, p.n_hotels, p.n_restaurants) == (128, 321, 480_410, 47_589, 17_975)
    assert (p.n_attractions, p.n_attraction_cities, p.split_counts, p.max_neighborhoods) == (728, 85, (13, 4, 37), 15)


def test_same_seed_same_kb_different_seed_different_kb(kb, tmp_path):
    again = load_kb(build_kb(tmp_path / "again.sqlite", seed=0, scale="test"))
    other = load_kb(build_kb(tmp_path / "other.sqlite", seed=1, scale="test"))
    assert again.fingerprint() == kb.fingerprint()
    assert other.fingerprint() != kb.fingerprint()
    assert (again.seed, other.seed) == (0, 1)


def test_counts_follow_the_scale(kb):
    sc = SCALES["test"]
    c = kb.counts()
    assert c["cities"] == sc.n_cities and c["airports"] == sc.n_airports
    assert c["flights"] == sc.n_flights and c["hotels"] == sc.n_hotels and c["restaurants"] == sc.n_restaurants
    assert 0 < c["attractions"] <= sc.n_attractions
    per_city = [len(kb.neighborhoods(x.name)) for x in kb.cities()]
    assert min(per_city) >= sc.min_neighborhoods and max(per_city) <= sc.max_neighborhoods <= 15


def test_city_splits_are_disjoint_and_complete(kb):
    splits = kb.splits()
    assert [len(splits[s]) for s in SPLITS] == list(SCALES["test"].split_counts)
    seen: set[str] = set()
    for s in SPLITS:
        assert not seen & set(splits[s]), "a city is in two splits"
        seen |= set(splits[s])
    for name in seen:  # every dialogue city can serve every domain
        city = kb.city(name)
        assert city is not None and city.airport and city.has_attractions
        assert kb.hotels(name) and kb.restaurants(name) and kb.attractions(name)


def test_flight_arrival_is_great_circle_at_450_mph_plus_layovers(kb_path, kb):
    airports = {a["code"]: a for a in kb.airports()}
    con = sqlite3.connect(kb_path)
    con.row_factory = sqlite3.Row
    rows = con.execute("SELECT * FROM flights").fetchall()
    assert len(rows) == SCALES["test"].n_flights
    for r in rows:
        o, d = airports[r["origin_airport"]], airports[r["destination_airport"]]
        miles = haversine_miles(o["latitude"], o["longitude"], d["latitude"], d["longitude"])
        layovers = [h for h in (r["layover_1_hours"], r["layover_2_hours"]) if h is not None]
        assert len(layovers) == r["num_layovers"] <= 2
        assert all(1.0 <= h <= 6.0 for h in layovers)
        dep = datetime.fromisoformat(f"{r['departure_date']}T{r['departure_time']}")
        arr = datetime.fromisoformat(f"{r['arrival_date']}T{r['arrival_time']}")
        expected_min = round(miles / MPH * 60) + sum(round(h * 60) for h in layovers)
        assert (arr - dep).total_seconds() / 60 == pytest.approx(expected_min, abs=1)
        assert r["distance_miles"] == pytest.approx(miles, abs=0.1)
        assert r["seat_class"] in SEAT_CLASSES and r["price"] > 0
        assert r["origin"] != r["destination"]


def test_entity_values_are_in_the_paper_ranges(kb_path):
    con = sqlite3.connect(kb_path)
    h = con.execute("SELECT MIN(stars), MAX(stars), MIN(rating), MAX(rating), MIN(price_per_night), "
                    "MAX(price_per_night), MIN(max_occupancy), MAX(max_occupancy), "
                    "SUM(start_date_available > end_date_available) FROM hotels").fetchone()
    assert 1 <= h[0] <= h[1] <= 5 and 1.0 <= h[2] <= h[3] <= 5.0
    assert 20 <= h[4] <= h[5] <= 2000 and 1 <= h[6] <= h[7] <= 7 and h[8] == 0
    types = {t for (t,) in con.execute("SELECT DISTINCT type FROM attractions")}
    assert types <= set(ATTRACTION_TYPES) and len(types) >= 5
    diet = con.execute(f"SELECT {', '.join(f'SUM({x})' for x in DIETARY_FLAGS)} FROM restaurants").fetchone()
    assert all(n > 0 for n in diet)  # every dietary flag occurs
    vegan_not_veg = con.execute("SELECT COUNT(*) FROM restaurants WHERE vegan = 1 AND vegetarian = 0").fetchone()[0]
    assert vegan_not_veg == 0


def test_kb_is_a_plain_sqlite_file_opened_read_only_and_cached(kb_path, kb):
    tables = {t for (t,) in sqlite3.connect(kb_path).execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"meta", "cities", "neighborhoods", "airports", *DOMAINS} <= tables
    assert load_kb(kb_path) is kb
    with pytest.raises(sqlite3.OperationalError):
        kb._con.execute("DELETE FROM hotels")
    # lookups hand out copies: mutating a row does not change the KB
    city = kb.splits()["test"][0]
    kb.hotels(city)[0]["name"] = "changed"
    assert kb.hotels(city)[0]["name"] != "changed"

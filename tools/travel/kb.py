"""Seeded generator, SQLite store and cached loader of the T1 synthetic travel knowledge base.

`build_kb(path, seed, scale)` writes one SQLite file (tables `meta`, `cities`, `neighborhoods`,
`airports`, `flights`, `hotels`, `restaurants`, `attractions`) that anyone can open with
`sqlite3`; `load_kb(path)` opens it read-only and caches the handle per file; `get_kb(seed, scale)`
builds the file on first use under the maslab cache directory and loads it.

Generation follows arXiv 2505.16986 §KB: airports sit in cities, every city has up to 15
neighbourhoods with coordinates, flights join random airports on random days with the arrival
time derived from the great-circle distance at 450 mph plus 0–2 layovers of 1–6 h, hotels and
restaurants carry the paper's attribute families, attractions have the nine types. The paper's
counts are the `paper` scale; `test` is a small, fast scale with the same structure. Dialogue
cities (those with an airport, hotels, restaurants and attractions) are split 13/4/37
(train/validation/test) at paper scale, with no city in two splits.
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import sqlite3
import tempfile
import threading
import types
import typing
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.request import pathname2url

from pydantic import BaseModel

from maslab.tools.travel.schema import (
    AMENITIES,
    ATTRACTION_TYPES,
    DIETARY_FLAGS,
    DOMAINS,
    FLIGHT_EXTRAS,
    ROW_MODELS,
    SEAT_CLASSES,
    bool_columns,
    columns,
)
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "KB_VERSION",
    "MPH",
    "SCALES",
    "SPLITS",
    "City",
    "KBScale",
    "KnowledgeBase",
    "build_kb",
    "default_kb_path",
    "get_kb",
    "haversine_miles",
    "load_kb",
]

KB_VERSION = "1"
MPH = 450.0  # cruising speed used for every flight's flying time (paper)
EARTH_RADIUS_MILES = 3958.8
SPLITS: tuple[str, ...] = ("train", "validation", "test")
Split = Literal["train", "validation", "test"]


class KBScale(BaseModel):
    """How big a generated knowledge base is."""

    n_cities: int
    n_airports: int  # cities with one airport each
    n_attraction_cities: int
    n_dialogue_cities: int  # airport cities with attractions that dialogues may use
    split_counts: tuple[int, int, int]  # dialogue cities per train/validation/test
    min_neighborhoods: int
    max_neighborhoods: int
    n_flights: int
    n_hotels: int
    n_restaurants: int
    n_attractions: int
    date_start: str
    n_days: int


SCALES: dict[str, KBScale] = {
    "test": KBScale(
        n_cities=24, n_airports=16, n_attraction_cities=16, n_dialogue_cities=16, split_counts=(4, 2, 10),
        min_neighborhoods=3, max_neighborhoods=5, n_flights=4000, n_hotels=288, n_restaurants=240,
        n_attractions=112, date_start="2025-06-01", n_days=45,
    ),
    "paper": KBScale(
        n_cities=321, n_airports=128, n_attraction_cities=85, n_dialogue_cities=54, split_counts=(13, 4, 37),
        min_neighborhoods=4, max_neighborhoods=15, n_flights=480_410, n_hotels=47_589, n_restaurants=17_975,
        n_attractions=728, date_start="2025-06-01", n_days=180,
    ),
}


class City(BaseModel):
    """A city of the knowledge base."""

    name: str
    state: str
    latitude: float
    longitude: float
    airport: str | None = None  # IATA-style code of its airport
    split: str | None = None  # train/validation/test for dialogue cities, else None
    has_attractions: bool = False


def haversine_miles(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in statute miles."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_MILES * math.asin(min(1.0, math.sqrt(a)))


# ---------------------------------------------------------------------------------------------
# vocabularies

# real US cities with an airport: (name, state, latitude, longitude, code)
_REAL_CITIES: list[tuple[str, str, float, float, str]] = [
    ("New York", "NY", 40.71, -74.01, "JFK"), ("Los Angeles", "CA", 34.05, -118.24, "LAX"),
    ("Chicago", "IL", 41.88, -87.63, "ORD"), ("Houston", "TX", 29.76, -95.37, "IAH"),
    ("Phoenix", "AZ", 33.45, -112.07, "PHX"), ("Philadelphia", "PA", 39.95, -75.17, "PHL"),
    ("San Antonio", "TX", 29.42, -98.49, "SAT"), ("San Diego", "CA", 32.72, -117.16, "SAN"),
    ("Dallas", "TX", 32.78, -96.80, "DFW"), ("San Jose", "CA", 37.34, -121.89, "SJC"),
    ("Austin", "TX", 30.27, -97.74, "AUS"), ("Jacksonville", "FL", 30.33, -81.66, "JAX"),
    ("Columbus", "OH", 39.96, -83.00, "CMH"), ("Charlotte", "NC", 35.23, -80.84, "CLT"),
    ("San Francisco", "CA", 37.77, -122.42, "SFO"), ("Indianapolis", "IN", 39.77, -86.16, "IND"),
    ("Seattle", "WA", 47.61, -122.33, "SEA"), ("Denver", "CO", 39.74, -104.99, "DEN"),
    ("Washington", "DC", 38.91, -77.04, "DCA"), ("Boston", "MA", 42.36, -71.06, "BOS"),
    ("Nashville", "TN", 36.16, -86.78, "BNA"), ("Detroit", "MI", 42.33, -83.05, "DTW"),
    ("Portland", "OR", 45.52, -122.68, "PDX"), ("Las Vegas", "NV", 36.17, -115.14, "LAS"),
    ("Memphis", "TN", 35.15, -90.05, "MEM"), ("Louisville", "KY", 38.25, -85.76, "SDF"),
    ("Baltimore", "MD", 39.29, -76.61, "BWI"), ("Milwaukee", "WI", 43.04, -87.91, "MKE"),
    ("Albuquerque", "NM", 35.08, -106.65, "ABQ"), ("Tucson", "AZ", 32.22, -110.97, "TUS"),
    ("Fresno", "CA", 36.74, -119.79, "FAT"), ("Sacramento", "CA", 38.58, -121.49, "SMF"),
    ("Kansas City", "MO", 39.10, -94.58, "MCI"), ("Atlanta", "GA", 33.75, -84.39, "ATL"),
    ("Miami", "FL", 25.76, -80.19, "MIA"), ("Raleigh", "NC", 35.78, -78.64, "RDU"),
    ("Omaha", "NE", 41.26, -95.93, "OMA"), ("Minneapolis", "MN", 44.98, -93.27, "MSP"),
    ("Tulsa", "OK", 36.15, -95.99, "TUL"), ("Cleveland", "OH", 41.50, -81.69, "CLE"),
    ("New Orleans", "LA", 29.95, -90.07, "MSY"), ("Tampa", "FL", 27.95, -82.46, "TPA"),
    ("Orlando", "FL", 28.54, -81.38, "MCO"), ("Pittsburgh", "PA", 40.44, -79.99, "PIT"),
    ("Cincinnati", "OH", 39.10, -84.51, "CVG"), ("St. Louis", "MO", 38.63, -90.20, "STL"),
    ("Salt Lake City", "UT", 40.76, -111.89, "SLC"), ("Honolulu", "HI", 21.31, -157.86, "HNL"),
    ("Anchorage", "AK", 61.22, -149.90, "ANC"), ("Buffalo", "NY", 42.89, -78.88, "BUF"),
    ("Richmond", "VA", 37.54, -77.44, "RIC"), ("Boise", "ID", 43.62, -116.20, "BOI"),
    ("Spokane", "WA", 47.66, -117.43, "GEG"), ("Des Moines", "IA", 41.59, -93.62, "DSM"),
    ("Birmingham", "AL", 33.52, -86.81, "BHM"), ("Charleston", "SC", 32.78, -79.93, "CHS"),
    ("Savannah", "GA", 32.08, -81.09, "SAV"), ("Madison", "WI", 43.07, -89.40, "MSN"),
    ("Oklahoma City", "OK", 35.47, -97.52, "OKC"), ("El Paso", "TX", 31.76, -106.49, "ELP"),
    ("Hartford", "CT", 41.76, -72.69, "BDL"), ("Providence", "RI", 41.82, -71.41, "PVD"),
    ("Burlington", "VT", 44.48, -73.21, "BTV"), ("Little Rock", "AR", 34.75, -92.29, "LIT"),
    ("Jackson", "MS", 32.30, -90.18, "JAN"), ("Santa Fe", "NM", 35.69, -105.94, "SAF"),
    ("Reno", "NV", 39.53, -119.81, "RNO"), ("Asheville", "NC", 35.60, -82.55, "AVL"),
    ("Key West", "FL", 24.56, -81.78, "EYW"), ("Palm Springs", "CA", 33.83, -116.55, "PSP"),
]
_STATES = ["AL", "AZ", "AR", "CA", "CO", "CT", "FL", "GA", "ID", "IL", "IN", "IA", "KS", "KY", "LA", "ME",
           "MD", "MA", "MI", "MN", "MS", "MO", "MT", "NE", "NV", "NH", "NJ", "NM", "NY", "NC", "ND", "OH",
           "OK", "OR", "PA", "SC", "SD", "TN", "TX", "UT", "VT", "VA", "WA", "WV", "WI", "WY"]
_NAME_STEMS = ["Cedar", "Maple", "Willow", "Oak", "Pine", "Silver", "Golden", "Clear", "Fair", "Green",
               "Red", "Stone", "Spring", "River", "Lake", "Bay", "Harbor", "Eagle", "Fox", "Mill", "Summit",
               "Crystal", "Sun", "Bright", "Rock", "Iron", "Elm", "Birch", "Aspen", "Hazel", "Copper",
               "Pleasant", "Highland", "Meadow", "Prairie", "Falcon"]
_NAME_ENDS = ["ville", "field", "wood", "brook", "ton", "port", "ford", "dale", "view", "ridge", "haven",
              "burg", " Creek", " Falls", " Springs", " Heights", " City", " Junction"]
_NEIGHBORHOODS = ["Downtown", "Midtown", "Old Town", "Riverside", "Harbor District", "University Heights",
                  "Arts District", "Warehouse District", "Historic Quarter", "Lakeside", "Uptown", "West End",
                  "East Village", "Market Square", "Hillcrest", "Garden District", "Financial District",
                  "Northside", "Southside", "Waterfront", "Capitol Hill", "Oak Park", "Mill Creek",
                  "Little Italy", "Design District"]
_AIRLINES = [("SkyWays", "SW"), ("Blue Horizon Air", "BH"), ("Northern Star Airlines", "NS"),
             ("Pacific Crest", "PC"), ("Liberty Air", "LA"), ("Summit Airways", "SA"), ("Coastal Jet", "CJ"),
             ("Eagle Express", "EE"), ("Prairie Air", "PA"), ("Atlas Airlines", "AT")]
_AIRCRAFT = ["Boeing 737-800", "Airbus A320", "Airbus A321", "Boeing 757-200", "Embraer E175",
             "Boeing 787-9", "Airbus A220-300", "Bombardier CRJ900"]
_HOTEL_BRANDS = ["Grand", "Royal", "Harbor", "Sunset", "Park", "Metro", "Heritage", "Riverside", "Summit",
                 "Cozy", "Parkview", "Lighthouse", "Skyline", "Crown", "Oasis", "Vista", "Magnolia",
                 "Cornerstone", "Evergreen", "Bluebird", "Liberty", "Regent", "Sterling", "Juniper"]
_HOTEL_KINDS = ["Hotel", "Inn", "Suites", "Lodge", "Resort", "Motel", "Boutique Hotel", "Hostel", "Guesthouse"]
_STREETS = ["Main", "Oak", "Maple", "Park", "Lake", "Hill", "Church", "Elm", "Washington", "Lincoln",
            "Market", "Bridge", "River", "Spring", "Center", "Union"]
_STREET_KINDS = ["St", "Ave", "Blvd", "Rd", "Ln", "Way"]
_CUISINES = ["Italian", "Mexican", "Chinese", "Japanese", "Indian", "Thai", "French", "American",
             "Mediterranean", "Korean", "Vietnamese", "Greek", "Spanish", "Middle Eastern", "Ethiopian",
             "Caribbean", "Barbecue", "Seafood", "Southern", "Peruvian"]
_FIRST_NAMES = ["Rosa", "Marco", "Lena", "Hiro", "Priya", "Omar", "Sofia", "Jack", "Mei", "Luca", "Ana",
                "Theo", "Nadia", "Sam", "Iris", "Felix", "Maya", "Diego", "Nora", "Kofi"]
_RESTAURANT_NOUNS = ["Kitchen", "Table", "Bistro", "Grill", "Cafe", "Eatery", "Cantina", "Tavern", "House",
                     "Diner", "Trattoria", "Brasserie", "Noodle Bar", "Smokehouse", "Oyster Bar"]
_RESTAURANT_ADJ = ["Golden", "Blue", "Little", "Rustic", "Urban", "Copper", "Silver", "Olive", "Saffron",
                   "Lemon", "Red", "Wild", "Happy", "Lucky", "Twin", "Velvet"]
_ATTRACTION_PATTERNS: dict[str, list[str]] = {
    "touristy": ["{city} Observation Tower", "{nb} Pier", "{city} Visitor Center", "{city} Wax Museum",
                 "{city} Souvenir Bazaar", "{nb} Ferris Wheel"],
    "culinary": ["{nb} Food Hall", "{city} Farmers Market", "{nb} Chocolate Factory", "{city} Winery",
                 "{nb} Spice Market", "{city} Brewery Tour"],
    "historical": ["{city} History Museum", "Old {city} Fort", "{nb} Heritage House", "{city} Pioneer Village",
                   "{nb} Lighthouse", "{city} Civic Memorial"],
    "scenic": ["{nb} Botanical Garden", "{city} Overlook", "{nb} Lake Trail", "{city} Riverwalk",
               "{nb} Rose Garden", "{city} Skyline Park"],
    "social": ["{nb} Night Market", "{city} Comedy Club", "{nb} Beer Garden", "{city} Jazz Lounge",
               "{nb} Rooftop Terrace", "{city} Dance Hall"],
    "art": ["{city} Museum of Art", "{nb} Gallery Walk", "{city} Sculpture Park", "{nb} Mural Alley",
            "{city} Photography Center", "{nb} Glass Studio"],
    "cultural": ["{city} Cultural Center", "{city} Opera House", "{nb} Music Hall", "{city} Folk Museum",
                 "{nb} Community Theater", "{city} Heritage Festival Grounds"],
    "guided": ["{city} Walking Tour", "{city} Ghost Tour", "{nb} Bike Tour", "{city} River Cruise",
               "{nb} Segway Tour", "{city} Architecture Tour"],
    "sporting": ["{city} Stadium", "{nb} Golf Club", "{city} Arena", "{nb} Climbing Gym",
                 "{city} Ballpark", "{nb} Kayak Center"],
}
_AMENITY_BASE_P = {a: p for a, p in zip(AMENITIES, [
    0.8, 0.45, 0.4, 0.5, 0.2, 0.4, 0.35, 0.3, 0.35, 0.3, 0.2, 0.3, 0.45, 0.85, 0.2, 0.2, 0.2, 0.12,
    0.15, 0.55, 0.7, 0.4, 0.25, 0.5, 0.5, 0.25, 0.1, 0.12], strict=True)}
_DIET_P = {"nut_free": 0.5, "dairy_free": 0.3, "shellfish_free": 0.7, "tomato_free": 0.2,
           "nightshade_free": 0.15, "gluten_free": 0.4, "vegetarian": 0.5, "vegan": 0.25, "halal": 0.15,
           "kosher": 0.1}
_EXTRA_P = {  # per seat class: economy, business, first
    "refundable": (0.2, 0.6, 0.8), "checked_bag_included": (0.3, 0.9, 1.0), "carry_on_included": (0.8, 1.0, 1.0),
    "wifi": (0.5, 0.8, 0.9), "in_flight_meal": (0.3, 0.9, 1.0), "in_flight_entertainment": (0.5, 0.8, 0.9),
    "power_outlets": (0.5, 0.9, 1.0), "extra_legroom": (0.1, 0.8, 1.0), "priority_boarding": (0.1, 0.9, 1.0),
    "lounge_access": (0.0, 0.6, 0.9),
}
assert set(_EXTRA_P) == set(FLIGHT_EXTRAS) and set(_DIET_P) == set(DIETARY_FLAGS)


# ---------------------------------------------------------------------------------------------
# generation


def _synthetic_names(rng: random.Random, n: int, taken: set[str]) -> list[str]:
    pool = [s + e for s in _NAME_STEMS for e in _NAME_ENDS]
    rng.shuffle(pool)
    out = [p for p in pool if p not in taken][:n]
    if len(out) < n:
        raise ValueError(f"cannot make {n} synthetic city names")
    return out


def _synthetic_code(name: str, taken: set[str]) -> str:
    letters = [c for c in name.upper() if c.isalpha()]
    for i in range(1, len(letters)):
        for j in range(i + 1, len(letters)):
            if (code := letters[0] + letters[i] + letters[j]) not in taken:
                return code
    for a in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
        for b in "ABCDEFGHIJKLMNOPQRSTUVWXYZ":
            if (code := letters[0] + a + b) not in taken:
                return code
    raise ValueError("airport codes exhausted")


def _even_counts(rng: random.Random, total: int, keys: list[str]) -> dict[str, int]:
    base, rest = divmod(total, len(keys))
    counts = dict.fromkeys(keys, base)
    for k in rng.sample(keys, rest):
        counts[k] += 1
    return counts


def _address(rng: random.Random) -> str:
    return f"{rng.randint(1, 9999)} {rng.choice(_STREETS)} {rng.choice(_STREET_KINDS)}"


def _gen_cities(rng: random.Random, sc: KBScale) -> tuple[list[City], dict[str, list[tuple[str, float, float]]]]:
    if sc.n_airports > sc.n_cities or sc.n_dialogue_cities > min(sc.n_airports, sc.n_attraction_cities):
        raise ValueError("inconsistent KB scale: dialogue cities need an airport and attractions")
    if sum(sc.split_counts) != sc.n_dialogue_cities or min(sc.split_counts) < 2:
        raise ValueError("split_counts must sum to n_dialogue_cities, at least 2 cities each")
    real = list(_REAL_CITIES)
    rng.shuffle(real)
    real_air = real[: min(sc.n_airports, len(real))]
    taken = {r[0] for r in _REAL_CITIES}
    codes = {r[4] for r in _REAL_CITIES}
    synth = _synthetic_names(rng, sc.n_cities - len(real_air), taken)
    cities: list[City] = [City(name=n, state=s, latitude=la, longitude=lo, airport=c) for n, s, la, lo, c in real_air]
    for name in synth:
        code = None
        if len(cities) < sc.n_airports:
            code = _synthetic_code(name, codes)
            codes.add(code)
        cities.append(City(name=name, state=_STATES[rng.randrange(len(_STATES))],
                           latitude=round(rng.uniform(26.0, 48.5), 4),
                           longitude=round(rng.uniform(-123.0, -70.0), 4), airport=code))
    airport_cities = [c for c in cities if c.airport]
    # dialogue cities: prefer real names (readable dialogues), all have airports
    dialogue = rng.sample(airport_cities[: max(sc.n_dialogue_cities, len(real_air))], sc.n_dialogue_cities)
    rest = [c for c in cities if c not in dialogue]
    attraction_cities = dialogue + rng.sample(rest, sc.n_attraction_cities - sc.n_dialogue_cities)
    for c in attraction_cities:
        c.has_attractions = True
    order = list(dialogue)
    rng.shuffle(order)
    i = 0
    for split, k in zip(SPLITS, sc.split_counts, strict=True):
        for c in order[i: i + k]:
            c.split = split
        i += k
    nbhds: dict[str, list[tuple[str, float, float]]] = {}
    for c in cities:
        k = rng.randint(sc.min_neighborhoods, min(sc.max_neighborhoods, len(_NEIGHBORHOODS)))
        names = rng.sample(_NEIGHBORHOODS, k)
        nbhds[c.name] = [(n, round(c.latitude + rng.uniform(-0.06, 0.06), 5),
                          round(c.longitude + rng.uniform(-0.06, 0.06), 5)) for n in names]
    return cities, nbhds


def _point_near(rng: random.Random, nb: tuple[str, float, float]) -> tuple[float, float]:
    return round(nb[1] + rng.uniform(-0.012, 0.012), 5), round(nb[2] + rng.uniform(-0.012, 0.012), 5)


def _gen_hotels(rng: random.Random, sc: KBScale, cities: list[City], nbhds: dict, d0: date) -> list[tuple]:
    rows: list[tuple] = []
    counts = _even_counts(rng, sc.n_hotels, [c.name for c in cities])
    margin = max(1, sc.n_days // 6)
    hid = 0
    for c in cities:
        used: set[str] = set()
        for _ in range(counts[c.name]):
            nb = rng.choice(nbhds[c.name])
            name = ""
            for attempt in range(50):
                name = f"{rng.choice(_HOTEL_BRANDS)} {rng.choice([nb[0], c.name, ''])} {rng.choice(_HOTEL_KINDS)}"
                name = " ".join(name.split())
                if attempt > 20:
                    name += f" {attempt}"
                if name not in used:
                    break
            used.add(name)
            stars = rng.choices([1, 2, 3, 4, 5], [0.08, 0.2, 0.35, 0.25, 0.12])[0]
            rating = min(5.0, max(1.0, round(rng.gauss(2.3 + 0.45 * stars, 0.55), 1)))
            price = min(2000.0, max(20.0, round(math.exp(rng.gauss(math.log(28 * stars ** 1.45), 0.35)), 2)))
            occupancy = rng.choices(range(1, 8), [0.05, 0.4, 0.15, 0.25, 0.07, 0.05, 0.03])[0]
            if rng.random() < 0.3:  # narrow availability window
                a = rng.randrange(0, sc.n_days - 7)
                b = min(sc.n_days - 1, a + rng.randrange(7, max(8, sc.n_days // 2)))
            else:
                a, b = rng.randrange(0, margin), sc.n_days - 1 - rng.randrange(0, margin)
            lat, lon = _point_near(rng, nb)
            amen = [rng.random() < min(0.97, _AMENITY_BASE_P[x] * (0.45 + 0.28 * stars)) for x in AMENITIES]
            rows.append((hid, name, c.name, c.state, nb[0], _address(rng), lat, lon, stars, rating,
                         rng.randint(3, 5000), price, occupancy, (d0 + timedelta(a)).isoformat(),
                         (d0 + timedelta(b)).isoformat(), *amen))
            hid += 1
    return rows


def _gen_restaurants(rng: random.Random, sc: KBScale, cities: list[City], nbhds: dict) -> list[tuple]:
    rows: list[tuple] = []
    counts = _even_counts(rng, sc.n_restaurants, [c.name for c in cities])
    rid = 0
    for c in cities:
        used: set[str] = set()
        for _ in range(counts[c.name]):
            nb = rng.choice(nbhds[c.name])
            cuisine = rng.choice(_CUISINES)
            name = ""
            for attempt in range(50):
                style = rng.random()
                if style < 0.4:
                    name = f"{rng.choice(_FIRST_NAMES)}'s {rng.choice(_RESTAURANT_NOUNS)}"
                elif style < 0.75:
                    name = f"The {rng.choice(_RESTAURANT_ADJ)} {rng.choice(_RESTAURANT_NOUNS)}"
                else:
                    name = f"{nb[0]} {cuisine} {rng.choice(_RESTAURANT_NOUNS)}"
                if attempt > 20:
                    name += f" {attempt}"
                if name not in used:
                    break
            used.add(name)
            rating = min(5.0, max(1.0, round(rng.gauss(3.9, 0.6), 1)))
            price = min(300.0, max(5.0, round(math.exp(rng.gauss(math.log(18 + 6 * rating), 0.45)), 2)))
            diet = {k: rng.random() < p for k, p in _DIET_P.items()}
            if diet["vegan"]:
                diet["vegetarian"] = diet["dairy_free"] = True
            lat, lon = _point_near(rng, nb)
            rows.append((rid, name, c.name, nb[0], _address(rng), lat, lon, cuisine, rating,
                         rng.randint(3, 4000), price, *(diet[k] for k in DIETARY_FLAGS)))
            rid += 1
    return rows


def _gen_attractions(rng: random.Random, sc: KBScale, cities: list[City], nbhds: dict) -> list[tuple]:
    rows: list[tuple] = []
    acities = [c for c in cities if c.has_attractions]
    counts = _even_counts(rng, sc.n_attractions, [c.name for c in acities])
    aid = 0
    for c in acities:
        used: set[str] = set()
        for _ in range(counts[c.name]):
            for _attempt in range(60):
                kind = rng.choice(ATTRACTION_TYPES)
                nb = rng.choice(nbhds[c.name])
                name = rng.choice(_ATTRACTION_PATTERNS[kind]).format(city=c.name, nb=nb[0])
                if name not in used:
                    break
            else:
                continue
            used.add(name)
            lat, lon = _point_near(rng, nb)
            rows.append((aid, name, c.name, nb[0], kind, lat, lon))
            aid += 1
    return rows


def _gen_flights(rng: random.Random, sc: KBScale, cities: list[City], d0: date) -> list[tuple]:
    airports = [c for c in cities if c.airport]
    hubs = [c for c in airports if c.split]
    rows: list[tuple] = []
    fid = 0
    while len(rows) < sc.n_flights:
        pool = hubs if rng.random() < 0.5 else airports
        o, d = rng.sample(pool, 2)
        day = d0 + timedelta(rng.randrange(sc.n_days))
        dist = haversine_miles(o.latitude, o.longitude, d.latitude, d.longitude)
        fly_min = round(dist / MPH * 60)
        for _ in range(rng.randint(1, 7)):
            if len(rows) >= sc.n_flights:
                break
            name, code = rng.choice(_AIRLINES)
            n_lay = rng.choices([0, 1, 2], [0.5, 0.35, 0.15])[0]
            # layover airports: of a few random candidates, those with the smallest detour
            others = [a for a in rng.sample(airports, min(len(airports), 5)) if a is not o and a is not d]
            others.sort(key=lambda a: haversine_miles(o.latitude, o.longitude, a.latitude, a.longitude)
                        + haversine_miles(a.latitude, a.longitude, d.latitude, d.longitude))
            lays = [(a.airport, rng.randrange(60, 361, 5)) for a in others[:n_lay]]
            n_lay = len(lays)
            dep_min = rng.randrange(5 * 60, 23 * 60 + 1, 5)
            total = fly_min + sum(m for _, m in lays)
            dep = datetime(day.year, day.month, day.day) + timedelta(minutes=dep_min)
            arr = dep + timedelta(minutes=total)
            cls_i = rng.choices([0, 1, 2], [0.6, 0.25, 0.15])[0]
            mult = (1.0, rng.uniform(2.5, 3.5), rng.uniform(4.0, 6.0))[cls_i]
            price = round((60 + 0.11 * dist) * rng.uniform(0.75, 1.5) * (1 - 0.08 * n_lay) * mult, 2)
            extras = [rng.random() < _EXTRA_P[x][cls_i] for x in FLIGHT_EXTRAS]
            lay1 = lays[0] if n_lay >= 1 else (None, None)
            lay2 = lays[1] if n_lay >= 2 else (None, None)
            rows.append((
                fid, name, f"{code}{rng.randint(100, 9999)}", o.name, o.airport, o.state, d.name, d.airport,
                d.state, dep.date().isoformat(), dep.strftime("%H:%M"), arr.date().isoformat(),
                arr.strftime("%H:%M"), round(dist, 1), round(fly_min / 60, 2), round(total / 60, 2), n_lay,
                lay1[0], None if lay1[1] is None else round(lay1[1] / 60, 2),
                lay2[0], None if lay2[1] is None else round(lay2[1] / 60, 2),
                SEAT_CLASSES[cls_i], price, rng.randint(1, 9), rng.choice(_AIRCRAFT), *extras,
            ))
            fid += 1
    return rows


# ---------------------------------------------------------------------------------------------
# storage

_SQL_TYPES = {int: "INTEGER", float: "REAL", str: "TEXT", bool: "INTEGER"}


def _sql_type(annotation: Any) -> str:
    args = [a for a in typing.get_args(annotation) if a is not type(None)]
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and args:
        annotation = args[0]
    if typing.get_origin(annotation) is Literal:
        return "TEXT"
    return _SQL_TYPES.get(annotation, "TEXT")


def _create_entity_table(con: sqlite3.Connection, domain: str) -> None:
    fields = ROW_MODELS[domain].model_fields
    cols = ", ".join(f"{n} {_sql_type(f.annotation)}" for n, f in fields.items())
    con.execute(f"CREATE TABLE {domain} ({cols})")


def build_kb(path: str | os.PathLike[str], seed: int = 0, scale: str | KBScale = "test") -> Path:
    """Generate the knowledge base for `seed` at `scale` and write it to the SQLite file `path`.

    The file is written to a temporary name and renamed into place, so a reader never sees a
    half-written file. Same seed and scale → identical table contents.
    """
    sc = SCALES[scale] if isinstance(scale, str) else scale
    scale_name = scale if isinstance(scale, str) else "custom"
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = random.Random(f"maslab-t1-kb-{seed}")
    d0 = date.fromisoformat(sc.date_start)
    cities, nbhds = _gen_cities(rng, sc)
    tables = {
        "hotels": _gen_hotels(random.Random(f"maslab-t1-kb-{seed}-hotels"), sc, cities, nbhds, d0),
        "restaurants": _gen_restaurants(random.Random(f"maslab-t1-kb-{seed}-restaurants"), sc, cities, nbhds),
        "attractions": _gen_attractions(random.Random(f"maslab-t1-kb-{seed}-attractions"), sc, cities, nbhds),
        "flights": _gen_flights(random.Random(f"maslab-t1-kb-{seed}-flights"), sc, cities, d0),
    }
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        con = sqlite3.connect(tmp)
        con.execute("PRAGMA journal_mode=OFF")
        con.execute("PRAGMA synchronous=OFF")
        con.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
        meta = {"version": KB_VERSION, "seed": str(seed), "scale": scale_name, "scale_json": sc.model_dump_json(),
                "date_start": sc.date_start, "date_end": (d0 + timedelta(sc.n_days - 1)).isoformat()}
        con.executemany("INSERT INTO meta VALUES (?, ?)", sorted(meta.items()))
        con.execute("CREATE TABLE cities (name TEXT PRIMARY KEY, state TEXT, latitude REAL, longitude REAL,"
                    " airport TEXT, split TEXT, has_attractions INTEGER)")
        con.executemany("INSERT INTO cities VALUES (?, ?, ?, ?, ?, ?, ?)",
                        [(c.name, c.state, c.latitude, c.longitude, c.airport, c.split, c.has_attractions)
                         for c in cities])
        con.execute("CREATE TABLE neighborhoods (city TEXT, name TEXT, latitude REAL, longitude REAL)")
        con.executemany("INSERT INTO neighborhoods VALUES (?, ?, ?, ?)",
                        [(c, n, la, lo) for c, lst in nbhds.items() for n, la, lo in lst])
        con.execute("CREATE TABLE airports (code TEXT PRIMARY KEY, name TEXT, city TEXT, state TEXT,"
                    " latitude REAL, longitude REAL)")
        con.executemany("INSERT INTO airports VALUES (?, ?, ?, ?, ?, ?)",
                        [(c.airport, f"{c.name} International Airport", c.name, c.state, c.latitude, c.longitude)
                         for c in cities if c.airport])
        for domain in DOMAINS:
            _create_entity_table(con, domain)
            marks = ", ".join("?" * len(columns(domain)))
            con.executemany(f"INSERT INTO {domain} VALUES ({marks})", tables[domain])
        con.execute("CREATE INDEX flights_route ON flights (origin, destination, departure_date)")
        for domain in ("hotels", "restaurants", "attractions"):
            con.execute(f"CREATE INDEX {domain}_city ON {domain} (city)")
        con.commit()
        con.close()
        os.chmod(tmp, 0o644)  # a plain readable file: for users and for sandboxed readers
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    log.info("t1_kb_built", path=str(path), seed=seed, scale=scale_name,
             **{k: len(v) for k, v in tables.items()})
    return path


# ---------------------------------------------------------------------------------------------
# loading


class KnowledgeBase:
    """Read-only access to one KB file; per-city and per-route lookups are memoised."""

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path).resolve()
        uri = f"file:{pathname2url(str(self.path))}?mode=ro&immutable=1"
        self._con = sqlite3.connect(uri, uri=True, check_same_thread=False)
        self._con.row_factory = sqlite3.Row
        self._lock = threading.Lock()
        self._memo: dict[tuple, list[dict[str, Any]]] = {}
        self.meta: dict[str, str] = dict(self._query("SELECT key, value FROM meta"))
        self.seed = int(self.meta["seed"])
        self.scale = self.meta["scale"]
        self.date_start = self.meta["date_start"]
        self.date_end = self.meta["date_end"]
        self._cities = {r["name"]: City(**{**dict(r), "has_attractions": bool(r["has_attractions"])})
                        for r in self._query("SELECT * FROM cities ORDER BY name")}
        self._airport_city = {c.airport: c.name for c in self._cities.values() if c.airport}
        self._bools = {d: bool_columns(d) for d in DOMAINS}

    def _query(self, sql: str, params: tuple = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._con.execute(sql, params).fetchall()

    def _rows(self, domain: str, sql: str, params: tuple) -> list[dict[str, Any]]:
        key = (domain, sql, params)
        rows = self._memo.get(key)
        if rows is None:
            bools = self._bools[domain]
            rows = []
            for r in self._query(sql, params):
                d = dict(r)
                for b in bools:
                    d[b] = bool(d[b])
                rows.append(d)
            self._memo[key] = rows
        return [dict(r) for r in rows]

    # -- cities ------------------------------------------------------------------------------
    def cities(self, split: str | None = None) -> list[City]:
        """All cities, or the dialogue cities of one split, sorted by name."""
        return [c for c in self._cities.values() if split is None or c.split == split]

    def city(self, name: str) -> City | None:
        return self._cities.get(name)

    def resolve_city(self, name: str) -> str | None:
        """A city name or an airport code → the city name (exact, case-sensitive)."""
        if name in self._cities:
            return name
        return self._airport_city.get(name)

    def splits(self) -> dict[str, list[str]]:
        return {s: [c.name for c in self.cities(s)] for s in SPLITS}

    def neighborhoods(self, city: str) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query(
            "SELECT name, latitude, longitude FROM neighborhoods WHERE city = ? ORDER BY rowid", (city,))]

    def airports(self) -> list[dict[str, Any]]:
        return [dict(r) for r in self._query("SELECT * FROM airports ORDER BY code")]

    # -- entities ----------------------------------------------------------------------------
    def flights(self, origin: str, destination: str, departure_date: str) -> list[dict[str, Any]]:
        """Flights of one route on one day, in departure order (cities or airport codes)."""
        o, d = self.resolve_city(origin), self.resolve_city(destination)
        if o is None or d is None:
            return []
        return self._rows("flights", "SELECT * FROM flights WHERE origin = ? AND destination = ? AND "
                          "departure_date = ? ORDER BY departure_time, flight_id", (o, d, departure_date))

    def hotels(self, city: str) -> list[dict[str, Any]]:
        return self._rows("hotels", "SELECT * FROM hotels WHERE city = ? ORDER BY hotel_id", (city,))

    def restaurants(self, city: str) -> list[dict[str, Any]]:
        return self._rows("restaurants", "SELECT * FROM restaurants WHERE city = ? ORDER BY restaurant_id", (city,))

    def attractions(self, city: str) -> list[dict[str, Any]]:
        return self._rows("attractions", "SELECT * FROM attractions WHERE city = ? ORDER BY attraction_id", (city,))

    def entities(self, domain: str, city: str) -> list[dict[str, Any]]:
        return {"hotels": self.hotels, "restaurants": self.restaurants, "attractions": self.attractions}[domain](city)

    def routes(self, cities: list[str]) -> list[tuple[str, str, str]]:
        """Distinct (origin, destination, date) with at least one flight, both cities in `cities`."""
        marks = ", ".join("?" * len(cities))
        rows = self._query(
            f"SELECT DISTINCT origin, destination, departure_date FROM flights WHERE origin IN ({marks}) "
            f"AND destination IN ({marks}) ORDER BY origin, destination, departure_date",
            tuple(cities) + tuple(cities))
        return [(r[0], r[1], r[2]) for r in rows]

    def route_dates(self, origin: str, destination: str) -> list[str]:
        return [r[0] for r in self._query(
            "SELECT DISTINCT departure_date FROM flights WHERE origin = ? AND destination = ? ORDER BY 1",
            (origin, destination))]

    def counts(self) -> dict[str, int]:
        names = ("cities", "neighborhoods", "airports", *DOMAINS)
        return {n: self._query(f"SELECT COUNT(*) FROM {n}")[0][0] for n in names}

    def fingerprint(self) -> str:
        """SHA-256 over every table's rows in a fixed order: equal iff the contents are equal."""
        h = hashlib.sha256()
        for name in ("meta", "cities", "neighborhoods", "airports", *DOMAINS):
            for r in self._query(f"SELECT * FROM {name} ORDER BY rowid"):
                h.update(repr(tuple(r)).encode())
            h.update(b"|")
        return h.hexdigest()

    def close(self) -> None:
        with self._lock:
            self._con.close()

    def __repr__(self) -> str:
        return f"KnowledgeBase({str(self.path)!r}, seed={self.seed}, scale={self.scale!r})"


_LOADED: dict[tuple[str, int, int], KnowledgeBase] = {}
_LOAD_LOCK = threading.Lock()


def load_kb(path: str | os.PathLike[str]) -> KnowledgeBase:
    """Open a KB file read-only; one handle per (path, mtime, size), reused across calls."""
    p = Path(path).resolve()
    st = p.stat()
    key = (str(p), st.st_mtime_ns, st.st_size)
    with _LOAD_LOCK:
        kb = _LOADED.get(key)
        if kb is None:
            kb = _LOADED[key] = KnowledgeBase(p)
        return kb


def default_kb_path(seed: int = 0, scale: str = "test") -> Path:
    """Where `get_kb` keeps a generated KB: $MASLAB_T1_KB_DIR, else ~/.cache/maslab/t1."""
    root = os.environ.get("MASLAB_T1_KB_DIR") or Path.home() / ".cache" / "maslab" / "t1"
    return Path(root) / f"kb-v{KB_VERSION}-{scale}-seed{seed}.sqlite"


def get_kb(seed: int = 0, scale: str = "test", path: str | os.PathLike[str] | None = None) -> KnowledgeBase:
    """The KB for (seed, scale): built on first use at `path` (default `default_kb_path`), then loaded."""
    p = Path(path) if path is not None else default_kb_path(seed, scale)
    if not p.exists():
        build_kb(p, seed=seed, scale=scale)
    return load_kb(p)


def kb_path_for(kb_seed: int, kb_scale: str, given: str | None = None) -> str:
    """`given` when that KB file exists here, else the KB file of (kb_seed, kb_scale), built on first use."""
    if given and Path(given).is_file():
        return str(given)
    return str(get_kb(kb_seed, kb_scale).path)

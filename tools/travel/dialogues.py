"""Seeded generator of T1 multi-turn dialogues with gold code and the gold cache after every turn.

Shape and construction follow arXiv 2505.16986 §dataset: nine categories (four single-domain,
five multi-domain); a dialogue opens with the assistant, alternates strictly and ends on a user
turn; templates with numbered placeholders (``<CITY_1>``, ``<DEPARTURE_DATE_1>``,
``<CITY_2_HOTEL_NAME_1>``…) are filled from the knowledge base with ordered dates (check-in before
check-out); every user turn carries its gold code, which searches when all mandatory parameters
are known, reuses cached results (``get_results_from_cache`` then ``filter_*``/``sort_results``)
when the user refines, searches again when a mandatory parameter changes, calls
``seek_information`` when one is missing, and is exactly ``print("No planning needed")`` when no
planning is needed. Templates are split 25/9/66 % per category (train/validation/test) and the
fills use only the cities of the dialogue's split.

Our templates are not the paper's (which were written by Llama-3.3-70B and annotators): each is a
sequence of *moves* (intro, refine, recompute, cross-domain link, no-op) drawn per category from a
small grammar; a move writes the user's text, the gold code as a list of operations, and runs
those operations in-process on `TravelTools` (no `exec`) to choose fills that give non-empty
results and to record the cache. The gold code is checked by running it in the sandbox
(tests/test_t1_dialogues.py).
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from functools import partial
from typing import Any, Literal, get_args

from pydantic import BaseModel, Field

from maslab.tools.travel.cache import ToolCache
from maslab.tools.travel.kb import SPLITS, KnowledgeBase, get_kb
from maslab.tools.travel.table import Table
from maslab.tools.travel.tools import NO_PLANNING, TravelTools
from maslab.trace import get_logger

log = get_logger(__name__)

__all__ = [
    "CATEGORIES",
    "CATEGORY_DOMAINS",
    "N_TEMPLATES",
    "Category",
    "Dialogue",
    "DialogueTurn",
    "Template",
    "generate_dialogue",
    "generate_dialogues",
    "template_split",
    "templates",
]

Category = Literal[
    "flights", "hotels", "restaurants", "attractions", "flights-hotels", "hotels-restaurants",
    "hotels-attractions", "flights-hotels-attractions", "flights-hotels-restaurants",
]
CATEGORIES: tuple[str, ...] = get_args(Category)
CATEGORY_DOMAINS: dict[str, list[str]] = {c: c.split("-") for c in CATEGORIES}
N_TEMPLATES = 20  # per category; the paper has 60
TEMPLATE_SPLIT = (0.25, 0.09)  # train, validation; the rest is test
TurnKind = Literal["plan", "seek", "noop"]


class DialogueTurn(BaseModel):
    """One turn; user turns carry the gold code and the gold cache after it."""

    role: Literal["assistant", "user"]
    text: str
    template: str | None = None  # the user text with its placeholders
    code: str | None = None  # gold code
    kind: TurnKind | None = None
    rationale: str | None = None  # one line on why the gold code is what it is
    cache_after: dict[str, Any] | None = None  # ToolCache.to_dict() after the gold code
    cache_summary: str | None = None


class Dialogue(BaseModel):
    """One generated dialogue."""

    id: str
    category: str
    domains: list[str]
    split: str
    template_id: str
    seed: int
    kb_seed: int
    kb_scale: str
    placeholders: dict[str, str] = Field(default_factory=dict)
    turns: list[DialogueTurn]

    def user_turn_indices(self) -> list[int]:
        return [i for i, t in enumerate(self.turns) if t.role == "user"]

    def gold_cache_before(self, turn_index: int) -> ToolCache:
        """The gold cache as it stood before user turn `turn_index` (empty before the first)."""
        for i in range(turn_index - 1, -1, -1):
            t = self.turns[i]
            if t.role == "user" and t.cache_after is not None:
                return ToolCache.from_dict(t.cache_after)
        return ToolCache()

    def conversation(self, turn_index: int) -> list[DialogueTurn]:
        """The turns up to and including `turn_index`."""
        return self.turns[: turn_index + 1]


# ---------------------------------------------------------------------------------------------
# gold-code operations: rendered as Python and run in-process on TravelTools


@dataclass(frozen=True)
class Var:
    name: str


@dataclass
class Op:
    target: str | None
    tool: str  # a tool name, or "print"
    args: list[tuple[str | None, Any]]  # (keyword or None for positional, literal value or Var)

    def render(self) -> str:
        args = ", ".join((f"{k}=" if k else "") + (v.name if isinstance(v, Var) else repr(v)) for k, v in self.args)
        call = f"{self.tool}({args})"
        return f"{self.target} = {call}" if self.target else call


def _render(ops: Sequence[Op]) -> str:
    return "\n".join(op.render() for op in ops)


def _run(tools: TravelTools, ops: Sequence[Op]) -> dict[str, Any]:
    env: dict[str, Any] = {}
    for op in ops:
        if op.tool == "print":
            continue
        pos = [env[v.name] if isinstance(v, Var) else v for k, v in op.args if k is None]
        kw = {k: env[v.name] if isinstance(v, Var) else v for k, v in op.args if k is not None}
        out = tools.call(op.tool, *pos, **kw)
        if op.target:
            env[op.target] = out
    return env


# ---------------------------------------------------------------------------------------------
# text helpers

_AMENITY_TEXT = {
    "free_wifi": "free WiFi", "free_parking": "free parking", "pool": "a pool", "gym": "a gym", "spa": "a spa",
    "restaurant": "an on-site restaurant", "bar": "a bar", "room_service": "room service",
    "breakfast_included": "breakfast included", "pet_friendly": "to be pet-friendly",
    "airport_shuttle": "an airport shuttle", "business_center": "a business center", "laundry": "laundry",
    "air_conditioning": "air conditioning", "kitchen": "a kitchen", "balcony": "a balcony", "hot_tub": "a hot tub",
    "sauna": "a sauna", "ev_charging": "EV charging", "wheelchair_accessible": "wheelchair access",
    "non_smoking": "non-smoking rooms", "family_rooms": "family rooms", "concierge": "a concierge",
    "front_desk_24h": "a 24-hour front desk", "luggage_storage": "luggage storage",
    "meeting_rooms": "meeting rooms", "kids_club": "a kids' club", "ocean_view": "an ocean view",
}
_EXTRA_TEXT = {
    "refundable": "a refundable ticket", "checked_bag_included": "a checked bag included",
    "carry_on_included": "a carry-on included", "wifi": "WiFi on board", "in_flight_meal": "a meal on board",
    "in_flight_entertainment": "in-flight entertainment", "power_outlets": "power outlets",
    "extra_legroom": "extra legroom", "priority_boarding": "priority boarding", "lounge_access": "lounge access",
}
_DIET_TEXT = {
    "nut_free": "nut-free", "dairy_free": "dairy-free", "shellfish_free": "shellfish-free",
    "tomato_free": "tomato-free", "nightshade_free": "nightshade-free", "gluten_free": "gluten-free",
    "vegetarian": "vegetarian", "vegan": "vegan", "halal": "halal", "kosher": "kosher",
}
_OPENINGS = [
    "Hello! I'm your travel assistant. How can I help you today?",
    "Hi there! Where would you like to go, and how can I help?",
    "Welcome! I can help with flights, hotels, restaurants and attractions. What do you need?",
    "Good day! What travel plans can I help you with?",
]
_NOOP_MID = [
    "Great, that sounds good. Let me think about it for a moment.",
    "Thanks, those options look interesting.",
    "Okay, noted. I'll take a look at those.",
]
_NOOP_END = [
    "Thanks, that's everything I needed!",
    "Perfect, that's all for now. Thank you!",
    "Great, thanks for your help!",
    "That's all I need, thank you so much.",
]


def _date_text(iso: str) -> str:
    d = date.fromisoformat(iso)
    return f"{d:%B} {d.day}, {d.year}"


def _join(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " and " + words[-1]


def _money(x: float) -> str:
    return f"${int(x)}" if float(x).is_integer() else f"${x:.2f}"


def _ceil_to(x: float, step: int) -> int:
    return int(math.ceil(x / step) * step)


# ---------------------------------------------------------------------------------------------
# the builder: state of one dialogue under construction


class _Builder:
    def __init__(self, kb: KnowledgeBase, rng: random.Random, split: str):
        self.kb = kb
        self.rng = rng
        self.split = split
        self.cities = [c.name for c in kb.cities(split)]
        if len(self.cities) < 2:
            raise ValueError(f"split {split!r} has fewer than two cities")
        self.tools = TravelTools(kb, ToolCache())
        self.fills: dict[str, str] = {}
        self._ph_by_value: dict[tuple[str, str], str] = {}
        self._ph_count: dict[str, int] = {}
        self.ctx: dict[str, dict[str, Any]] = {}
        self.last_domain: str | None = None
        self._keys: dict[str, int] = {}
        self.turns: list[DialogueTurn] = [DialogueTurn(role="assistant", text=rng.choice(_OPENINGS))]
        d0, d1 = date.fromisoformat(kb.date_start), date.fromisoformat(kb.date_end)
        self.day_range = (d0, d1)

    # -- placeholders and keys -------------------------------------------------------------------
    def ph(self, kind: str, value: str, text: str | None = None, city: str | None = None) -> str:
        """The placeholder for `value` of `kind` (reused for the same value), its fill recorded."""
        if city is not None:
            kind = f"{self.ph_name('CITY', city)}_{kind}"
        key = (kind, value)
        if key not in self._ph_by_value:
            n = self._ph_count.get(kind, 0) + 1
            self._ph_count[kind] = n
            name = f"{kind}_{n}"
            self._ph_by_value[key] = name
            self.fills[name] = text if text is not None else value
        return f"<{self._ph_by_value[key]}>"

    def ph_name(self, kind: str, value: str) -> str:
        return self.ph(kind, value)[1:-1]

    def city_ph(self, city: str) -> str:
        return self.ph("CITY", city)

    def date_ph(self, kind: str, iso: str) -> str:
        return self.ph(kind, iso, _date_text(iso))

    def new_key(self, domain: str) -> str:
        n = self._keys.get(domain, 0) + 1
        self._keys[domain] = n
        return f"{domain}_{n}"

    # -- turns ---------------------------------------------------------------------------------
    def user(self, template: str, ops: Sequence[Op], kind: TurnKind, rationale: str, reply: str) -> dict[str, Any]:
        if kind == "noop":
            ops = [Op(None, "print", [(None, "No planning needed")])]
        env = _run(self.tools, ops)
        text = template
        for name, value in self.fills.items():
            text = text.replace(f"<{name}>", value)
        code = NO_PLANNING if kind == "noop" else _render(ops)
        self.turns.append(DialogueTurn(
            role="user", text=text, template=template, code=code, kind=kind, rationale=rationale,
            cache_after=self.tools.cache.to_dict(), cache_summary=self.tools.cache.summary()))
        self.turns.append(DialogueTurn(role="assistant", text=reply))
        return env

    def seek(self, template: str, missing: str, reply: str) -> None:
        msg = f"Could you please provide the {missing}?"
        self.user(template, [Op(None, "seek_information", [(None, msg)])], "seek",
                  f"A mandatory parameter is missing ({missing}): ask for it, plan nothing yet.", reply)

    def search(self, domain: str, template: str, tool_args: list[tuple[str, Any]], rationale: str,
               pre: Sequence[Op] = (), var: str | None = None) -> Table:
        """A fresh search (all mandatory parameters known), saved under a new key."""
        var = var or domain
        key = self.new_key(domain)
        ops = [*pre, Op(var, f"search_{domain}", tool_args), Op(None, "save_to_cache", [(None, key), (None, Var(var))])]
        env = self.user(template, ops, "plan", rationale, "")
        table: Table = env[var]
        self._after(domain, key, table)
        return table

    def refine(self, domain: str, template: str, tool: str, tool_args: list[tuple[str, Any]], rationale: str,
               out_var: str, out_domain: str | None = None, extra: Sequence[Op] = ()) -> Table:
        """Reuse the latest cached result of `domain`: fetch, refine, save under a new key."""
        src = self.ctx[domain]["key"]
        if out_domain is None and self.last_domain not in (None, domain):
            template = f"Back to the {domain}: {template[0].lower()}{template[1:]}"
        out_domain = out_domain or domain
        key = self.new_key(out_domain)
        cached = f"cached_{domain}"
        ops = [Op(cached, "get_results_from_cache", [("key", src)]), *extra,
               Op(out_var, tool, [("prior_results", Var(extra[-1].target if extra else cached)), *tool_args]),
               Op(None, "save_to_cache", [(None, key), (None, Var(out_var))])]
        env = self.user(template, ops, "plan", rationale, "")
        table: Table = env[out_var]
        self._after(out_domain, key, table)
        return table

    def _after(self, domain: str, key: str, table: Table) -> None:
        self.last_domain = domain
        ctx = self.ctx.setdefault(domain, {"filters": {}})
        ctx["key"], ctx["table"] = key, table
        n = len(table)
        label = {"flights": "flight", "hotels": "hotel", "restaurants": "restaurant", "attractions": "attraction"}[domain]
        if n == 0:
            reply = f"I'm sorry, I couldn't find any {label}s matching that. Would you like to change something?"
        else:
            best = table[0]
            what = best.get("name") or f"{best.get('airline')} {best.get('flight_number')}"
            reply = (f"I found {n} {label}{'' if n == 1 else 's'}. For example, {what}. "
                     "Would you like to narrow them down?")
        self.turns[-1] = DialogueTurn(role="assistant", text=reply)

    def noop(self, end: bool) -> None:
        template = self.rng.choice(_NOOP_END if end else _NOOP_MID)
        self.user(template, [], "noop", "Nothing new to search or compute: no planning needed.",
                  "You're welcome! Let me know if there's anything else I can do.")

    # -- choosing fills ------------------------------------------------------------------------
    def pick_city(self, exclude: Sequence[str] = ()) -> str:
        return self.rng.choice([c for c in self.cities if c not in exclude])

    def pick_route(self) -> tuple[str, str, str]:
        routes = self.kb.routes(self.cities)
        if not routes:
            o, d = self.rng.sample(self.cities, 2)
            return o, d, self.mid_date()
        return self.rng.choice(routes)

    def mid_date(self, margin_end: int = 8) -> str:
        d0, d1 = self.day_range
        span = (d1 - d0).days
        lo, hi = span // 6, max(span // 6, span - span // 6 - margin_end)
        return (d0 + timedelta(self.rng.randint(lo, hi))).isoformat()

    def row(self, domain: str) -> dict[str, Any] | None:
        t = self.ctx.get(domain, {}).get("table")
        return self.rng.choice(t) if t else None


# ---------------------------------------------------------------------------------------------
# moves: flights


def _f_intro(b: _Builder, variant: str) -> None:
    o, d, day = b.pick_route()
    b.ctx["flights"] = {"origin": o, "destination": d, "date": day, "filters": {}}
    co, cd, dd = b.city_ph(o), b.city_ph(d), b.date_ph("DEPARTURE_DATE", day)
    args: list[tuple[str, Any]] = [("origin", o), ("destination", d), ("departure_date", day)]
    why = "All mandatory flight parameters (origin, destination, departure date) are known: search and cache."
    if variant == "missing_date":
        b.seek(b.rng.choice([f"I want to fly from {co} to {cd}.", f"Can you find me a flight from {co} to {cd}?"]),
               "departure date", "Sure! What date would you like to depart?")
        b.search("flights", b.rng.choice([f"I'd like to leave on {dd}.", f"On {dd}, please."]), args, why)
    elif variant == "missing_origin":
        b.seek(f"I need a flight to {cd} on {dd}.", "origin city", "Of course. Where will you be flying from?")
        b.search("flights", b.rng.choice([f"From {co}.", f"I'll be departing from {co}."]), args, why)
    elif variant == "class":
        probe = b.tools.search_flights(o, d, day)
        cls = b.rng.choice(probe.column("seat_class") or ["economy"])
        b.ctx["flights"]["filters"]["seat_class"] = cls
        b.search("flights", f"Please find {cls} class flights from {co} to {cd} on {dd}.",
                 [*args, ("seat_class", cls)], why + " The seat class is an optional filter the user gave.")
    else:
        b.search("flights", b.rng.choice([
            f"I need a flight from {co} to {cd} on {dd}.",
            f"Can you look up flights from {co} to {cd} departing {dd}?",
            f"Show me flights from {co} to {cd} for {dd}."]), args, why)


def _f_refine(b: _Builder, what: str) -> None:
    row = b.row("flights")
    table = b.ctx["flights"]["table"]
    reuse = "Refine the cached flights instead of searching again."
    if what == "budget":
        price = row["price"] if row else 400.0
        budget = _ceil_to(price, 50)
        t = b.ph("BUDGET", str(budget), _money(budget))
        b.ctx["flights"]["filters"]["budget"] = budget
        b.refine("flights", b.rng.choice([f"Can you show me only the ones under {t}?",
                                          f"My budget is {t} per ticket."]),
                 "filter_flights", [("budget", budget)], reuse, "affordable_flights")
    elif what == "airline":
        airline = row["airline"] if row else "SkyWays"
        t = b.ph("AIRLINE", airline)
        b.ctx["flights"]["filters"]["airline"] = airline
        b.refine("flights", f"I prefer flying with {t}.", "filter_flights", [("airline", airline)], reuse,
                 "airline_flights")
    elif what == "nonstop":
        lay = min(min(table.column("num_layovers")), 1) if table else 0
        text = "Only nonstop flights, please." if lay == 0 else f"I'd like at most {lay} layover{'s' * (lay > 1)}."
        b.ctx["flights"]["filters"]["max_layovers"] = lay
        b.refine("flights", text, "filter_flights", [("max_layovers", lay)], reuse, "direct_flights")
    elif what == "depart_after":
        hour = int(row["departure_time"][:2]) if row else 9
        tm = f"{hour:02d}:00"
        t = b.ph("TIME", tm)
        b.ctx["flights"]["filters"]["earliest_departure_time"] = tm
        b.refine("flights", f"I can't leave before {t}.", "filter_flights", [("earliest_departure_time", tm)],
                 reuse, "later_flights")
    elif what == "extra":
        extras = [x for x in _EXTRA_TEXT if row and row.get(x)] or ["carry_on_included"]
        x = b.rng.choice(extras)
        b.ctx["flights"]["filters"]["amenities"] = [x]
        b.refine("flights", f"I need {_EXTRA_TEXT[x]}.", "filter_flights", [("amenities", [x])], reuse,
                 "matching_flights")
    elif what == "sort_price":
        b.refine("flights", "Can you sort them by price, cheapest first?", "sort_results",
                 [("by", "price"), ("ascending", True)], reuse, "sorted_flights")
    else:
        raise ValueError(what)


def _f_change_date(b: _Builder) -> None:
    c = b.ctx["flights"]
    dates = [x for x in b.kb.route_dates(c["origin"], c["destination"]) if x != c["date"]]
    if dates:
        new = min(dates, key=lambda x: (abs((date.fromisoformat(x) - date.fromisoformat(c["date"])).days), x))
    else:
        new = (date.fromisoformat(c["date"]) + timedelta(days=1)).isoformat()
    c["date"] = new
    t = b.date_ph("DEPARTURE_DATE", new)
    args = [("origin", c["origin"]), ("destination", c["destination"]), ("departure_date", new),
            *sorted(c["filters"].items(), key=lambda kv: _FLIGHT_ORDER.index(kv[0]))]
    b.search("flights", b.rng.choice([f"Actually, could you check {t} instead?",
                                      f"Change of plans: I need to fly on {t}."]), args,
             "The departure date (mandatory) changed: search again with the filters already given, cache anew.")


_FLIGHT_ORDER = ["airline", "seat_class", "budget", "max_layovers", "earliest_departure_time", "amenities"]


def _f_return(b: _Builder) -> None:
    c, h = b.ctx["flights"], b.ctx["hotels"]
    o, d, day = c["destination"], c["origin"], h["checkout"]
    b.search("flights", "I'll also need a flight back home on the day I check out.",
             [("origin", o), ("destination", d), ("departure_date", day)],
             "Return flight: origin and destination swap, the date is the known check-out date.",
             var="return_flights")


# ---------------------------------------------------------------------------------------------
# moves: hotels


def _h_intro(b: _Builder, variant: str) -> None:
    why = "All mandatory hotel parameters (city, check-in, check-out) are known: search and cache."
    f = b.ctx.get("flights")
    nights = b.rng.randint(2, 5)
    if variant == "after_flight" and f:
        city, checkin = f["destination"], f["date"]
        back = set(b.kb.route_dates(city, f["origin"]))  # prefer stays that end on a day with a flight home
        fits = [k for k in range(2, 6) if (date.fromisoformat(checkin) + timedelta(k)).isoformat() in back]
        nights = b.rng.choice(fits) if fits else nights
        checkout = (date.fromisoformat(checkin) + timedelta(nights)).isoformat()
        b.ctx["hotels"] = {"city": city, "checkin": checkin, "checkout": checkout, "filters": {}}
        n = b.ph("NUM_NIGHTS", str(nights))
        pre = [Op("checkout_date", "adjust_date", [("date", checkin), ("days", nights)])]
        b.search("hotels", f"I'll also need a hotel in {b.city_ph(city)} for {n} nights, checking in the day "
                 "my flight leaves.",
                 [("city", city), ("checkin_date", checkin), ("checkout_date", Var("checkout_date"))],
                 why + " Check-in is the flight date; check-out is derived with adjust_date.", pre=pre)
        return
    city = f["destination"] if f else b.pick_city()
    checkin = b.mid_date()
    checkout = (date.fromisoformat(checkin) + timedelta(nights)).isoformat()
    b.ctx["hotels"] = {"city": city, "checkin": checkin, "checkout": checkout, "filters": {}}
    # placeholders are created on first use, so every recorded one appears in a template
    cp, ci = partial(b.city_ph, city), partial(b.date_ph, "CHECK_IN_DATE", checkin)
    co = partial(b.date_ph, "CHECK_OUT_DATE", checkout)
    args: list[tuple[str, Any]] = [("city", city), ("checkin_date", checkin), ("checkout_date", checkout)]
    if variant == "nights":
        n = b.ph("NUM_NIGHTS", str(nights))
        pre = [Op("checkout_date", "adjust_date", [("date", checkin), ("days", nights)])]
        b.search("hotels", f"Find me a hotel in {cp()}, checking in on {ci()} for {n} nights.",
                 [("city", city), ("checkin_date", checkin), ("checkout_date", Var("checkout_date"))],
                 why + " Check-out is check-in plus the nights, via adjust_date.", pre=pre)
    elif variant == "missing_dates":
        b.seek(b.rng.choice([f"I'm looking for a hotel in {cp()}.", f"Can you help me find a place to stay in {cp()}?"]),
               "check-in and check-out dates", "Happy to help! What are your check-in and check-out dates?")
        b.search("hotels", f"I'll check in on {ci()} and check out on {co()}.", args, why)
    elif variant == "missing_city" and not f:
        b.seek(f"I need a hotel from {ci()} to {co()}.", "city", "Sure! Which city will you be staying in?")
        b.search("hotels", f"In {cp()}, please.", args, why)
    else:
        b.search("hotels", b.rng.choice([f"I need a hotel in {cp()} from {ci()} to {co()}.",
                                         f"Can you find hotels in {cp()}? I'm checking in {ci()} and out {co()}."]),
                 args, why)


def _h_refine(b: _Builder, what: str) -> None:
    row = b.row("hotels")
    city = b.ctx["hotels"]["city"]
    reuse = "Refine the cached hotels instead of searching again."
    flt = b.ctx["hotels"]["filters"]
    if what == "stars":
        s = max(2, row["stars"]) if row else 3
        flt["min_stars"] = s
        b.refine("hotels", f"I'd like at least {b.ph('STARS', str(s))} stars.", "filter_hotels",
                 [("min_stars", s)], reuse, "good_hotels")
    elif what == "rating":
        r = max(1.0, math.floor(row["rating"] * 2) / 2) if row else 3.5
        flt["min_rating"] = r
        b.refine("hotels", f"Only show hotels rated {b.ph('RATING', str(r))} or higher.", "filter_hotels",
                 [("min_rating", r)], reuse, "good_hotels")
    elif what == "budget":
        budget = _ceil_to(row["price_per_night"], 25) if row else 200
        flt["budget"] = budget
        b.refine("hotels", f"I don't want to spend more than {b.ph('BUDGET', str(budget), _money(budget))} a night.",
                 "filter_hotels", [("budget", budget)], reuse, "affordable_hotels")
    elif what == "amenities":
        have = [a for a in _AMENITY_TEXT if row and row.get(a)] or ["air_conditioning"]
        chosen = sorted(b.rng.sample(have, min(len(have), b.rng.choice([1, 2]))))
        flt["amenities"] = chosen
        b.refine("hotels", f"It needs to have {_join([_AMENITY_TEXT[a] for a in chosen])}.", "filter_hotels",
                 [("amenities", chosen)], reuse, "hotels_with_amenities")
    elif what == "neighborhood":
        nb = row["neighborhood"] if row else b.kb.neighborhoods(city)[0]["name"]
        flt["neighborhood"] = nb
        b.refine("hotels", f"I'd prefer to stay in {b.ph('NEIGHBORHOOD', nb, city=city)}.", "filter_hotels",
                 [("neighborhood", nb)], reuse, "hotels_in_area")
    elif what == "guests":
        g = max(2, row["max_occupancy"]) if row else 2
        flt["num_guests"] = g
        b.refine("hotels", f"There will be {b.ph('NUM_GUESTS', str(g))} of us in the room.", "filter_hotels",
                 [("num_guests", g)], reuse, "roomy_hotels")
    elif what == "sort_price":
        b.refine("hotels", "Please sort them from cheapest to most expensive.", "sort_results",
                 [("by", "price_per_night"), ("ascending", True)], reuse, "sorted_hotels")
    elif what == "sort_rating":
        b.refine("hotels", "Can you sort them by rating, best first?", "sort_results",
                 [("by", "rating"), ("ascending", False)], reuse, "sorted_hotels")
    else:
        raise ValueError(what)


_HOTEL_ORDER = ["neighborhood", "min_stars", "min_rating", "budget", "num_guests", "amenities"]


def _h_change_dates(b: _Builder) -> None:
    h = b.ctx["hotels"]
    shift = b.rng.choice([-2, -1, 1, 2, 3])
    ci = (date.fromisoformat(h["checkin"]) + timedelta(shift)).isoformat()
    co = (date.fromisoformat(h["checkout"]) + timedelta(shift)).isoformat()
    h["checkin"], h["checkout"] = ci, co
    args = [("city", h["city"]), ("checkin_date", ci), ("checkout_date", co),
            *sorted(h["filters"].items(), key=lambda kv: _HOTEL_ORDER.index(kv[0]))]
    b.search("hotels", f"Actually, my dates changed: I'll check in on {b.date_ph('CHECK_IN_DATE', ci)} and check "
             f"out on {b.date_ph('CHECK_OUT_DATE', co)}.", args,
             "The stay dates (mandatory) changed: search again with the filters already given, cache anew.")


# ---------------------------------------------------------------------------------------------
# moves: restaurants and attractions


def _context_city(b: _Builder) -> str | None:
    if "hotels" in b.ctx:
        return b.ctx["hotels"]["city"]
    if "flights" in b.ctx:
        return b.ctx["flights"]["destination"]
    return None


def _r_intro(b: _Builder, variant: str) -> None:
    why = "The city (mandatory for restaurants) is known: search and cache."
    city = _context_city(b) or b.pick_city()
    b.ctx["restaurants"] = {"city": city, "filters": {}}
    cuisines = sorted({r["cuisine"] for r in b.kb.restaurants(city)}) or ["Italian"]
    cuisine = b.rng.choice(cuisines)
    cp, cu = partial(b.city_ph, city), partial(b.ph, "CUISINE", cuisine)
    if variant == "missing_city" and _context_city(b) is None:
        b.seek(f"I'm in the mood for {cu()} food. Any suggestions?", "city", "Sounds delicious! Which city are you in?")
        b.search("restaurants", f"I'm in {cp()}.", [("city", city), ("cuisine", cuisine)], why)
    elif variant == "cuisine":
        b.search("restaurants", f"Can you find {cu()} restaurants in {cp()}?", [("city", city), ("cuisine", cuisine)],
                 why + " The cuisine is an optional filter the user gave.")
    else:
        b.search("restaurants", b.rng.choice([f"What restaurants are there in {cp()}?",
                                              f"Can you recommend some places to eat in {cp()}?"]),
                 [("city", city)], why)


def _near_hotel(b: _Builder, target: str) -> bool:
    hotels = b.ctx.get("hotels", {}).get("table")
    if not hotels:
        return False
    hotel = b.rng.choice(hotels)
    city = hotel["city"]
    hp = b.ph("HOTEL_NAME", hotel["name"], city=city)
    b.ctx[target] = {"city": city, "filters": {}}
    label = "restaurants" if target == "restaurants" else "attractions"
    b.refine("hotels", b.rng.choice([f"What {label} are close to {hp}?", f"Can you find {label} near {hp}?"]),
             "search_nearest", [("target", target), ("limit", 5)],
             f"Reuse the cached hotels: pick {hotel['name']!r} by name, then the nearest {label}.",
             f"nearby_{target}", out_domain=target,
             extra=[Op("hotel", "filter_hotels", [("prior_results", Var("cached_hotels")), ("name", hotel["name"])])])
    return True


def _r_refine(b: _Builder, what: str) -> None:
    row = b.row("restaurants")
    reuse = "Refine the cached restaurants instead of searching again."
    if what == "diet":
        have = [x for x in _DIET_TEXT if row and row.get(x)] or ["vegetarian"]
        chosen = sorted(b.rng.sample(have, min(len(have), b.rng.choice([1, 2]))))
        b.refine("restaurants", f"I need places with {_join([_DIET_TEXT[x] for x in chosen])} options.",
                 "filter_restaurants", [("dietary_restrictions", chosen)], reuse, "suitable_restaurants")
    elif what == "rating":
        r = max(1.0, math.floor(row["rating"] * 2) / 2) if row else 4.0
        b.refine("restaurants", f"Only ones rated {b.ph('RATING', str(r))} or above, please.", "filter_restaurants",
                 [("min_rating", r)], reuse, "top_restaurants")
    elif what == "budget":
        budget = _ceil_to(row["price_per_person"], 5) if row else 40
        b.refine("restaurants", f"Keep it under {b.ph('BUDGET', str(budget), _money(budget))} per person.",
                 "filter_restaurants", [("budget", budget)], reuse, "affordable_restaurants")
    elif what == "cuisine":
        cu = row["cuisine"] if row else "Italian"
        b.refine("restaurants", f"I'm craving {b.ph('CUISINE', cu)} food.", "filter_restaurants",
                 [("cuisine", cu)], reuse, "matching_restaurants")
    elif what == "sort_rating":
        b.refine("restaurants", "Sort them by rating, highest first.", "sort_results",
                 [("by", "rating"), ("ascending", False)], reuse, "sorted_restaurants")
    else:
        raise ValueError(what)


def _a_intro(b: _Builder, variant: str) -> None:
    why = "The city (mandatory for attractions) is known: search and cache."
    city = _context_city(b) or b.pick_city()
    b.ctx["attractions"] = {"city": city, "filters": {}}
    types = sorted({r["type"] for r in b.kb.attractions(city)}) or ["scenic"]
    kind = b.rng.choice(types)
    cp, tp = partial(b.city_ph, city), partial(b.ph, "ATTRACTION_TYPE", kind)
    if variant == "missing_city" and _context_city(b) is None:
        b.seek(f"I'd love to visit some {tp()} attractions.", "city", "Great idea! Which city will you be in?")
        b.search("attractions", f"In {cp()}.", [("city", city), ("attraction_type", kind)], why)
    elif variant == "type":
        b.search("attractions", f"Are there any {tp()} attractions in {cp()}?", [("city", city), ("attraction_type", kind)],
                 why + " The type is an optional filter the user gave.")
    else:
        b.search("attractions", b.rng.choice([f"What attractions are there in {cp()}?",
                                              f"What can I see and do in {cp()}?"]), [("city", city)], why)


def _a_refine(b: _Builder, what: str) -> None:
    table = b.ctx["attractions"]["table"]
    row = b.row("attractions")
    reuse = "Refine the cached attractions instead of searching again."
    if what == "type":
        have = sorted(set(table.column("type"))) if table else ["scenic"]
        chosen = sorted(b.rng.sample(have, min(len(have), b.rng.choice([1, 2]))))
        b.refine("attractions", f"I'm mostly interested in {_join([b.ph('ATTRACTION_TYPE', k) for k in chosen])} "
                 "places.", "filter_attractions", [("attraction_type", chosen)], reuse, "chosen_attractions")
    elif what == "neighborhood":
        city = b.ctx["attractions"]["city"]
        nb = row["neighborhood"] if row else b.kb.neighborhoods(city)[0]["name"]
        b.refine("attractions", f"Which of them are in {b.ph('NEIGHBORHOOD', nb, city=city)}?", "filter_attractions",
                 [("neighborhood", nb)], reuse, "local_attractions")
    else:
        raise ValueError(what)


# ---------------------------------------------------------------------------------------------
# templates: move sequences per category

Move = tuple[str, str]  # (move kind, variant)

_INTROS = {
    "flights": ["plain", "class", "missing_date", "missing_origin"],
    "hotels": ["plain", "nights", "missing_dates", "missing_city"],
    "restaurants": ["plain", "cuisine", "missing_city"],
    "attractions": ["plain", "type", "missing_city"],
}
_REFINES = {
    "flights": ["budget", "airline", "nonstop", "depart_after", "extra", "sort_price", "change_date"],
    "hotels": ["stars", "rating", "budget", "amenities", "neighborhood", "guests", "sort_price", "sort_rating",
               "change_dates"],
    "restaurants": ["diet", "rating", "budget", "cuisine", "sort_rating"],
    "attractions": ["type", "neighborhood"],
}
_TWO_TURN = {"missing_date", "missing_origin", "missing_dates", "missing_city"}


@dataclass(frozen=True)
class Template:
    """A dialogue template: an id and its sequence of moves."""

    id: str
    category: str
    moves: tuple[Move, ...]

    @property
    def user_turns(self) -> int:
        return _turns(list(self.moves))


def _domain_block(rng: random.Random, domain: str, n_refines: int, intro: str | None = None,
                  first: bool = True) -> list[Move]:
    intros = _INTROS[domain] if first else [i for i in _INTROS[domain] if i not in _TWO_TURN]
    moves: list[Move] = [(f"{domain}.intro", intro or rng.choice(intros))]
    refines = _REFINES[domain]
    moves += [(f"{domain}.refine", r) for r in rng.sample(refines, min(n_refines, len(refines)))]
    return moves


def _turns(moves: list[Move]) -> int:
    return sum(2 if (m[0].endswith("intro") and m[1] in _TWO_TURN) else 1 for m in moves)


def _make_template(category: str, rng: random.Random) -> list[Move]:
    domains = CATEGORY_DOMAINS[category]
    if len(domains) == 1:
        d = domains[0]
        target = rng.choice([3, 4])  # user turns: 6-8 turns in all
        moves = _domain_block(rng, d, 1)
        refines = [r for r in _REFINES[d] if (f"{d}.refine", r) not in moves]
        rng.shuffle(refines)
        while _turns(moves) < target - 1 and refines:
            moves.append((f"{d}.refine", refines.pop()))
        if _turns(moves) < target:
            moves.append(("noop", "end") if rng.random() < 0.5 or not refines else (f"{d}.refine", refines.pop()))
        if _turns(moves) < 4 and moves[-1][0] != "noop" and rng.random() < 0.4:
            moves.insert(2, ("noop", "mid"))  # a turn that needs no planning, mid-dialogue
        return moves
    target = rng.choice([4, 5])  # user turns: 8-10 turns in all
    moves = _domain_block(rng, domains[0], rng.choice([0, 1]))
    for d in domains[1:]:
        if d == "hotels" and "flights" in domains:
            moves.append(("hotels.intro", "after_flight"))
        elif d in ("restaurants", "attractions") and rng.random() < 0.6:
            moves.append((f"{d}.near_hotel", ""))
        else:
            moves += _domain_block(rng, d, 0, first=False)
    pool = [(f"{d}.refine", r) for d in domains for r in _REFINES[d] if not (d == "flights" and r == "change_date")]
    rng.shuffle(pool)
    if "flights" in domains and "hotels" in domains and rng.random() < 0.4:
        moves.append(("flights.return", ""))
    while _turns(moves) < target - 1 and pool:
        m = pool.pop()
        if m not in moves:
            moves.append(m)
    if _turns(moves) < target:
        moves.append(("noop", "end") if rng.random() < 0.6 else pool.pop())
    while _turns(moves) > 5:  # multi-domain: 8-10 turns in all
        drop = max(i for i, m in enumerate(moves) if m[0].endswith((".refine", ".return")) or m[0] == "noop")
        moves.pop(drop)
    return moves


def templates(category: str) -> list[Template]:
    """The `N_TEMPLATES` templates of a category, deterministic (independent of any seed)."""
    if category not in CATEGORIES:
        raise ValueError(f"unknown category {category!r}; choose from {', '.join(CATEGORIES)}")
    rng = random.Random(f"maslab-t1-templates-{category}")
    seen: set[tuple[Move, ...]] = set()
    out: list[Template] = []
    for _ in range(2000):
        moves = tuple(_make_template(category, rng))
        if moves not in seen:
            seen.add(moves)
            out.append(Template(f"{category}-{len(out):02d}", category, moves))
            if len(out) == N_TEMPLATES:
                break
    return out


def template_split(category: str) -> dict[str, list[Template]]:
    """Templates per split: 25 % train, 9 % validation, the rest test (as in the paper)."""
    ts = templates(category)
    n_train = round(len(ts) * TEMPLATE_SPLIT[0])
    n_val = max(1, round(len(ts) * TEMPLATE_SPLIT[1]))
    return {"train": ts[:n_train], "validation": ts[n_train:n_train + n_val], "test": ts[n_train + n_val:]}


_MOVES: dict[str, Callable[[_Builder, str], Any]] = {
    "flights.intro": _f_intro,
    "flights.refine": lambda b, v: _f_change_date(b) if v == "change_date" else _f_refine(b, v),
    "flights.return": lambda b, v: _f_return(b),
    "hotels.intro": _h_intro,
    "hotels.refine": lambda b, v: _h_change_dates(b) if v == "change_dates" else _h_refine(b, v),
    "restaurants.intro": _r_intro,
    "restaurants.refine": _r_refine,
    "restaurants.near_hotel": lambda b, v: _near_hotel(b, "restaurants") or _r_intro(b, "plain"),
    "attractions.intro": _a_intro,
    "attractions.refine": _a_refine,
    "attractions.near_hotel": lambda b, v: _near_hotel(b, "attractions") or _a_intro(b, "plain"),
}


def generate_dialogue(template: Template, *, kb: KnowledgeBase, split: str, seed: int, index: int = 0) -> Dialogue:
    """Fill `template` from the cities of `split` with the randomness of (seed, index)."""
    rng = random.Random(f"maslab-t1-dialogue-{seed}-{template.id}-{split}-{index}")
    b = _Builder(kb, rng, split)
    for kind, variant in template.moves:
        if kind == "noop":
            b.noop(end=variant == "end")
        else:
            _MOVES[kind](b, variant)
    turns = b.turns[:-1]  # the dialogue ends on the last user turn
    return Dialogue(
        id=f"t1-{template.id}-{split}-s{seed}-{index}", category=template.category,
        domains=CATEGORY_DOMAINS[template.category], split=split, template_id=template.id, seed=seed,
        kb_seed=kb.seed, kb_scale=kb.scale, placeholders=dict(b.fills), turns=turns)


def generate_dialogues(n: int, seed: int = 0, split: str = "test", categories: Sequence[str] | None = None,
                       kb: KnowledgeBase | None = None) -> list[Dialogue]:
    """`n` dialogues of `split`, categories taken round-robin, templates drawn from the split's templates."""
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; choose from {', '.join(SPLITS)}")
    cats = list(categories) if categories else list(CATEGORIES)
    for c in cats:
        if c not in CATEGORIES:
            raise ValueError(f"unknown category {c!r}; choose from {', '.join(CATEGORIES)}")
    kb = kb or get_kb()
    rng = random.Random(f"maslab-t1-dialogues-{seed}-{split}")
    out = []
    for i in range(n):
        cat = cats[i % len(cats)]
        template = rng.choice(template_split(cat)[split])
        out.append(generate_dialogue(template, kb=kb, split=split, seed=seed, index=i))
    log.debug("t1_dialogues_generated", n=n, split=split, seed=seed)
    return out

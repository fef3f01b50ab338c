"""The T1 knowledge-base data model: row schemas of the four entity tables and their vocabularies.

Attribute counts follow arXiv 2505.16986 (flight 35, hotel 43, restaurant 21, attraction 7 = 106);
the attribute *names* are ours (the paper does not publish them).
"""

from __future__ import annotations

from typing import Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AMENITIES",
    "ATTRACTION_TYPES",
    "DIETARY_FLAGS",
    "DOMAINS",
    "FLIGHT_EXTRAS",
    "ROW_MODELS",
    "SEAT_CLASSES",
    "Amenity",
    "Attraction",
    "AttractionType",
    "DietaryFlag",
    "Domain",
    "Flight",
    "FlightExtra",
    "Hotel",
    "Restaurant",
    "SeatClass",
    "bool_columns",
    "columns",
]

Domain = Literal["flights", "hotels", "restaurants", "attractions"]
DOMAINS: tuple[str, ...] = get_args(Domain)

SeatClass = Literal["economy", "business", "first"]
SEAT_CLASSES: tuple[str, ...] = get_args(SeatClass)

AttractionType = Literal[
    "touristy", "culinary", "historical", "scenic", "social", "art", "cultural", "guided", "sporting"
]
ATTRACTION_TYPES: tuple[str, ...] = get_args(AttractionType)

DietaryFlag = Literal[
    "nut_free", "dairy_free", "shellfish_free", "tomato_free", "nightshade_free",
    "gluten_free", "vegetarian", "vegan", "halal", "kosher",
]
DIETARY_FLAGS: tuple[str, ...] = get_args(DietaryFlag)

Amenity = Literal[
    "free_wifi", "free_parking", "pool", "gym", "spa", "restaurant", "bar", "room_service",
    "breakfast_included", "pet_friendly", "airport_shuttle", "business_center", "laundry",
    "air_conditioning", "kitchen", "balcony", "hot_tub", "sauna", "ev_charging",
    "wheelchair_accessible", "non_smoking", "family_rooms", "concierge", "front_desk_24h",
    "luggage_storage", "meeting_rooms", "kids_club", "ocean_view",
]
AMENITIES: tuple[str, ...] = get_args(Amenity)

FlightExtra = Literal[
    "refundable", "checked_bag_included", "carry_on_included", "wifi", "in_flight_meal",
    "in_flight_entertainment", "power_outlets", "extra_legroom", "priority_boarding", "lounge_access",
]
FLIGHT_EXTRAS: tuple[str, ...] = get_args(FlightExtra)


class _Row(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Flight(_Row):
    """One flight offer (one seat class); 35 attributes."""

    flight_id: int
    airline: str
    flight_number: str
    origin: str = Field(description="origin city")
    origin_airport: str
    origin_state: str
    destination: str = Field(description="destination city")
    destination_airport: str
    destination_state: str
    departure_date: str = Field(description="YYYY-MM-DD")
    departure_time: str = Field(description="HH:MM")
    arrival_date: str = Field(description="YYYY-MM-DD")
    arrival_time: str = Field(description="HH:MM")
    distance_miles: float = Field(description="great-circle origin→destination")
    duration_hours: float = Field(description="flying time at 450 mph")
    total_travel_hours: float = Field(description="flying time plus layovers")
    num_layovers: int
    layover_1_airport: str | None = None
    layover_1_hours: float | None = None
    layover_2_airport: str | None = None
    layover_2_hours: float | None = None
    seat_class: SeatClass
    price: float = Field(description="USD per passenger")
    seats_available: int
    aircraft: str
    refundable: bool
    checked_bag_included: bool
    carry_on_included: bool
    wifi: bool
    in_flight_meal: bool
    in_flight_entertainment: bool
    power_outlets: bool
    extra_legroom: bool
    priority_boarding: bool
    lounge_access: bool


class Hotel(_Row):
    """One hotel; 43 attributes (15 descriptive + 28 boolean amenities)."""

    hotel_id: int
    name: str
    city: str
    state: str
    neighborhood: str
    address: str
    latitude: float
    longitude: float
    stars: int = Field(description="1-5")
    rating: float = Field(description="1.0-5.0")
    num_reviews: int
    price_per_night: float = Field(description="USD, 20-2000")
    max_occupancy: int = Field(description="guests per room, 1-7")
    start_date_available: str
    end_date_available: str
    free_wifi: bool
    free_parking: bool
    pool: bool
    gym: bool
    spa: bool
    restaurant: bool
    bar: bool
    room_service: bool
    breakfast_included: bool
    pet_friendly: bool
    airport_shuttle: bool
    business_center: bool
    laundry: bool
    air_conditioning: bool
    kitchen: bool
    balcony: bool
    hot_tub: bool
    sauna: bool
    ev_charging: bool
    wheelchair_accessible: bool
    non_smoking: bool
    family_rooms: bool
    concierge: bool
    front_desk_24h: bool
    luggage_storage: bool
    meeting_rooms: bool
    kids_club: bool
    ocean_view: bool


class Restaurant(_Row):
    """One restaurant; 21 attributes (11 descriptive + 10 dietary booleans)."""

    restaurant_id: int
    name: str
    city: str
    neighborhood: str
    address: str
    latitude: float
    longitude: float
    cuisine: str
    rating: float
    num_reviews: int
    price_per_person: float
    nut_free: bool
    dairy_free: bool
    shellfish_free: bool
    tomato_free: bool
    nightshade_free: bool
    gluten_free: bool
    vegetarian: bool
    vegan: bool
    halal: bool
    kosher: bool


class Attraction(_Row):
    """One attraction; 7 attributes."""

    attraction_id: int
    name: str
    city: str
    neighborhood: str
    type: AttractionType
    latitude: float
    longitude: float


ROW_MODELS: dict[str, type[BaseModel]] = {
    "flights": Flight,
    "hotels": Hotel,
    "restaurants": Restaurant,
    "attractions": Attraction,
}


def columns(domain: str) -> list[str]:
    """The column names of a domain's table, in schema order."""
    return list(ROW_MODELS[domain].model_fields)


def bool_columns(domain: str) -> list[str]:
    """The boolean columns of a domain's table (stored as 0/1 in SQLite)."""
    return [n for n, f in ROW_MODELS[domain].model_fields.items() if f.annotation is bool]

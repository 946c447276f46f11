"""The generated world's fixed facts: countries, currencies, catalogue words, sizes and random streams.

Every random draw comes from `day_rng(seed, day, stream)`: one numpy generator per simulated day
and purpose, never global state or the clock. A day's output therefore depends only on the seed,
the scale, the day and the state the previous days left in the app database.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from enum import IntEnum

import numpy as np

SECONDS_PER_DAY = 86_400
READING_INTERVAL_S = 300
SLOTS_PER_DAY = SECONDS_PER_DAY // READING_INTERVAL_S


class Stream(IntEnum):
    """One independent random stream per purpose, so adding draws to one never shifts another."""

    FX = 1
    PRODUCTS_INIT = 2
    PRODUCT_UPDATES = 3
    NEW_CUSTOMERS = 4
    PROFILE_CHANGES = 5
    ERASURES = 6
    CHURN = 7
    ORDERS = 8
    SESSIONS = 9
    CLICK_DEFECTS = 10
    TELEMETRY = 11
    EXCURSIONS = 12
    TELEMETRY_DEFECTS = 13
    TARGETS = 14
    POPULARITY = 15
    DEVICES = 16


def day_rng(seed: int, day: int, stream: Stream) -> np.random.Generator:
    """The generator for one (day, purpose); `day` may also be a month index for monthly streams."""
    return np.random.default_rng([seed, day, int(stream)])


# (ISO 3166 country, ISO 4217 currency, share of new customers)
COUNTRIES: tuple[tuple[str, str, float], ...] = (
    ("DE", "EUR", 0.22),
    ("FR", "EUR", 0.14),
    ("NL", "EUR", 0.08),
    ("ES", "EUR", 0.08),
    ("IT", "EUR", 0.09),
    ("GB", "GBP", 0.12),
    ("US", "USD", 0.10),
    ("SE", "SEK", 0.05),
    ("PL", "PLN", 0.05),
    ("CH", "CHF", 0.04),
    ("DK", "DKK", 0.03),
)
COUNTRY_CURRENCY = {code: currency for code, currency, _ in COUNTRIES}
COUNTRY_CODES = tuple(code for code, _, _ in COUNTRIES)
COUNTRY_WEIGHTS = np.array([share for _, _, share in COUNTRIES]) / sum(share for _, _, share in COUNTRIES)
CITIES = {
    "DE": ("Berlin", "Hamburg", "Munich", "Cologne"),
    "FR": ("Paris", "Lyon", "Marseille", "Lille"),
    "NL": ("Amsterdam", "Rotterdam", "Utrecht"),
    "ES": ("Madrid", "Barcelona", "Valencia"),
    "IT": ("Rome", "Milan", "Turin", "Naples"),
    "GB": ("London", "Manchester", "Leeds", "Bristol"),
    "US": ("New York", "Chicago", "Boston", "Seattle"),
    "SE": ("Stockholm", "Gothenburg", "Malmo"),
    "PL": ("Warsaw", "Krakow", "Gdansk"),
    "CH": ("Zurich", "Geneva", "Basel"),
    "DK": ("Copenhagen", "Aarhus", "Odense"),
}
STREETS = ("Main Street", "Station Road", "Harbour Lane", "Market Square", "Park Avenue", "Mill Road",
           "Church Street", "Garden Way", "River Walk", "Oak Street", "Bridge Street", "Hill Road")
FIRST_NAMES = ("Anna", "Ben", "Clara", "David", "Elena", "Felix", "Greta", "Hugo", "Ines", "Jonas", "Karin",
               "Luca", "Maya", "Nils", "Olivia", "Pablo", "Quinn", "Rosa", "Sven", "Tara", "Umar", "Vera",
               "Wim", "Xenia", "Yusuf", "Zoe", "Marta", "Piotr", "Sofia", "James")
LAST_NAMES = ("Schmidt", "Martin", "de Vries", "Garcia", "Rossi", "Smith", "Johnson", "Andersson", "Nowak",
              "Muller", "Jensen", "Bernard", "Jansen", "Lopez", "Bianchi", "Taylor", "Brown", "Larsson",
              "Kowalski", "Keller", "Nielsen", "Dubois", "Visser", "Fernandez", "Ricci", "Wilson")
EMAIL_DOMAINS = ("example.com", "mail.example", "post.example")

# FX: currency -> (rate per 1 EUR at the start, daily volatility of the log rate)
FX_START: dict[str, tuple[float, float]] = {
    "EUR": (1.0, 0.0),
    "USD": (1.0834, 0.0045),
    "GBP": (0.8571, 0.0035),
    "SEK": (11.42, 0.0050),
    "PLN": (4.312, 0.0040),
    "CHF": (0.9412, 0.0035),
    "DKK": (7.4583, 0.0002),  # pegged to the euro
}
CURRENCIES = tuple(FX_START)

# category -> (list price range in EUR, item names)
CATEGORIES: dict[str, tuple[tuple[float, float], tuple[str, ...]]] = {
    "dairy": ((0.9, 8.0), ("Whole Milk", "Greek Yogurt", "Butter", "Cheddar", "Mozzarella", "Skyr")),
    "meat": ((4.0, 26.0), ("Chicken Breast", "Beef Mince", "Pork Chops", "Lamb Shoulder", "Sausages")),
    "seafood": ((6.0, 34.0), ("Salmon Fillet", "Prawns", "Cod Loin", "Smoked Mackerel", "Mussels")),
    "produce": ((0.8, 6.0), ("Baby Spinach", "Strawberries", "Avocados", "Cherry Tomatoes", "Blueberries")),
    "bakery": ((1.0, 6.5), ("Sourdough Loaf", "Croissants", "Rye Bread", "Bagels", "Cinnamon Buns")),
    "frozen": ((2.0, 12.0), ("Frozen Peas", "Ice Cream", "Fish Fingers", "Pizza Margherita", "Dumplings")),
    "ready_meals": ((3.5, 14.0), ("Lasagne", "Chicken Curry", "Pad Thai", "Mac and Cheese", "Risotto")),
    "beverages": ((0.9, 10.0), ("Oat Drink", "Orange Juice", "Cold Brew", "Kombucha", "Sparkling Water")),
}
BRANDS = ("Nordic", "FreshCo", "Alpine", "Harbour", "Greenfield", "Urban Pantry", "Coastal", "Verde")
SIZES = ("250g", "500g", "1kg", "1l", "6-pack", "family size")


@dataclass(frozen=True)
class Size:
    """Volumes at a scale: per-day rates are constant, so more days means proportionally more."""

    scale: float

    @property
    def initial_customers(self) -> int:
        return max(5, round(6000 * self.scale))

    @property
    def new_customers_per_day(self) -> float:
        return 135 * self.scale

    @property
    def orders_per_day(self) -> float:
        return 3333.3 * self.scale

    @property
    def logged_in_browse_per_day(self) -> float:
        return 1750 * self.scale

    @property
    def anonymous_browse_per_day(self) -> float:
        return 1150 * self.scale

    @property
    def products(self) -> int:
        return round(200 * max(self.scale, 0.1))

    @property
    def devices(self) -> int:
        return max(3, round(40 * self.scale))


def device_ids(count: int) -> list[str]:
    """Warehouses first (one in five, at least one), then vans."""
    warehouses = max(1, count // 5)
    return [f"wh-{i + 1:02d}" for i in range(warehouses)] + [f"van-{i + 1:03d}" for i in range(count - warehouses)]


@dataclass(frozen=True)
class Clock:
    """Turns (day index, second of day) into the sources' timestamp texts."""

    start: dt.date

    def date(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def db_ts(self, day: int, second: int) -> str:
        """`YYYY-MM-DD HH:MM:SS`; a second past midnight rolls into the next day."""
        extra, second = divmod(int(second), SECONDS_PER_DAY)
        hours, rest = divmod(second, 3600)
        return f"{self.date(day + extra).isoformat()} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}"

    def iso_ts(self, day: int, second: int) -> str:
        """`YYYY-MM-DDTHH:MM:SSZ`."""
        return self.db_ts(day, second).replace(" ", "T") + "Z"

    def iso_times(self, day: int, seconds: np.ndarray) -> list[str]:
        """ISO timestamps for many seconds within one day (fast path for the landing files)."""
        prefix = self.date(day).isoformat()
        hours, rest = np.divmod(np.asarray(seconds, dtype=np.int64), 3600)
        minutes, secs = np.divmod(rest, 60)
        return [f"{prefix}T{h:02d}:{m:02d}:{s:02d}Z" for h, m, s in zip(hours.tolist(), minutes.tolist(), secs.tolist(),
                                                                           strict=True)]

    def day_bounds(self, day: int) -> tuple[str, str]:
        return self.db_ts(day, 0), self.db_ts(day + 1, 0)


def activity_seconds(rng: np.random.Generator, count: int, earliest_hour: int = 1) -> np.ndarray:
    """Seconds of the day for shopping activity: busiest mornings and evenings, nothing before `earliest_hour`."""
    weights = np.array([0, 0.2, 0.1, 0.1, 0.2, 0.5, 1.5, 3, 4, 3, 2.5, 3, 4, 3.5, 2.5, 2.5, 3, 4, 5, 6, 6, 5, 3, 1.5])
    weights[:earliest_hour] = 0
    hours = rng.choice(24, size=count, p=weights / weights.sum())
    return hours * 3600 + rng.integers(0, 3600, size=count)


@dataclass(frozen=True)
class Day:
    """One simulated day: its index, the world's parameters and that day's FX rates."""

    seed: int
    index: int
    clock: Clock
    size: Size
    rates: dict[str, float]
    devices: tuple[str, ...]

    def rng(self, stream: Stream) -> np.random.Generator:
        return day_rng(self.seed, self.index, stream)

    def ts(self, second: int) -> str:
        return self.clock.db_ts(self.index, second)

    @property
    def vans(self) -> tuple[str, ...]:
        return tuple(d for d in self.devices if d.startswith("van-"))

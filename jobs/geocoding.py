"""Geocoders: an address and a city in, a point on the map (or None) out.

One small interface, two adapters chosen by the GEOCODER setting:

- `gazetteer` (default): the demo city's districts and streets from a data file
  shipped with the project (jobs/data/), offline; `make run` and the tests use it.
- `nominatim`: OpenStreetMap's Nominatim through geopy, within its usage policy:
  a user agent naming the app, at most one request per second per process
  (geopy's RateLimiter), answers cached in Django's cache.

Callers go through jobs.places.place_resolve, which turns "not found" into a field error.
"""

import hashlib
import json
import logging
import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Protocol
from urllib.parse import urlsplit

from django.conf import settings
from django.core.cache import cache
from geopy.distance import great_circle
from geopy.exc import GeopyError
from geopy.extra.rate_limiter import RateLimiter
from geopy.geocoders import Nominatim

logger = logging.getLogger(__name__)

GAZETTEER_FILE = Path(__file__).resolve().parent / "data" / "gazetteer_amsterdam.json"
NOMINATIM_MIN_DELAY_SECONDS = 1.0  # Nominatim's usage policy: at most one request per second.
NOMINATIM_TIMEOUT_SECONDS = 5
MISS_CACHE_SECONDS = 24 * 3600  # "not found" is remembered for a day, a found place longer.


@dataclass(frozen=True)
class Place:
    latitude: float
    longitude: float
    label: str  # what the geocoder understood, e.g. "Damrak, Centrum, Amsterdam"


class GeocoderUnavailable(Exception):
    """The geocoding service did not answer (network, timeout, refusal): not the same as "no such place"."""


class Geocoder(Protocol):
    name: str

    def geocode(self, *, address: str, city: str) -> Place | None: ...


# --- the built-in gazetteer -----------------------------------------------------------

_POSTCODE = re.compile(r"\b\d{4} ?[a-z]{2}\b")  # Dutch: 1012 AB
# A house number with what may follow it: 12, 12a, 263-267, 12-ii, 12 hs, 12 bis.
_HOUSE_NUMBER = re.compile(r"\b(?:nr|no)?\s*\d+\w*(?:[-/]\w+)?(?:\s+(?:hs|huis|bg|i{1,3}|iv|bis|[a-z])\b)?")
_COUNTRY = re.compile(r"\b(?:the netherlands|netherlands|nederland|holland|nl)\b")


def normalize(text: str) -> str:
    """Casefolded, accents off, dots and apostrophes dropped, other punctuation a space, spaces collapsed."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(char for char in text if not unicodedata.combining(char)).casefold()
    text = re.sub(r"[.'’`]", "", text)
    text = re.sub(r"[^\w\s]|_", " ", text)
    return " ".join(text.split())


class GazetteerGeocoder:
    """Exact names after normalizing, so "PRINSENGRACHT  263-267, 1016 GV Amsterdam" finds Prinsengracht."""

    name = "gazetteer"

    def __init__(self, path: Path = GAZETTEER_FILE):
        data = json.loads(path.read_text(encoding="utf-8"))
        self.city = data["city"]
        self._city_names = {normalize(name) for name in [data["city"], *data.get("city_aliases", [])]}
        self._places: dict[str, Place] = {}
        for district in data["districts"]:
            place = Place(district["lat"], district["lon"], f"{district['name']}, {self.city}")
            self._index(place, district)
        for street in data["streets"]:
            place = Place(street["lat"], street["lon"], f"{street['name']}, {street['district']}, {self.city}")
            self._index(place, street)

    def _index(self, place: Place, entry: dict) -> None:
        for name in [entry["name"], *entry.get("aliases", [])]:
            self._places[normalize(name)] = place

    def geocode(self, *, address: str, city: str) -> Place | None:
        if normalize(city) not in self._city_names:
            return None
        # "Damrak 1, Centrum": the first part that names a known place wins.
        for part in address.split(","):
            key = self._strip_extras(normalize(part))
            if key in self._places:
                return self._places[key]
        return None

    def nearest(self, *, latitude: float, longitude: float, within_km: float) -> Place | None:
        """The known place closest to a point, if one is that close: describes points set without an address."""
        places = set(self._places.values())
        distance = {place: great_circle((latitude, longitude), (place.latitude, place.longitude)).km for place in places}
        closest = min(places, key=distance.__getitem__, default=None)
        return closest if closest is not None and distance[closest] <= within_km else None

    def _strip_extras(self, text: str) -> str:
        text = _POSTCODE.sub(" ", text)
        text = _COUNTRY.sub(" ", text)
        words = [word for word in text.split() if word not in self._city_names]
        text = _HOUSE_NUMBER.sub(" ", " ".join(words))
        return " ".join(text.split())


# --- Nominatim through geopy -------------------------------------------------------


class NominatimGeocoder:
    name = "nominatim"

    def __init__(self, *, url: str, user_agent: str, country_codes: str = ""):
        parts = urlsplit(url)
        self._nominatim = Nominatim(
            user_agent=user_agent,
            domain=(parts.netloc + parts.path).rstrip("/"),
            scheme=parts.scheme or "https",
            timeout=NOMINATIM_TIMEOUT_SECONDS,
        )
        # One limiter per process (this object is built once, see get_geocoder); no retries
        # inside a page request: the user gets an answer and may try again.
        self._geocode = RateLimiter(
            self._nominatim.geocode, min_delay_seconds=NOMINATIM_MIN_DELAY_SECONDS, max_retries=0, swallow_exceptions=False
        )
        self.country_codes = [code.strip() for code in country_codes.split(",") if code.strip()]

    def geocode(self, *, address: str, city: str) -> Place | None:
        try:
            location = self._geocode(f"{address}, {city}", exactly_one=True, country_codes=self.country_codes or None)
        except GeopyError as exc:
            raise GeocoderUnavailable(str(exc)) from exc
        if location is None:
            return None
        return Place(location.latitude, location.longitude, location.address)


class CachedGeocoder:
    """Remembers each answer (found or not) in Django's cache, keyed by the normalized query."""

    def __init__(self, inner: Geocoder, *, timeout: int):
        self.inner, self.timeout, self.name = inner, timeout, inner.name

    def geocode(self, *, address: str, city: str) -> Place | None:
        query = f"{normalize(address)}|{normalize(city)}"
        key = f"geocode:v1:{self.name}:{hashlib.sha256(query.encode()).hexdigest()}"
        cached = cache.get(key)
        if cached is not None:
            return Place(*cached) if cached else None
        place = self.inner.geocode(address=address, city=city)
        if place is None:
            cache.set(key, (), MISS_CACHE_SECONDS)
        else:
            cache.set(key, (place.latitude, place.longitude, place.label), self.timeout)
        return place


def get_geocoder() -> Geocoder:
    """The geocoder the settings name; one instance per configuration and process (the rate limit is in it)."""
    return _build_geocoder(
        settings.GEOCODER,
        settings.GEOCODER_NOMINATIM_URL,
        settings.GEOCODER_USER_AGENT,
        settings.GEOCODER_COUNTRY_CODES,
        settings.GEOCODER_CACHE_SECONDS,
    )


@lru_cache(maxsize=1)
def gazetteer() -> GazetteerGeocoder:
    """The built-in gazetteer, whatever GEOCODER says: it also names the places near a bare point."""
    return GazetteerGeocoder()


@lru_cache(maxsize=4)
def _build_geocoder(kind: str, url: str, user_agent: str, country_codes: str, cache_seconds: int) -> Geocoder:
    if kind == "gazetteer":
        return gazetteer()
    if kind == "nominatim":
        nominatim = NominatimGeocoder(url=url, user_agent=user_agent, country_codes=country_codes)
        return CachedGeocoder(nominatim, timeout=cache_seconds)
    raise ValueError(f"GEOCODER must be 'gazetteer' or 'nominatim', not {kind!r}")

"""Where something is: the one rule that turns what a user typed into coordinates.

Used by the job form, the job API's serializer and the cleaner's profile, so an
address is found (or refused) the same way everywhere.
"""

import logging

from django.core.exceptions import ValidationError
from geopy.distance import great_circle

from .geocoding import GeocoderUnavailable, Place, get_geocoder

logger = logging.getLogger(__name__)

# How far the map's pin may be dragged from where the address was found: enough for a
# long street or a courtyard, not enough to put a job in another part of town by mistake.
PIN_MAX_DISTANCE_KM = 1.0


def place_resolve(
    *,
    address: str,
    city: str,
    latitude: float | None = None,
    longitude: float | None = None,
    address_field: str = "address",
) -> Place:
    """The coordinates given (API clients may have them), else the address geocoded.

    Raises ValidationError on `address_field` when the address cannot be found: a
    job is never placed somewhere the client did not mean.
    """
    if latitude is not None and longitude is not None:
        return Place(latitude, longitude, address)
    if latitude is not None or longitude is not None:
        missing = "longitude" if longitude is None else "latitude"
        raise ValidationError({missing: ["Give both latitude and longitude, or neither to have the address looked up."]})
    try:
        place = get_geocoder().geocode(address=address, city=city)
    except GeocoderUnavailable as exc:
        logger.warning("geocoder unavailable for %r, %r: %s", address, city, exc)
        raise ValidationError(
            {address_field: ["We could not look the address up just now. Please try again in a minute."]}
        ) from None
    if place is None:
        raise ValidationError(
            {
                address_field: [
                    f"We could not find that address in {city.strip() or 'that city'}: check the street or "
                    "district name (a house number and postcode after it are fine)."
                ]
            }
        )
    return place


def place_pin_moved(*, place: Place, latitude: float, longitude: float, address_field: str = "address") -> Place:
    """The point the client dragged the pin to, if it is still near the address found."""
    distance_km = great_circle((place.latitude, place.longitude), (latitude, longitude)).km
    if distance_km > PIN_MAX_DISTANCE_KM:
        raise ValidationError(
            {
                address_field: [
                    f"The pin is {distance_km:.1f} km from {place.label}. Move it back near the address, "
                    "or correct the address."
                ]
            }
        )
    return Place(latitude, longitude, place.label)

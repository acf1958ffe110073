"""Where something is: the one rule that turns what a user typed into coordinates.

Used by the job form, the job API's serializer and the cleaner's profile, so an
address is found (or refused) the same way everywhere.
"""

import logging

from django.core.exceptions import ValidationError

from .geocoding import GeocoderUnavailable, Place, get_geocoder

logger = logging.getLogger(__name__)


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

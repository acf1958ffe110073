"""Writes to a cleaner's own profile: what decides which job offers they get.

Eligibility is computed from the profile row whenever a job is posted
(selectors.cleaners_eligible_for_job), so a change here applies to the next job at once.
"""

from datetime import date

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from project.exceptions import ActionForbidden
from .models import CleanerProfile, CleanerUnavailability
from .places import place_resolve
from .services import _full_clean


def _own_profile(cleaner, *, lock: bool = False) -> CleanerProfile:
    profiles = CleanerProfile.objects.select_for_update() if lock else CleanerProfile.objects
    try:
        return profiles.get(user_id=cleaner.pk)
    except CleanerProfile.DoesNotExist:
        raise ActionForbidden("Only cleaners have a profile.") from None


@transaction.atomic
def cleaner_profile_update(
    *,
    cleaner,
    service_types: frozenset[str],
    working_days: frozenset[str],
    service_radius_km: float,
    service_area_address: str,
    service_area_city: str,
) -> CleanerProfile:
    """Change what the cleaner offers, when and where; the area's centre is geocoded when its address changes.

    Limits (radius, lengths, choices) are the model fields' own. A profile placed by
    coordinates alone (no address yet) keeps its point until an address is given.
    """
    profile = _own_profile(cleaner, lock=True)
    address, city = service_area_address.strip(), service_area_city.strip()
    if (address, city) != (profile.service_area_address, profile.service_area_city):
        if not address:
            raise ValidationError({"service_area_address": ["Give the street or district your area is centred on."]})
        if not city:
            raise ValidationError({"service_area_city": ["Give the city of that address."]})
        place = place_resolve(address=address, city=city, address_field="service_area_address")
        profile.latitude, profile.longitude = place.latitude, place.longitude
    profile.service_types = frozenset(service_types)
    profile.working_days = frozenset(working_days)
    profile.service_radius_km = service_radius_km
    profile.service_area_address, profile.service_area_city = address, city
    _full_clean(profile, exclude=["user"])
    profile.save(
        update_fields=[
            "service_types", "working_days", "service_radius_km", "service_area_address", "service_area_city",
            "latitude", "longitude",
        ]
    )
    return profile


@transaction.atomic
def cleaner_day_off_add(*, cleaner, day: date) -> CleanerUnavailability:
    """Idempotent: adding a day already off returns it."""
    profile = _own_profile(cleaner)
    if day < timezone.localdate():
        raise ValidationError({"day": ["A day off must be today or later."]})
    day_off, _created = CleanerUnavailability.objects.get_or_create(cleaner=profile, date=day)
    return day_off


@transaction.atomic
def cleaner_day_off_remove(*, cleaner, day: date) -> bool:
    """True if that day was off; removing a day that is not off changes nothing."""
    profile = _own_profile(cleaner)
    deleted, _by_model = CleanerUnavailability.objects.filter(cleaner=profile, date=day).delete()
    return deleted > 0

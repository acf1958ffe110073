"""Fair caps for job offers: at most N job_created pushes per cleaner in any rolling hour.

N is JOB_OFFER_PUSHES_PER_HOUR, or the cleaner's own JobOfferPushCap (0 to 60). A push (or
the digest of held offers) takes a slot, recorded as a JobOfferPushSlot when it is claimed;
the hour counts those. Offers beyond the cap are held for one digest push, due when a slot
frees. Which offers get the slots is decided by relevance, not arrival alone: nearest first
(the offer's distance, metadata["why"]), then the higher budget (the marketplace has no
client rating to rank by).
"""

import math
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection

from project.exceptions import InvalidInput

from ..models import ChannelDelivery, JobOfferPushCap, JobOfferPushSlot

HOUR = timedelta(hours=1)
PER_HOUR_MAX = 60
# Why a held or due offer push is cancelled when the cleaner's cap is 0.
PUSHES_OFF = "job offer pushes are off (0 an hour)"
# Advisory lock namespace (high 32 bits): one cleaner's slots are counted and taken by one claim at a time.
_LOCK_NAMESPACE = 0x6F666672 << 32


def job_offer_push_cap_check(per_hour) -> int | None:
    """The one rule of the setting, for every door (API, preferences page): 0 to 60, or None for the default."""
    if per_hour is None:
        return None
    if isinstance(per_hour, bool) or not isinstance(per_hour, int) or not 0 <= per_hour <= PER_HOUR_MAX:
        raise InvalidInput(
            f"Job offer pushes per hour must be a whole number from 0 to {PER_HOUR_MAX}, or empty for the default.",
            field="job_offer_pushes_per_hour",
        )
    return per_hour


def job_offer_push_limits(*, user_ids) -> dict[int, int]:
    overrides = dict(JobOfferPushCap.objects.filter(user_id__in=user_ids).values_list("user_id", "per_hour"))
    return {user_id: overrides.get(user_id, settings.JOB_OFFER_PUSHES_PER_HOUR) for user_id in user_ids}


def job_offer_slots_lock(*, user_ids) -> None:
    """Serialize the count-then-take of these cleaners' slots with every other claim (until commit)."""
    if connection.vendor != "postgresql" or not user_ids:  # SQLite: one writer at a time anyway
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_advisory_xact_lock(k) FROM unnest(%s::bigint[]) AS k ORDER BY k",
            [[_LOCK_NAMESPACE | user_id for user_id in sorted(user_ids)]],
        )


def job_offer_slots_taken(*, user_ids, now: datetime) -> dict[int, list[datetime]]:
    """Per cleaner, when each slot of the last hour was taken, oldest first."""
    taken = {user_id: [] for user_id in user_ids}
    rows = JobOfferPushSlot.objects.filter(user_id__in=user_ids, taken_at__gt=now - HOUR).order_by("taken_at")
    for user_id, taken_at in rows.values_list("user_id", "taken_at"):
        taken[user_id].append(taken_at)
    return taken


def job_offer_slots_take(*, user_ids: list[int], now: datetime) -> None:
    JobOfferPushSlot.objects.bulk_create([JobOfferPushSlot(user_id=user_id, taken_at=now) for user_id in user_ids])


def job_offer_slots_purge(*, now: datetime) -> int:
    """Slots out of every hour count for nothing (one DELETE: nothing refers to a slot)."""
    deleted, _ = JobOfferPushSlot.objects.filter(taken_at__lte=now - HOUR).delete()
    return deleted


def next_free_slot_at(taken: list[datetime], limit: int) -> datetime:
    """When the hour holds fewer than `limit` slots again (`taken` oldest first, at least `limit` of them)."""
    return taken[len(taken) - limit] + HOUR


def offer_relevance(delivery: ChannelDelivery, budget) -> tuple:
    """Sort key, most relevant first: nearest, then the higher budget, then the older offer."""
    why = (delivery.notification.metadata or {}).get("why") or {}
    distance = why.get("distance_km")
    return (math.inf if distance is None else float(distance), -(budget or 0), delivery.notification_id)

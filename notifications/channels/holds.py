"""Holding deliveries back, decided when they are claimed (dispatching._claim), never in the fan-out's INSERT.

A 100,000-recipient fan-out costs what it did: types without a rule pay a loop in Python at
their claim, nothing more. The reasons to hold, tried in this order, each one function below:
a hold that ends at a known time (_hold_until: quiet hours), the job offer push
cap (caps.py), and the type's digest window (catalog.DIGEST_RULES).

A held delivery is `held` and points at the `open` ChannelDigest of its (user, channel, batch
key); one such row per batch (a partial unique index, where concurrent claims meet). For a
window, that row is the window itself: the delivery that opened it went at once, the ones
that arrive before it ends are held. Sending the digests is digests.py's.
"""

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.db.models import Q

from jobs.models import CleaningJob

from ..catalog import (
    DIGEST_RULES,
    JOB_OFFERS_BATCH_KEY,
    QUIET_HOURS_BATCH_KEY,
    Channel,
    DigestKind,
    NotificationType,
    digest_batch_key_for,
    digest_window_seconds,
)
from ..models import ChannelDelivery, ChannelDigest, DeliveryState, DigestReason, DigestState
from .. import quiet_hours
from . import caps

BatchOf = tuple[int, str, str]  # (user id, channel, batch key)


@dataclass(frozen=True)
class Hold:
    """A delivery held until a known time, in the digest of `batch_key` (opened due at `until` if none is open)."""

    batch_key: str
    kind: str
    until: datetime


def deliveries_hold(rows: list[ChannelDelivery], *, now: datetime) -> tuple[list[ChannelDelivery], dict[int, str]]:
    """Of the live rows a claim is about to send: (those to send now, {pk: why cancelled}).

    The others are saved `held` in their digest. Runs inside the claim's transaction.
    """
    held: dict[int, ChannelDigest] = {}
    until = _hold_until(rows, now=now)
    if until:
        held |= _hold_in_digests(rows, until, now=now)
    capped, cancelled = _hold_for_job_offer_cap([row for row in rows if row.pk not in held], now=now)
    held |= capped
    held |= _hold_in_window([row for row in rows if row.pk not in held and row.pk not in cancelled], now=now)
    by_digest = defaultdict(list)
    for pk, digest in held.items():
        by_digest[digest.pk].append(pk)
    for digest_id, pks in by_digest.items():
        ChannelDelivery.objects.filter(pk__in=pks).update(state=DeliveryState.HELD, digest_id=digest_id, updated_at=now)
    return [row for row in rows if row.pk not in held and row.pk not in cancelled], cancelled


def _hold_until(rows: list[ChannelDelivery], *, now: datetime) -> dict[int, Hold]:
    """Quiet hours: a recipient inside their window gets no email or push until it ends, then one
    digest per channel (batch key "quiet"); urgent ones and payments go through (quiet_hours_bypassed).
    Rows held here skip the cap and the windows."""
    waiting = [row for row in rows if not quiet_hours.quiet_hours_bypassed(row.notification)]
    if not waiting:
        return {}
    ends = quiet_hours.quiet_hours_end(user_ids={row.notification.recipient_id for row in waiting}, at=now)
    return {
        row.pk: Hold(QUIET_HOURS_BATCH_KEY, DigestKind.QUIET_HOURS, ends[row.notification.recipient_id])
        for row in waiting
        if row.notification.recipient_id in ends
    }


def _hold_in_digests(rows: list[ChannelDelivery], holds: dict[int, Hold], *, now: datetime) -> dict[int, ChannelDigest]:
    wanted = {}
    for row in rows:
        if row.pk in holds:
            wanted.setdefault((row.notification.recipient_id, row.channel, holds[row.pk].batch_key), holds[row.pk])

    def fresh(batch: BatchOf) -> ChannelDigest:
        hold = wanted[batch]
        return digest_row(batch, reason=DigestReason.UNTIL, kind=hold.kind, ends_at=hold.until, now=now)

    digests = _open_digests(set(wanted), fresh)
    return {row.pk: digests[(row.notification.recipient_id, row.channel, holds[row.pk].batch_key)] for row in rows if row.pk in holds}


def _hold_for_job_offer_cap(rows: list[ChannelDelivery], *, now: datetime) -> tuple[dict[int, ChannelDigest], dict[int, str]]:
    """Job offer pushes beyond the cleaner's hourly cap wait for one digest push; the slots go to the most relevant."""
    offers = defaultdict(list)
    for row in rows:
        if row.channel == Channel.PUSH and row.notification.notification_type == NotificationType.JOB_CREATED:
            offers[row.notification.recipient_id].append(row)
    if not offers:
        return {}, {}
    users = sorted(offers)
    caps.job_offer_slots_lock(user_ids=users)
    limits = caps.job_offer_push_limits(user_ids=users)
    taken = caps.job_offer_slots_taken(user_ids=users, now=now)
    waiting = _lock_open({(user, Channel.PUSH, JOB_OFFERS_BATCH_KEY) for user in users})
    free = {user: 0 if (user, Channel.PUSH, JOB_OFFERS_BATCH_KEY) in waiting else max(limits[user] - len(taken[user]), 0) for user in users}
    # Ranking costs one query, and only when someone has more offers than free slots.
    crowded = [row for user in users if len(offers[user]) > free[user] for row in offers[user]]
    budgets = dict(CleaningJob.objects.filter(pk__in={row.notification.job_id for row in crowded}).values_list("pk", "budget")) if crowded else {}
    to_hold, cancelled, slots, due = {}, {}, [], {}
    for user in users:
        if limits[user] == 0:
            cancelled |= {row.pk: caps.PUSHES_OFF for row in offers[user]}
            continue
        ranked = sorted(offers[user], key=lambda row: caps.offer_relevance(row, budgets.get(row.notification.job_id)))
        now_rows, later = ranked[: free[user]], ranked[free[user] :]
        slots += [user] * len(now_rows)
        if later:
            batch = (user, Channel.PUSH, JOB_OFFERS_BATCH_KEY)
            if batch not in waiting:  # the digest opens due when the hour frees a slot
                due[batch] = caps.next_free_slot_at(taken[user] + [now] * len(now_rows), limits[user])
            to_hold |= {row.pk: batch for row in later}
    caps.job_offer_slots_take(user_ids=slots, now=now)
    if not to_hold:
        return {}, cancelled

    def fresh(batch: BatchOf) -> ChannelDigest:
        return digest_row(batch, reason=DigestReason.JOB_OFFER_CAP, kind=DigestKind.JOB_OFFERS, ends_at=due[batch], now=now)

    digests = waiting | _open_digests(set(due), fresh)
    return {pk: digests[batch] for pk, batch in to_hold.items()}, cancelled


def _hold_in_window(rows: list[ChannelDelivery], *, now: datetime) -> dict[int, ChannelDigest]:
    """The first delivery of a batch goes at once and opens its window; the rest of the window is held."""
    batched = [(row, batch) for row in rows if (batch := _window_batch(row))]
    if not batched:
        return {}
    opener, types = {}, {}
    for row, batch in batched:
        opener.setdefault(batch, row.pk)
        types[batch] = row.notification.notification_type

    def fresh(batch: BatchOf) -> ChannelDigest:
        ends_at = now + timedelta(seconds=digest_window_seconds(types[batch]))
        return digest_row(batch, reason=DigestReason.WINDOW, kind=types[batch], ends_at=ends_at, now=now, opened_by=opener[batch])

    windows = _open_digests(set(opener), fresh)
    ended = [window.pk for window in windows.values() if window.window_ends_at <= now]
    not_empty = set(
        ChannelDelivery.objects.filter(digest_id__in=ended, state=DeliveryState.HELD).values_list("digest_id", flat=True).distinct()
    ) if ended else set()
    held, restarted = {}, {}
    for row, batch in batched:
        window = windows[batch]
        if window.opened_by_delivery_id == row.pk:
            continue  # it opened the window (or is its retry): it goes now
        if window.window_ends_at <= now and window.pk not in not_empty:
            # The window ended with nothing held: it closes, and this one goes at once, opening the next.
            window.window_ends_at = window.due_at = now + timedelta(seconds=digest_window_seconds(types[batch]))
            window.opened_by_delivery_id, window.updated_at = row.pk, now
            restarted[window.pk] = window
            continue
        held[row.pk] = window
    if restarted:
        ChannelDigest.objects.bulk_update(list(restarted.values()), ["window_ends_at", "due_at", "opened_by_delivery_id", "updated_at"])
    return held


def _window_batch(row: ChannelDelivery) -> BatchOf | None:
    notification = row.notification
    if notification.notification_type not in DIGEST_RULES:
        return None
    try:
        batch_key = digest_batch_key_for(notification.notification_type, notification.metadata or {})
    except (KeyError, IndexError):  # metadata without the key's fields: sent on its own
        return None
    return (notification.recipient_id, row.channel, batch_key)


def digest_row(batch: BatchOf, *, reason: str, kind: str, ends_at: datetime, now: datetime, opened_by: int | None = None) -> ChannelDigest:
    """A new open digest of a batch (unsaved), due when it ends."""
    user_id, channel, batch_key = batch
    return ChannelDigest(
        user_id=user_id, channel=channel, batch_key=batch_key, reason=reason, kind=kind, state=DigestState.OPEN,
        opened_by_delivery_id=opened_by, window_ends_at=ends_at, due_at=ends_at, updated_at=now,
    )


def _open_digests(batches: set[BatchOf], fresh) -> dict[BatchOf, ChannelDigest]:
    """The open digest of each batch, locked; a missing one is created (`fresh(batch)`). Concurrent claims
    meet at the unique index: the second INSERT waits for the first and then does nothing."""
    if not batches:
        return {}
    found = _lock_open(batches)
    missing = batches - set(found)
    if missing:
        ChannelDigest.objects.bulk_create([fresh(batch) for batch in missing], ignore_conflicts=True)
        found |= _lock_open(missing)
    return found


def _lock_open(batches: set[BatchOf]) -> dict[BatchOf, ChannelDigest]:
    if not batches:
        return {}
    # Per (channel, batch key), its users: one IN list each (a cap's batch key is the same for every user).
    users = defaultdict(set)
    for user, channel, key in batches:
        users[(channel, key)].add(user)
    exact = reduce(or_, (Q(channel=channel, batch_key=key, user_id__in=ids) for (channel, key), ids in users.items()))
    rows = ChannelDigest.objects.select_for_update().filter(exact, state=DigestState.OPEN).order_by("pk")
    return {(digest.user_id, digest.channel, digest.batch_key): digest for digest in rows}

"""Sending deliveries: the beat's pick of due rows, the claim, the send, the outcome, the retries.

Exactly-once as far as the protocols allow. A send task claims its rows first (state
`sending`, attempts + 1, committed) and only then talks to the network; the outcome is
committed after: for an email the moment the server accepts it, for pushes when the
batch's parallel requests are answered. A worker that dies between the provider's
acceptance and that commit leaves the row `sending`: after CHANNEL_SENDING_LEASE_SECONDS
the beat hands it out again and it is sent a second time (at most the one email the
worker was on; at most its batch of pushes, which carry the notification's tag, so a
browser shows each once). SMTP and Web Push have no idempotency key, so this window
cannot be closed; everything else (duplicate task messages, the beat racing the
on-commit dispatch) is excluded by the claim, an UPDATE of `pending` rows only.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from .. import metrics
from ..catalog import Channel
from ..models import ChannelDelivery, DeliveryState
from ..outbox.failures import RETRY_TRANSIENT
from . import digests, holds, policy
from .email import email_send_batch
from .push import push_send_batch
from .results import SendResult

logger = logging.getLogger(__name__)

# Rows handed to send tasks per beat run; the rest wait for the next run (every few seconds).
DISPATCH_LIMIT = 20_000


def channel_deliveries_dispatch_due(*, limit: int = DISPATCH_LIMIT) -> int:
    """Beat (and on commit of a fan-out): hand due pending rows, and rows of dead workers, to send tasks."""
    now = timezone.now()
    lease = timedelta(seconds=settings.CHANNEL_SENDING_LEASE_SECONDS)
    with transaction.atomic():
        picked = list(
            ChannelDelivery.objects.select_for_update(skip_locked=True)
            .filter(Q(state=DeliveryState.PENDING, due_at__lte=now) | Q(state=DeliveryState.SENDING, updated_at__lt=now - lease))
            .order_by("due_at")
            .values_list("pk", "channel", "notification__recipient_id")[:limit]
        )
        if picked:
            # Handed over: not picked again for one lease unless a task puts them back (a lost
            # task message is re-sent then); a dead worker's `sending` rows become claimable again.
            ChannelDelivery.objects.filter(pk__in=[pk for pk, _, _ in picked]).update(
                state=DeliveryState.PENDING, due_at=now + lease, updated_at=now
            )
            batches = _batches_by_user(picked, size=settings.CHANNEL_BATCH_SIZE)
            transaction.on_commit(lambda: [channel_deliveries_send_task.delay(batch) for batch in batches])
    return len(picked) + digests.channel_digests_dispatch_due()


def _batches_by_user(picked: list[tuple[int, str, int]], *, size: int) -> list[list[int]]:
    """Per channel, batches of about `size` ids that keep each user's rows together: one claim then
    sees all of a user's due job offers and gives the capped push slots to the most relevant."""
    batches = []
    for channel in sorted({channel for _, channel, _ in picked}):
        batch, last_user = [], None
        for pk, _, user_id in sorted((row for row in picked if row[1] == channel), key=lambda row: (row[2], row[0])):
            if len(batch) >= size and user_id != last_user:
                batches.append(batch)
                batch = []
            batch.append(pk)
            last_user = user_id
        if batch:
            batches.append(batch)
    return batches


def dispatch_due_soon() -> None:
    """After a fan-out's commit: at-once deliveries go out now, not at the next beat."""
    try:
        channel_deliveries_dispatch_due_task.delay()
    except Exception:  # the broker is down: the beat picks them up
        logger.warning("Could not enqueue the channel dispatch; the beat will.", exc_info=True)


def channel_deliveries_send(*, delivery_ids: list[int]) -> dict[str, int]:
    """Send a batch of one channel's deliveries; safe to run twice (only `pending` rows are claimed)."""
    claimed = _claim(delivery_ids)
    counts = defaultdict(int)
    by_channel = defaultdict(list)
    for delivery in claimed:
        by_channel[delivery.channel].append(delivery)
    for channel, deliveries in by_channel.items():
        for state, count in _send_and_record(channel, deliveries).items():
            counts[state] += count
            metrics.channel_deliveries_finished(channel=channel, state=state, count=count)
    return dict(counts)


def _send_and_record(channel: str, deliveries: list[ChannelDelivery]) -> dict[str, int]:
    """Each email is recorded `sent` the moment the server accepts it: a worker killed mid-batch
    resends at most the one it was on. Pushes are recorded per batch (they go out in parallel);
    a push resent after a crash carries the same tag, so the browser shows it once."""
    by_pk = {delivery.pk: delivery for delivery in deliveries}
    counts, results = defaultdict(int), {}
    sender = email_send_batch if channel == Channel.EMAIL else push_send_batch
    for pk, result in sender(deliveries):
        if channel == Channel.EMAIL and result.status == "sent":
            counts[DeliveryState.SENT] += _record([by_pk.pop(pk)], {pk: result})[DeliveryState.SENT]
        else:
            results[pk] = result
    for state, count in _record(list(by_pk.values()), results).items():
        counts[state] += count
    return counts


@transaction.atomic
def _claim(delivery_ids: list[int]) -> list[ChannelDelivery]:
    """Cancel the stale ones, mark the rest `sending` with one more attempt; committed before any network call."""
    now = timezone.now()
    rows = list(
        ChannelDelivery.objects.select_for_update(skip_locked=True, of=("self",))
        .select_related("notification__recipient")
        .filter(pk__in=delivery_ids, state=DeliveryState.PENDING)
        .order_by("pk")
    )
    turned_off = policy.channels_turned_off(user_ids=[row.notification.recipient_id for row in rows])
    claimed, cancelled, live = [], defaultdict(int), []
    for row in rows:
        reason = policy.delivery_stale_reason(channel=row.channel, notification=row.notification, turned_off=turned_off)
        if reason:
            row.state, row.cancel_reason = DeliveryState.CANCELLED, reason
            cancelled[row.channel] += 1
        else:
            live.append(row)
        row.updated_at = now
    # Held ones (a digest window, the job offer cap) are saved `held` there; the rest go now.
    to_send, capped_off = holds.deliveries_hold(live, now=now)
    for row in live:
        if row.pk in capped_off:
            row.state, row.cancel_reason = DeliveryState.CANCELLED, capped_off[row.pk]
            cancelled[row.channel] += 1
    for row in to_send:
        row.state, row.attempts = DeliveryState.SENDING, row.attempts + 1
        claimed.append(row)
    ChannelDelivery.objects.filter(pk__in=[row.pk for row in claimed]).update(
        state=DeliveryState.SENDING, attempts=F("attempts") + 1, updated_at=now
    )
    _update_grouped([row for row in rows if row.state == DeliveryState.CANCELLED], ["state", "cancel_reason", "updated_at"])
    for channel, count in cancelled.items():
        transaction.on_commit(lambda c=channel, n=count: metrics.channel_deliveries_finished(channel=c, state=DeliveryState.CANCELLED, count=n))
    return claimed


def _record(deliveries: list[ChannelDelivery], results: dict[int, SendResult]) -> dict[str, int]:
    """Store each outcome: sent, cancelled, failed, or pending again after a backoff (failed at the last attempt)."""
    now = timezone.now()
    counts = defaultdict(int)
    retry_at = {}  # per attempt count: a batch's retries go out together again (one connection)
    for delivery in deliveries:
        result = results.get(delivery.pk, SendResult("retry", "no answer"))
        delivery.provider_response = result.detail[:2000]
        delivery.updated_at = now
        if result.status == "sent":
            delivery.state, delivery.sent_at = DeliveryState.SENT, now
        elif result.status == "cancelled":
            delivery.state, delivery.cancel_reason = DeliveryState.CANCELLED, result.detail[:100]
        elif result.status == "failed" or delivery.attempts >= settings.CHANNEL_MAX_ATTEMPTS:
            delivery.state = DeliveryState.FAILED
        else:
            if delivery.attempts not in retry_at:
                retry_at[delivery.attempts] = now + policy.retry_delay(delivery.attempts)
            delivery.state, delivery.due_at = DeliveryState.PENDING, retry_at[delivery.attempts]
        counts[delivery.state] += 1
    _update_grouped(deliveries, ["state", "sent_at", "cancel_reason", "provider_response", "due_at", "updated_at"])
    return counts


def _update_grouped(rows: list[ChannelDelivery], fields: list[str]) -> None:
    """One UPDATE per distinct set of values (a batch mostly shares one outcome), not a CASE per row."""
    groups = defaultdict(list)
    for row in rows:
        groups[tuple(getattr(row, field) for field in fields)].append(row.pk)
    for values, pks in groups.items():
        ChannelDelivery.objects.filter(pk__in=pks).update(**dict(zip(fields, values, strict=True)))


@shared_task(name="notifications.channel_deliveries_dispatch_due", **RETRY_TRANSIENT)
def channel_deliveries_dispatch_due_task() -> int:
    return channel_deliveries_dispatch_due()


@shared_task(name="notifications.channel_deliveries_send", **RETRY_TRANSIENT)
def channel_deliveries_send_task(delivery_ids: list[int]) -> dict[str, int]:
    return channel_deliveries_send(delivery_ids=delivery_ids)

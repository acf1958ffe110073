"""Digests: the held deliveries of a batch (holds.py) sent as one email or push when it falls due.

A window's digest goes when the window ends, and a new window opens; a window that ends with
nothing held is deleted (closed), so the next delivery goes at once again. A cap digest goes
when the hour frees a push slot; a hold-until digest at its time.

Sending is the deliveries' scheme (see dispatching): the beat hands due digests to send
tasks; a task's claim locks each digest, re-checks every member (policy.delivery_stale_reason:
seen, read, retracted, turned off), cancels the stale ones, and marks the digest `sending`
with one more attempt, committed before any network call. A duplicate task claims nothing;
a digest left `sending` by a dead worker is handed out again after the lease (at most one
repeat, carrying the same push tag). A digest whose members all went stale is cancelled; a
digest of one remaining member goes as that notification's own email or push.
"""

import logging
from collections import defaultdict
from datetime import timedelta

from celery import shared_task
from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.urls import reverse
from django.utils import timezone

from .. import metrics, rendering
from ..catalog import Channel, NotificationType, digest_variables, digest_window_seconds
from ..models import ChannelDelivery, ChannelDigest, DeliveryState, DigestReason, DigestState
from ..outbox.failures import RETRY_TRANSIENT
from . import caps, policy
from .email import email_absolute, email_compose, email_message_for, email_send_messages
from .holds import digest_row
from .push import push_payload_for, push_send_payloads
from .results import SendResult

logger = logging.getLogger(__name__)

# Digests handed to send tasks per beat run, and per task.
DISPATCH_LIMIT = 5000
SEND_BATCH_SIZE = 50
# Members listed in a digest's text; the rest are counted ("...and 5 more").
ITEMS_SHOWN = 5


# --- the beat's pick -------------------------------------------------------------------


def channel_digests_dispatch_due(*, limit: int = DISPATCH_LIMIT) -> int:
    """Beat: close windows that ended empty; hand due digests, and digests of dead workers, to send tasks."""
    now = timezone.now()
    lease = timedelta(seconds=settings.CHANNEL_SENDING_LEASE_SECONDS)
    with transaction.atomic():
        has_members = Exists(ChannelDelivery.objects.filter(digest=OuterRef("pk"), state=DeliveryState.HELD))
        picked = list(
            ChannelDigest.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(Q(state__in=[DigestState.OPEN, DigestState.PENDING], due_at__lte=now) | Q(state=DigestState.SENDING, updated_at__lt=now - lease))
            .annotate(has_members=has_members)
            .order_by("due_at")
            .values_list("pk", "channel", "state", "has_members")[:limit]
        )
        closed = [pk for pk, _, state, members in picked if state == DigestState.OPEN and not members]
        due = [(pk, channel) for pk, channel, state, members in picked if state != DigestState.OPEN or members]
        if closed:
            ChannelDigest.objects.filter(pk__in=closed).delete()
        if due:
            ids = [pk for pk, _ in due]
            # A dead worker's digest is due again; an open one stays open (its batch still joins it) until claimed.
            ChannelDigest.objects.filter(pk__in=ids, state=DigestState.SENDING).update(state=DigestState.PENDING)
            ChannelDigest.objects.filter(pk__in=ids).update(due_at=now + lease, updated_at=now)
            by_channel = defaultdict(list)
            for pk, channel in due:
                by_channel[channel].append(pk)
            batches = [ids[i : i + SEND_BATCH_SIZE] for ids in by_channel.values() for i in range(0, len(ids), SEND_BATCH_SIZE)]
            transaction.on_commit(lambda: [channel_digests_send_task.delay(batch) for batch in batches])
    caps.job_offer_slots_purge(now=now)
    return len(due)


# --- sending -------------------------------------------------------------------------


def channel_digests_send(*, digest_ids: list[int]) -> dict[str, int]:
    """Send due digests; safe to run twice (only open-and-ended or pending digests are claimed)."""
    claimed = _claim(digest_ids)
    counts = defaultdict(int)
    for channel in Channel.values:
        batch = {digest.pk: (digest, members) for digest, members in claimed if digest.channel == channel}
        if not batch:
            continue
        if channel == Channel.EMAIL:
            outcomes = email_send_messages({pk: _email(digest, members) for pk, (digest, members) in batch.items()})
        else:
            outcomes = push_send_payloads([(pk, digest.user_id, _push_payload(digest, members)) for pk, (digest, members) in batch.items()])
        for pk, result in outcomes:  # recorded one by one: an accepted email is recorded the moment it is accepted
            digest, members = batch[pk]
            counts[_record(digest, members, result)] += 1
    return dict(counts)


@transaction.atomic
def _claim(digest_ids: list[int]) -> list[tuple[ChannelDigest, list[ChannelDelivery]]]:
    """Cancel stale members; mark each digest with members left `sending`, one more attempt; committed before any network call."""
    now = timezone.now()
    digests = list(
        ChannelDigest.objects.select_for_update(skip_locked=True)
        .filter(Q(state=DigestState.OPEN, window_ends_at__lte=now) | Q(state=DigestState.PENDING), pk__in=digest_ids)
        .order_by("pk")
    )
    if not digests:
        return []
    members = defaultdict(list)
    rows = (
        ChannelDelivery.objects.select_for_update(of=("self",))
        .select_related("notification__recipient", "notification__job")
        .filter(digest__in=digests, state=DeliveryState.HELD)
        .order_by("pk")
    )
    for row in rows:
        members[row.digest_id].append(row)
    turned_off = policy.channels_turned_off(user_ids={digest.user_id for digest in digests})
    cap_users = sorted({digest.user_id for digest in digests if digest.reason == DigestReason.JOB_OFFER_CAP})
    caps.job_offer_slots_lock(user_ids=cap_users)
    limits = caps.job_offer_push_limits(user_ids=cap_users)
    taken = caps.job_offer_slots_taken(user_ids=cap_users, now=now)
    claimed, stale, stale_count, slots, next_windows = [], defaultdict(list), defaultdict(int), [], []
    for digest in digests:
        live = []
        for row in members[digest.pk]:
            reason = policy.delivery_stale_reason(channel=row.channel, notification=row.notification, turned_off=turned_off)
            if reason:
                stale[reason].append(row.pk)
                stale_count[row.channel] += 1
            else:
                live.append(row)
        digest.updated_at = now
        if live and digest.reason == DigestReason.JOB_OFFER_CAP:
            if limits[digest.user_id] == 0:
                stale[caps.PUSHES_OFF] += [row.pk for row in live]
                stale_count[digest.channel] += len(live)
                live = []
            elif len(taken[digest.user_id]) >= limits[digest.user_id]:
                digest.due_at = caps.next_free_slot_at(taken[digest.user_id], limits[digest.user_id])
                continue  # no slot yet (the cap was lowered): it waits, and keeps its members
            else:
                taken[digest.user_id].append(now)
                slots.append(digest.user_id)
        if not live:
            digest.state, digest.cancel_reason = DigestState.CANCELLED, "nothing left to send: every member went stale"
            continue
        if digest.state == DigestState.OPEN and digest.reason == DigestReason.WINDOW:
            # The window restarts when its digest goes out.
            ends_at = now + timedelta(seconds=digest_window_seconds(digest.kind))
            next_windows.append(digest_row((digest.user_id, digest.channel, digest.batch_key), reason=digest.reason, kind=digest.kind, ends_at=ends_at, now=now))
        digest.state, digest.attempts, digest.member_count = DigestState.SENDING, digest.attempts + 1, len(live)
        claimed.append((digest, _ordered(digest, live)))
    ChannelDigest.objects.bulk_update(digests, ["state", "attempts", "member_count", "cancel_reason", "due_at", "updated_at"])
    ChannelDigest.objects.bulk_create(next_windows, ignore_conflicts=True)
    caps.job_offer_slots_take(user_ids=slots, now=now)
    for reason, pks in stale.items():
        ChannelDelivery.objects.filter(pk__in=pks).update(state=DeliveryState.CANCELLED, cancel_reason=reason[:100], updated_at=now)
    for channel, count in stale_count.items():
        transaction.on_commit(lambda c=channel, n=count: metrics.channel_deliveries_finished(channel=c, state=DeliveryState.CANCELLED, count=n))
    return claimed


def _ordered(digest: ChannelDigest, members: list[ChannelDelivery]) -> list[ChannelDelivery]:
    """Job offers by relevance (nearest, then the higher budget); a window's members in arrival order."""
    if digest.reason == DigestReason.JOB_OFFER_CAP:
        return sorted(members, key=lambda row: caps.offer_relevance(row, row.notification.job.budget if row.notification.job else None))
    return members


def _record(digest: ChannelDigest, members: list[ChannelDelivery], result: SendResult) -> str:
    """Store the outcome on the digest and its members: sent, cancelled, failed, or pending again after a backoff."""
    now = timezone.now()
    digest.provider_response, digest.updated_at = result.detail[:2000], now
    member_state, member_fields = None, {}
    if result.status == "sent":
        digest.state, digest.sent_at = DigestState.SENT, now
        member_state, member_fields = DeliveryState.DIGESTED, {"sent_at": now}
    elif result.status == "cancelled":
        digest.state, digest.cancel_reason = DigestState.CANCELLED, result.detail[:100]
        member_state, member_fields = DeliveryState.CANCELLED, {"cancel_reason": result.detail[:100]}
    elif result.status == "failed" or digest.attempts >= settings.CHANNEL_MAX_ATTEMPTS:
        digest.state = DigestState.FAILED
        member_state = DeliveryState.FAILED
    else:
        digest.state, digest.due_at = DigestState.PENDING, now + policy.retry_delay(digest.attempts)
    with transaction.atomic():
        digest.save(update_fields=["state", "sent_at", "cancel_reason", "provider_response", "due_at", "updated_at"])
        if member_state:
            ChannelDelivery.objects.filter(pk__in=[row.pk for row in members]).update(
                state=member_state, provider_response=f"in digest {digest.pk}", updated_at=now, **member_fields
            )
    if member_state:
        metrics.channel_deliveries_finished(channel=digest.channel, state=member_state, count=len(members))
    return digest.state


# --- what a digest says ---------------------------------------------------------------


def digest_context(digest: ChannelDigest, members: list[ChannelDelivery]) -> dict:
    """The digest template's variables: the count, the first ITEMS_SHOWN members (title, message, link), the batch's job and sender."""
    shown = [row.notification for row in members[:ITEMS_SHOWN]]
    latest = members[-1].notification if digest.reason != DigestReason.JOB_OFFER_CAP else members[0].notification
    context = {
        "count": len(members),
        "more": max(len(members) - ITEMS_SHOWN, 0),
        "items": [
            {"title": n.title, "message": n.message, "link": email_absolute(n.action_url or "/notifications/")} for n in shown
        ],
        "job_title": latest.job.title if latest.job_id and latest.job else "your job",
        "sender_name": (latest.metadata or {}).get("sender_name") or "someone",
    }
    return {name: context[name] for name in digest_variables(digest.kind)}


def _link(digest: ChannelDigest, members: list[ChannelDelivery]) -> str:
    if digest.reason == DigestReason.JOB_OFFER_CAP:
        return reverse("notifications:list") + f"?type={NotificationType.JOB_CREATED}"
    if digest.reason == DigestReason.UNTIL:  # quiet hours gather every type: the list shows them all
        return reverse("notifications:list")
    return members[-1].notification.action_url or reverse("notifications:list")


def _rendered(digest: ChannelDigest, members: list[ChannelDelivery]) -> rendering.RenderedDigest:
    return rendering.digest_render(kind=digest.kind, context=digest_context(digest, members), stored=rendering.active_digest_template(digest.kind))


def _email(digest: ChannelDigest, members: list[ChannelDelivery]):
    if len(members) == 1:  # one left: it goes as itself
        return email_message_for(members[0].notification)
    rendered = _rendered(digest, members)
    return email_compose(
        template="digest",
        to=members[0].notification.recipient,
        notification_type=members[-1].notification.notification_type,
        subject=rendered.email_subject,
        context={"body": rendered.email_body, "link": email_absolute(_link(digest, members)), "count": len(members)},
    )


def _push_payload(digest: ChannelDigest, members: list[ChannelDelivery]) -> dict:
    if len(members) == 1:
        return push_payload_for(members[0].notification)
    from webpush.payloads import push_payload

    rendered = _rendered(digest, members)
    latest = members[-1].notification
    return push_payload(
        title=rendered.push_title,
        body=rendered.push_body,
        url=_link(digest, members),
        notification_id=latest.pk,
        type=latest.notification_type,
        # One tag per batch: a newer digest of the batch replaces the one on the screen.
        tag=f"digest-{digest.batch_key}"[:100],
    )


@shared_task(name="notifications.channel_digests_send", **RETRY_TRANSIENT)
def channel_digests_send_task(digest_ids: list[int]) -> dict[str, int]:
    return channel_digests_send(digest_ids=digest_ids)

"""The channel rules, stated once: when a delivery falls due, who has a channel on, and when it is stale."""

import random
from datetime import datetime, timedelta

from django.conf import settings

from ..catalog import CATALOG, Channel, ChannelRule, Condition
from ..models import Notification, NotificationChannelPreference


# Retry backoff: base * 2**(attempt - 1) seconds, at most the cap, times a jitter of 0.5 to 1.5.
RETRY_BASE_SECONDS = 30
RETRY_CAP_SECONDS = 3600


def retry_delay(attempts: int) -> timedelta:
    """Exponential backoff with jitter: about 30 s, 1 min, 2 min, ... up to an hour (deliveries and digests)."""
    base = min(RETRY_BASE_SECONDS * 2 ** max(attempts - 1, 0), RETRY_CAP_SECONDS)
    return timedelta(seconds=base * random.uniform(0.5, 1.5))


def channel_delay_seconds(rule: ChannelRule) -> int | None:
    """None for at once; CHANNEL_FALLBACK_SECONDS (when set) replaces every catalog delay."""
    if rule.delay_seconds is None:
        return None
    override = settings.CHANNEL_FALLBACK_SECONDS
    return rule.delay_seconds if override is None else override


def channel_due_at(rule: ChannelRule, *, now: datetime) -> datetime:
    return now + timedelta(seconds=channel_delay_seconds(rule) or 0)


def channels_available(notification_type: str) -> tuple[str, ...]:
    """The channels a type's policy has, in the catalog's order (email, push or both; none for in-app only)."""
    return tuple(rule.channel for rule in CATALOG[notification_type].channels)


def channels_turned_off(*, user_ids) -> set[tuple[int, str, str]]:
    """(user, type, channel) of every channel these users turned off (the default is on)."""
    rows = NotificationChannelPreference.objects.filter(user_id__in=set(user_ids), is_enabled=False)
    return set(rows.values_list("user_id", "notification_type", "channel"))


def delivery_stale_reason(*, channel: str, notification: Notification, turned_off: set) -> str:
    """Why a pending delivery must not be sent any more ("" if it still should be).

    Seen or read in the app (a rule's "unread" condition waits for reading only), retracted
    (expired), the channel turned off since, the user deactivated, or nowhere to send to.
    """
    recipient = notification.recipient
    rule = CATALOG[notification.notification_type].channel_rule(channel)
    if notification.expired_at is not None:
        return "expired"
    if notification.is_read:
        return "read in the app"
    if notification.seen_at is not None and (rule is None or rule.condition == Condition.UNSEEN):
        return "seen in the app"
    if not recipient.is_active:
        return "user inactive"
    if rule is None or (recipient.pk, notification.notification_type, channel) in turned_off:
        return "channel turned off"
    if channel == Channel.EMAIL and not recipient.email:
        return "no email address"
    return ""

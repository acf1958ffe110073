"""The delivery rows of a fan-out chunk: one INSERT ... SELECT per channel, in the chunk's own transaction.

Set-based like the notifications' insert: the chunk's stored notifications, joined in SQL
with who can and wants to get the channel; nothing per row in Python. Only recipients with
somewhere to send get a row (an email address; a push subscription). A recipient who turned
the channel off gets a `suppressed` row when the event has one recipient (the record is
worth it there), and no row in a big fan-out (100,000 rows that say "nothing" are not).
"""

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from webpush.models import PushSubscription

from ..catalog import CATALOG, Channel, ChannelRule
from ..models import ChannelDelivery, DeliveryState, Notification, NotificationChannelPreference
from . import policy


def deliveries_create_for_chunk(*, event_id: int, notification_type: str, recipient_ids: list[int]) -> list[str]:
    """Create the chunk's delivery rows (idempotent); returns the channels that have rows due at once."""
    if not recipient_ids:
        return []
    due_now = []
    for rule in CATALOG[notification_type].channels:
        created = _insert(rule, event_id=event_id, notification_type=notification_type, recipient_ids=recipient_ids)
        if created and policy.channel_delay_seconds(rule) in (None, 0):
            due_now.append(rule.channel)
    return due_now


def _insert(rule: ChannelRule, *, event_id: int, notification_type: str, recipient_ids: list[int]) -> int:
    deliveries, notifications = ChannelDelivery._meta.db_table, Notification._meta.db_table
    users, preferences = get_user_model()._meta.db_table, NotificationChannelPreference._meta.db_table
    now = timezone.now()
    turned_off = (
        f"EXISTS (SELECT 1 FROM {preferences} p WHERE p.user_id = n.recipient_id "
        f"AND p.notification_type = %s AND p.channel = %s AND p.is_enabled = %s)"
    )
    off_params = [notification_type, rule.channel, False]
    if rule.channel == Channel.EMAIL:
        reachable, reachable_params = "u.email <> %s", [""]
    else:
        subscriptions = PushSubscription._meta.db_table
        reachable, reachable_params = f"EXISTS (SELECT 1 FROM {subscriptions} s WHERE s.user_id = n.recipient_id)", []
    record_suppressed = len(recipient_ids) == 1
    adapt = connection.ops.adapt_datetimefield_value
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {deliveries} (notification_id, channel, state, cancel_reason, due_at, attempts, "
            f"provider_response, updated_at) "
            f"SELECT n.id, %s, CASE WHEN {turned_off} THEN %s ELSE %s END, "
            f"CASE WHEN {turned_off} THEN %s ELSE %s END, %s, 0, %s, %s "
            f"FROM {notifications} n JOIN {users} u ON u.id = n.recipient_id "
            # The chunk's rows through the (event, recipient) unique index; a repeated chunk finds its own.
            f"WHERE n.event_id = %s AND n.recipient_id BETWEEN %s AND %s AND {reachable} "
            f"AND (%s OR NOT {turned_off}) "
            f"ON CONFLICT (notification_id, channel) DO NOTHING",
            [
                rule.channel,
                *off_params, DeliveryState.SUPPRESSED, DeliveryState.PENDING,
                *off_params, "channel turned off", "",
                adapt(policy.channel_due_at(rule, now=now)), "", adapt(now),
                event_id, min(recipient_ids), max(recipient_ids), *reachable_params,
                record_suppressed, *off_params,
            ],
        )
        return cursor.rowcount

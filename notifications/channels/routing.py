"""The delivery rows of a fan-out chunk: one INSERT ... SELECT per channel, in the chunk's own transaction.

Set-based like the notifications' insert: the (id, recipient) pairs that insert returned,
passed back as arrays and filtered in SQL by who can and wants to get the channel; nothing
per row in Python. Only recipients with somewhere to send get a row (an email address; a
push subscription). A recipient who turned the channel off gets a `suppressed` row when the
chunk has one recipient (the record is worth it there), and no row in a big fan-out
(100,000 rows that say "nothing" are not).
"""

import json

from django.contrib.auth import get_user_model
from django.db import connection
from django.utils import timezone

from webpush.models import PushSubscription

from ..catalog import CATALOG, Channel, ChannelRule
from ..models import ChannelDelivery, DeliveryState, NotificationChannelPreference
from . import policy

TURNED_OFF = "channel turned off"


def deliveries_create_for_chunk(*, notification_type: str, stored: list[tuple[int, int]]) -> list[str]:
    """Rows for the chunk's new notifications, given as (notification id, recipient id); returns the
    channels that have rows due at once. Idempotent (one row per notification and channel)."""
    if not stored:
        return []
    due_now = []
    for rule in CATALOG[notification_type].channels:
        created = _insert(rule, notification_type=notification_type, stored=stored)
        if created and policy.channel_delay_seconds(rule) in (None, 0):
            due_now.append(rule.channel)
    return due_now


def _insert(rule: ChannelRule, *, notification_type: str, stored: list[tuple[int, int]]) -> int:
    deliveries, preferences = ChannelDelivery._meta.db_table, NotificationChannelPreference._meta.db_table
    now = timezone.now()
    adapt = connection.ops.adapt_datetimefield_value
    rows_sql, rows_params = _rows(stored)
    turned_off = (
        f"EXISTS (SELECT 1 FROM {preferences} p WHERE p.user_id = t.user_id "
        f"AND p.notification_type = %s AND p.channel = %s AND p.is_enabled = %s)"
    )
    off_params = [notification_type, rule.channel, False]
    if len(stored) == 1:  # one recipient: a turned-off channel is recorded as suppressed
        state = f"CASE WHEN {turned_off} THEN %s ELSE %s END"
        state_params = [*off_params, DeliveryState.SUPPRESSED, DeliveryState.PENDING]
        reason = f"CASE WHEN {turned_off} THEN %s ELSE %s END"
        reason_params = [*off_params, TURNED_OFF, ""]
        wanted, wanted_params = "", []
    else:
        state, state_params, reason, reason_params = "%s", [DeliveryState.PENDING], "%s", [""]
        wanted, wanted_params = f"AND NOT {turned_off}", off_params
    if rule.channel == Channel.EMAIL:
        users = get_user_model()._meta.db_table
        reachable, reachable_params = f"JOIN {users} u ON u.id = t.user_id WHERE u.email <> %s", [""]
    else:
        subscriptions = PushSubscription._meta.db_table
        reachable, reachable_params = f"WHERE EXISTS (SELECT 1 FROM {subscriptions} s WHERE s.user_id = t.user_id)", []
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {deliveries} (notification_id, channel, state, cancel_reason, due_at, attempts, "
            f"provider_response, updated_at) "
            f"SELECT t.id, %s, {state}, {reason}, %s, 0, %s, %s FROM {rows_sql} {reachable} {wanted} "
            f"ON CONFLICT (notification_id, channel) DO NOTHING",
            [
                rule.channel, *state_params, *reason_params,
                adapt(policy.channel_due_at(rule, now=now)), "", adapt(now),
                *rows_params, *reachable_params, *wanted_params,
            ],
        )
        return cursor.rowcount


def _rows(stored: list[tuple[int, int]]) -> tuple[str, list]:
    """A FROM item t(id, user_id) over the pairs, as array parameters (a JSON array on SQLite)."""
    if connection.vendor == "postgresql":
        return "unnest(%s::bigint[], %s::bigint[]) AS t(id, user_id)", [[i for i, _ in stored], [u for _, u in stored]]
    return (
        "(SELECT json_extract(value, '$[0]') AS id, json_extract(value, '$[1]') AS user_id FROM json_each(%s)) AS t",
        [json.dumps(stored)],
    )

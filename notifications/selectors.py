"""Reads for notifications: lists, counts, preferences, and each event's audience."""

import operator
from dataclasses import dataclass
from functools import reduce

from django.contrib.auth import get_user_model
from django.db import connection
from django.db.models import Count, DecimalField, Exists, F, Max, Min, OuterRef, Q, QuerySet, Window
from django.db.models.fields.json import KT
from django.db.models.functions import Cast, RowNumber

from project import prepared

from .catalog import NotificationType
from .channels.policy import channels_available
from .grouping import MEMBERS_SHOWN, NotificationGroup
from .models import JobOfferPushCap, Notification, NotificationChannelPreference, NotificationPreference

User = get_user_model()

# Staff announcements are urgent by nature and cannot be muted.
UNMUTABLE_TYPES = frozenset({NotificationType.SYSTEM_ALERT})


def notifications_for_user(
    *, user, unread: bool | None = None, notification_type: str | None = None, group_key: str | None = None
) -> QuerySet:
    """A user's live notifications, latest first; expired ones are hidden. With group_key: that group's members."""
    queryset = Notification.objects.filter(recipient_id=user.pk, expired_at__isnull=True)
    if group_key is not None:
        queryset = queryset.filter(group_key=group_key)
    if unread is True:
        queryset = queryset.filter(is_read=False)
    elif unread is False:
        queryset = queryset.filter(is_read=True)
    if notification_type:
        queryset = queryset.filter(notification_type=notification_type)
    return queryset.order_by("-id")


class NotificationGroups:
    """A user's notifications as groups, latest group first: sliced lazily, so a Paginator can page it.

    A group is its live members matching the filters (a notification without a key is a group of
    one); the newest member represents it and orders the groups. One query for a page's entries
    (each group's newest member), one for their counts, one for the members listed under them.
    """

    def __init__(self, notifications: QuerySet, *, member_rows: bool = True):
        self.notifications = notifications.order_by()
        # False: the members' ids only (the bell on every page: the rows load when a group is opened).
        self.member_rows = member_rows

    def count(self) -> int:
        counts = self.notifications.aggregate(
            singles=Count("id", filter=Q(group_key__isnull=True)), groups=Count("group_key", distinct=True)
        )
        return counts["singles"] + counts["groups"]

    def __len__(self) -> int:
        return self.count()

    def __getitem__(self, index):
        if not isinstance(index, slice):
            return self[index : index + 1][0]
        # The entries: rows with no newer row of their group. Read newest first through the
        # (recipient, -id) index, each checked against the (recipient, group_key, -id) one, so a
        # page costs the rows it walks past, not all of the user's notifications.
        newer_of_group = self.notifications.filter(group_key=OuterRef("group_key"), id__gt=OuterRef("id"))
        entries = list(
            self.notifications.filter(Q(group_key__isnull=True) | ~Exists(newer_of_group))
            .select_related("job")
            .order_by("-id")[index]
        )
        keys = [entry.group_key for entry in entries if entry.group_key is not None]
        amount = Cast(KT("metadata__amount"), DecimalField(max_digits=12, decimal_places=2))
        stats = {
            row["group_key"]: row
            for row in self.notifications.filter(group_key__in=keys)
            .values("group_key")
            .annotate(
                count=Count("id"), unread_count=Count("id", filter=Q(is_read=False)), min_amount=Min(amount), max_amount=Max(amount)
            )
        } if keys else {}
        members: dict[str, list[Notification]] = {key: [] for key, row in stats.items() if row["count"] > 1}
        member_ids: dict[str, list[int]] = {key: [] for key in members}
        if members:
            ranked = self.notifications.filter(group_key__in=list(members)).annotate(
                rank=Window(RowNumber(), partition_by=F("group_key"), order_by=F("id").desc())
            ).filter(rank__lte=MEMBERS_SHOWN).order_by("-id")
            if self.member_rows:
                for member in ranked:
                    members[member.group_key].append(member)
                    member_ids[member.group_key].append(member.pk)
            else:
                for pk, key in ranked.values_list("id", "group_key"):
                    member_ids[key].append(pk)
        groups = []
        for entry in entries:
            row = stats.get(entry.group_key) or {"count": 1, "unread_count": int(not entry.is_read)}
            groups.append(
                NotificationGroup(
                    key=entry.group_key,
                    count=row["count"],
                    unread_count=row["unread_count"],
                    latest=entry,
                    members=members[entry.group_key] if entry.group_key in members else [entry],
                    member_ids=member_ids.get(entry.group_key) or [entry.pk],
                    min_amount=row.get("min_amount"),
                    max_amount=row.get("max_amount"),
                )
            )
        return groups


def notification_groups_for_user(
    *, user, unread: bool | None = None, notification_type: str | None = None, group_key: str | None = None,
    member_rows: bool = True,
) -> NotificationGroups:
    """The grouped listing of notifications_for_user (same filters), latest group first."""
    return NotificationGroups(
        notifications_for_user(user=user, unread=unread, notification_type=notification_type, group_key=group_key),
        member_rows=member_rows,
    )


def notification_group_for_user(*, user, group_key: str) -> NotificationGroup | None:
    """One of the user's groups, as the grouped listing shows it; None when they have no live member of it."""
    groups = notification_groups_for_user(user=user, group_key=group_key)[:1]
    return groups[0] if groups else None


def notification_unread_count(*, user_id: int) -> int:
    return notification_unread_counts(user_ids=[user_id])[user_id]


def notification_unread_counts(*, user_ids) -> dict[int, int]:
    """notification_unread_count() for each user, in one query."""
    counts = dict.fromkeys(user_ids, 0)
    # COUNT(*), not COUNT(id): the partial unread index holds no id, and counting one would
    # visit a heap page per unread row instead of reading the index alone.
    if connection.vendor == "postgresql":
        # One SQL text for any number of users: the ORM building this query was most of a
        # stream opening's CPU for its unread count (notifications/sse/opening.py). Prepared: planned once per connection.
        with prepared.cursor() as cursor:
            cursor.execute(
                f"SELECT recipient_id, COUNT(*) FROM {Notification._meta.db_table} "
                f"WHERE expired_at IS NULL AND NOT is_read AND recipient_id = ANY(%s::bigint[]) GROUP BY 1",
                [list(counts)],
            )
            counts.update(cursor.fetchall())
        return counts
    counts.update(
        Notification.objects.filter(recipient_id__in=list(counts), is_read=False, expired_at__isnull=True)
        .order_by().values("recipient_id").annotate(unread=Count("*")).values_list("recipient_id", "unread")
    )
    return counts


MISSED_USERS_PER_QUERY = 200


def notifications_missed(*, ranges: dict[int, tuple[int, int]], limit: int) -> dict[int, list[Notification]]:
    """Per user id, the notifications with after < seq <= upto that have not expired, in seq order, at most `limit`.

    A user's seqs have no gaps, so a range no longer than `limit` holds at most `limit` rows:
    all such users are read in one query (reconnecting streams come in batches). A longer
    range (a page away for long) is read alone, stopping at `limit`.
    """
    missed: dict[int, list[Notification]] = {user_id: [] for user_id in ranges}
    short = []
    for user_id, (after, upto) in ranges.items():
        if upto - after <= limit:
            short.append(Q(recipient_id=user_id, seq__gt=after, seq__lte=upto))
        else:
            missed[user_id] = list(
                Notification.objects.filter(recipient_id=user_id, seq__gt=after, seq__lte=upto, expired_at__isnull=True)
                .order_by("seq")[:limit]
            )
    # In slices: SQLite parses n ORs n levels deep and stops at 1,000.
    for start in range(0, len(short), MISSED_USERS_PER_QUERY):
        within = reduce(operator.or_, short[start : start + MISSED_USERS_PER_QUERY])
        for row in Notification.objects.filter(within, expired_at__isnull=True).order_by("recipient_id", "seq"):
            missed[row.recipient_id].append(row)
    return missed


def notification_preferences_for(*, user) -> dict[str, bool]:
    """Every type with whether this user muted it."""
    muted = set(
        NotificationPreference.objects.filter(user_id=user.pk, is_muted=True).values_list("notification_type", flat=True)
    )
    return {value: value in muted for value in NotificationType.values}


def notification_channel_preferences_for(*, user) -> dict[str, dict[str, bool]]:
    """Per type, its channels (email, push: those its catalog policy has) with whether they are on.

    No row means the catalog's default: on.
    """
    off = set(
        NotificationChannelPreference.objects.filter(user_id=user.pk, is_enabled=False).values_list("notification_type", "channel")
    )
    return {
        value: {channel: (value, channel) not in off for channel in channels_available(value)}
        for value in NotificationType.values
    }


def job_offer_push_cap_for(*, user) -> int | None:
    """The user's own cap on job offer pushes per hour; None: the setting's default."""
    return JobOfferPushCap.objects.filter(user_id=user.pk).values_list("per_hour", flat=True).first()


def recipients_not_muting(recipients: QuerySet, *, notification_type: str) -> QuerySet:
    """Drop users who muted this type, in SQL (NOT EXISTS), never in Python."""
    if notification_type in UNMUTABLE_TYPES:
        return recipients
    muted = NotificationPreference.objects.filter(
        user_id=OuterRef("pk"), notification_type=notification_type, is_muted=True
    )
    return recipients.exclude(Exists(muted))


def job_cancellation_recipient_ids(*, job) -> list[int]:
    """The assigned cleaner and every cleaner whose bid is still pending."""
    from jobs.models import BidStatus, JobBid

    pending = JobBid.objects.filter(job_id=job.pk, status=BidStatus.PENDING).values_list("cleaner_id", flat=True)
    ids = set(pending)
    if job.assigned_cleaner_id:
        ids.add(job.assigned_cleaner_id)
    return sorted(ids)


@dataclass(frozen=True)
class KeysetPage:
    """One page of a latest-first list; the cursors of its neighbours (None: no such page)."""

    object_list: list
    older_than: int | None  # ?before= of the next (older) page
    newer_than: int | None  # ?after= of the previous (newer) page


def notifications_keyset_page(
    queryset: QuerySet, *, size: int, before: int | None = None, after: int | None = None
) -> KeysetPage:
    """A page of a latest-first queryset by id (keyset), never OFFSET: page 50 costs what page 1 costs.

    `before`: the rows just older than that id; `after`: the rows just newer (the way back);
    neither: the newest. On the user's (recipient, -id) index; rows arriving meanwhile
    never shift a page (no duplicates, no gaps), they appear on the first one.
    """
    if after is not None:
        rows = list(queryset.filter(pk__gt=after).order_by("pk")[: size + 1])
        has_newer, rows = len(rows) > size, rows[:size][::-1]
        has_older = bool(rows) and queryset.filter(pk__lt=rows[-1].pk).exists()
    else:
        below = queryset if before is None else queryset.filter(pk__lt=before)
        rows = list(below.order_by("-pk")[: size + 1])
        has_older, rows = len(rows) > size, rows[:size]
        has_newer = before is not None and bool(rows) and queryset.filter(pk__gt=rows[0].pk).exists()
    return KeysetPage(
        object_list=rows,
        older_than=rows[-1].pk if rows and has_older else None,
        newer_than=rows[0].pk if rows and has_newer else None,
    )

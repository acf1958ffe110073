"""Reads for notifications: lists, counts, preferences, and each event's audience."""

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet

from .catalog import NotificationType
from .models import Notification, NotificationPreference

User = get_user_model()

# Staff announcements are urgent by nature and cannot be muted.
UNMUTABLE_TYPES = frozenset({NotificationType.SYSTEM_ALERT})


def notifications_for_user(*, user, unread: bool | None = None, notification_type: str | None = None) -> QuerySet:
    """A user's live notifications, latest first; expired ones are hidden."""
    queryset = Notification.objects.filter(recipient_id=user.pk, expired_at__isnull=True)
    if unread is True:
        queryset = queryset.filter(is_read=False)
    elif unread is False:
        queryset = queryset.filter(is_read=True)
    if notification_type:
        queryset = queryset.filter(notification_type=notification_type)
    return queryset.order_by("-id")


def notification_unread_count(*, user_id: int) -> int:
    return Notification.objects.filter(recipient_id=user_id, is_read=False, expired_at__isnull=True).count()


def notification_preferences_for(*, user) -> dict[str, bool]:
    """Every type with whether this user muted it."""
    muted = set(
        NotificationPreference.objects.filter(user_id=user.pk, is_muted=True).values_list("notification_type", flat=True)
    )
    return {value: value in muted for value in NotificationType.values}


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

"""Reads for notifications: lists, counts, preferences, and each event's audience."""

from django.contrib.auth import get_user_model
from django.db.models import Exists, OuterRef, QuerySet

from .catalog import NotificationType
from .channels.policy import channels_available
from .models import Notification, NotificationChannelPreference, NotificationPreference

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

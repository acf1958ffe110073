"""User-facing writes for notifications: read state, preferences, announcements, reminders.

Every push to a browser goes through notifications.sse.publishing (the one publisher),
always after the database commit that it reports. Announcements and reminders are
recorded in the outbox; the pipeline that delivers them is notifications.outbox.
"""

from datetime import timedelta

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from project.exceptions import InvalidInput, NotFound
from jobs.models import CleaningJob, JobStatus

from . import plans, selectors
from .catalog import NotificationType
from .channels.caps import job_offer_push_cap_check
from .channels.policy import channels_available
from .models import JobOfferPushCap, Notification, NotificationChannelPreference, NotificationPreference, OutboxEvent
from .outbox.recording import outbox_record
from .sse import frames, publishing


def _push_after_commit(events: list[frames.StreamEvent]) -> None:
    transaction.on_commit(lambda: publishing.publish(events))


# --- read state ---------------------------------------------------------------


@transaction.atomic
def notification_mark_read(*, user, notification_id: int) -> Notification:
    """Mark one of the user's notifications read and tell their other open pages."""
    notification = (
        Notification.objects.select_for_update()
        .filter(recipient_id=user.pk, pk=notification_id, expired_at__isnull=True)
        .first()
    )
    if notification is None:
        raise NotFound("No such notification.")
    if not notification.is_read:
        notification.is_read = True
        notification.read_at = timezone.now()
        notification.save(update_fields=["is_read", "read_at"])
        count = selectors.notification_unread_count(user_id=user.pk)
        _push_after_commit(
            [
                frames.notification_read_event(user_id=user.pk, notification_id=notification.pk),
                frames.unread_count_event(user_id=user.pk, count=count),
            ]
        )
    return notification


@transaction.atomic
def notifications_mark_all_read(*, user) -> int:
    """Mark every unread notification read; returns how many changed."""
    changed = Notification.objects.filter(recipient_id=user.pk, is_read=False).update(
        is_read=True, read_at=timezone.now()
    )
    if changed:
        _push_after_commit(
            [
                frames.notifications_read_all_event(user_id=user.pk),
                frames.unread_count_event(user_id=user.pk, count=0),
            ]
        )
    return changed


@transaction.atomic
def notifications_mark_group_read(*, user, group_key: str) -> list[int]:
    """Mark a group's unread live members read (one UPDATE) and tell the user's other open pages; returns their ids.

    Only the user's own rows: a key they have no live notification in is "not found", whoever else has it.
    """
    members = Notification.objects.filter(recipient_id=user.pk, group_key=group_key, expired_at__isnull=True)
    # Locked, so the ids pushed to the pages are exactly the rows this UPDATE changes.
    ids = list(members.select_for_update().filter(is_read=False).order_by("id").values_list("pk", flat=True))
    if not ids:
        if not members.exists():
            raise NotFound("No such notification group.")
        return []
    Notification.objects.filter(pk__in=ids).update(is_read=True, read_at=timezone.now())
    count = selectors.notification_unread_count(user_id=user.pk)
    _push_after_commit(
        [
            frames.notifications_read_event(user_id=user.pk, notification_ids=ids),
            frames.unread_count_event(user_id=user.pk, count=count),
        ]
    )
    return ids


# --- preferences ----------------------------------------------------------------


@transaction.atomic
def notification_preferences_update(*, user, muted: dict[str, bool]) -> dict[str, bool]:
    """Set mute flags for the given types; unknown or unmutable types are refused whole."""
    unknown = sorted(set(muted) - set(NotificationType.values))
    if unknown:
        raise InvalidInput(f"Unknown notification type: {', '.join(unknown)}.", field="muted")
    forced = sorted(t for t, is_muted in muted.items() if is_muted and t in selectors.UNMUTABLE_TYPES)
    if forced:
        raise InvalidInput(f"These cannot be muted: {', '.join(forced)}.", field="muted")
    for notification_type, is_muted in muted.items():
        NotificationPreference.objects.update_or_create(
            user=user, notification_type=notification_type, defaults={"is_muted": bool(is_muted)}
        )
    return selectors.notification_preferences_for(user=user)


# "Leave it as it is" for a setting where None means something (the default).
UNCHANGED = object()


@transaction.atomic
def notification_preferences_save(
    *, user, muted: dict[str, bool] | None = None, channels: dict[str, dict[str, bool]] | None = None,
    job_offer_pushes_per_hour=UNCHANGED,
) -> None:
    """In-app mutes, channel choices and the job offer push cap together: either refused (nothing changed) or all saved."""
    if muted is None and channels is None and job_offer_pushes_per_hour is UNCHANGED:
        raise InvalidInput("Send muted, channels, job_offer_pushes_per_hour or several.", field="muted")
    if job_offer_pushes_per_hour is not UNCHANGED:
        job_offer_push_cap_set(user=user, per_hour=job_offer_pushes_per_hour)
    if muted is not None:
        notification_preferences_update(user=user, muted=muted)
    if channels is not None:
        notification_channel_preferences_update(user=user, channels=channels)


def job_offer_push_cap_set(*, user, per_hour: int | None) -> None:
    """A cleaner's own cap on job offer pushes per hour (0 to 60); None goes back to JOB_OFFER_PUSHES_PER_HOUR."""
    per_hour = job_offer_push_cap_check(per_hour)
    if per_hour is None:
        JobOfferPushCap.objects.filter(user_id=user.pk).delete()
    else:
        JobOfferPushCap.objects.update_or_create(user_id=user.pk, defaults={"per_hour": per_hour})


@transaction.atomic
def notification_channel_preferences_update(*, user, channels: dict[str, dict[str, bool]]) -> dict[str, dict[str, bool]]:
    """Turn email or push on or off per type; a type or channel it does not have is refused, with the whole update.

    Pending deliveries of a channel turned off are cancelled when they fall due (channels.policy).
    """
    if not isinstance(channels, dict):
        raise InvalidInput("Expected an object of types.", field="channels")
    unknown = sorted(set(channels) - set(NotificationType.values))
    if unknown:
        raise InvalidInput(f"Unknown notification type: {', '.join(unknown)}.", field="channels")
    for notification_type, choices in channels.items():
        available = channels_available(notification_type)
        if not isinstance(choices, dict) or not all(isinstance(on, bool) for on in choices.values()):
            raise InvalidInput(f"{notification_type}: expected channel names with true or false.", field="channels")
        extra = sorted(set(choices) - set(available))
        if extra:
            offered = ", ".join(available) or "no email or push"
            raise InvalidInput(
                f"{notification_type} has no {', '.join(extra)} channel (it has {offered}).", field="channels"
            )
    for notification_type, choices in channels.items():
        for channel, is_enabled in choices.items():
            NotificationChannelPreference.objects.update_or_create(
                user=user, notification_type=notification_type, channel=channel, defaults={"is_enabled": is_enabled}
            )
    return selectors.notification_channel_preferences_for(user=user)


def notification_channel_unsubscribe(*, user_id: int, notification_type: str, channel: str) -> bool:
    """One-click unsubscribe: turn one type's channel off for a user named by a signed token (False: no such user)."""
    user = get_user_model().objects.filter(pk=user_id).first()
    if user is None:
        return False
    notification_channel_preferences_update(user=user, channels={notification_type: {channel: False}})
    return True


# --- announcements and reminders ------------------------------------------------


@transaction.atomic
def announcement_send(*, audience: str, title: str, message: str) -> OutboxEvent:
    """Staff send a system_alert to everyone, all cleaners or all clients."""
    errors = {}
    if audience not in plans.AUDIENCES:
        errors["audience"] = [f"Choose one of: {', '.join(plans.AUDIENCES)}."]
    if not title or not title.strip():
        errors["title"] = ["A title is required."]
    elif len(title) > 200:
        errors["title"] = ["At most 200 characters."]
    if not message or not message.strip():
        errors["message"] = ["A message is required."]
    elif len(message) > 2000:
        errors["message"] = ["At most 2000 characters."]
    if errors:
        raise ValidationError(errors)
    return outbox_record(
        event_type=NotificationType.SYSTEM_ALERT,
        payload={"audience": audience, "title": title.strip(), "message": message.strip()},
    )


REMINDER_LEAD = timedelta(hours=24)


def reminders_schedule_due() -> int:
    """Beat: one reminder per assigned job starting within the next 24 hours."""
    now = timezone.now()
    due_ids = list(
        CleaningJob.objects.filter(
            status=JobStatus.ASSIGNED, scheduled_start__gt=now, scheduled_start__lte=now + REMINDER_LEAD
        ).values_list("pk", flat=True)
    )
    keys = {job_id: f"reminder:job:{job_id}" for job_id in due_ids}
    already = set(OutboxEvent.objects.filter(dedupe_key__in=keys.values()).values_list("dedupe_key", flat=True))
    recorded = 0
    for job_id, key in keys.items():
        if key in already:
            continue
        with transaction.atomic():
            if outbox_record(event_type=NotificationType.REMINDER, payload={"job_id": job_id}, dedupe_key=key):
                recorded += 1
    return recorded

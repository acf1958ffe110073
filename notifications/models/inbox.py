"""Notifications as a user's inbox holds them, their per-user sequence, templates and in-app mutes."""

from django.conf import settings
from django.db import models, transaction
from django.db.models import Q

from .. import partitions, sequencing
from ..catalog import GROUP_KEY_MAX_LENGTH, NotificationType, Priority
from .outbox import OutboxEvent


class NotificationQuerySet(models.QuerySet):
    def bulk_create(self, objs, *args, **kwargs):
        """Numbered like every insert (notifications.sequencing), in the same transaction."""
        if kwargs.get("ignore_conflicts") or kwargs.get("update_conflicts"):
            # A skipped row would leave a hole in its user's sequence.
            raise ValueError("Notification.bulk_create cannot skip or update conflicts; see sequencing.")
        objs = list(objs)
        partitions.months_assign(objs)
        with transaction.atomic(using=self.db):
            sequencing.seqs_assign(objs)
            return super().bulk_create(objs, *args, **kwargs)


class Notification(models.Model):
    # Foreign keys without their own index: the composite indexes below lead with them,
    # and every extra index slows the bulk insert of a fan-out.
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications", db_index=False
    )
    # The event that caused it; (event, recipient) is unique, so every fan-out is idempotent.
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    notification_type = models.CharField(max_length=32, choices=NotificationType.choices)
    title = models.CharField(max_length=200)
    message = models.TextField(max_length=2000, blank=True)
    priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    is_read = models.BooleanField(default=False)
    read_at = models.DateTimeField(null=True, blank=True)
    # Receipts (notifications.receipts): server times, each set once, by the recipient's pages.
    # Delivered: a page received the frame; seen: shown while the tab was visible;
    # clicked: its action was followed.
    delivered_at = models.DateTimeField(null=True, blank=True)
    seen_at = models.DateTimeField(null=True, blank=True)
    clicked_at = models.DateTimeField(null=True, blank=True)
    action_url = models.CharField(max_length=300, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The job it is about, if any: lets a job's offers be expired in one UPDATE.
    job = models.ForeignKey(
        "jobs.CleaningJob", on_delete=models.SET_NULL, null=True, blank=True, related_name="+", db_index=False
    )
    # Notifications sharing a key show as one entry (catalog.GROUP_KEYS); NULL: shown on its own.
    group_key = models.CharField(max_length=GROUP_KEY_MAX_LENGTH, null=True, blank=True)
    # Retracted (e.g. the job was taken): hidden from lists and counts.
    expired_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # The recipient's delivery sequence (notifications.sequencing): gapless, in commit order;
    # the SSE replay after a reconnect goes by it. NULL only inside the inserting transaction.
    seq = models.BigIntegerField(null=True, blank=True, editable=False)
    # The UTC month of the event that caused it (now's, without one): its partition on PostgreSQL
    # (notifications.partitions), and part of both unique constraints below.
    partition_month = models.DateField(editable=False)

    objects = NotificationQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # The month is a function of the event, so this is exactly one row per (event, recipient).
            models.UniqueConstraint(
                fields=["event", "recipient", "partition_month"], name="one_notification_per_event_and_recipient"
            ),
            # Also the index of the replay: recipient = %s AND seq > %s ORDER BY seq. Unique per
            # month; the counter's row lock (sequencing) hands each seq out once across months.
            models.UniqueConstraint(fields=["recipient", "seq", "partition_month"], name="one_seq_per_recipient"),
        ]
        indexes = [
            # "latest first" per user, and replay by id after a reconnect
            models.Index(fields=["recipient", "-id"], name="notif_recipient_latest_idx"),
            # "unread count" per user touches only unread, live rows
            models.Index(
                fields=["recipient"],
                condition=Q(is_read=False, expired_at__isnull=True),
                name="notif_recipient_unread_idx",
            ),
            # A group's members, latest first; partial, so a fan-out of ungrouped offers never touches it.
            models.Index(
                fields=["recipient", "group_key", "-id"],
                condition=Q(group_key__isnull=False),
                name="notif_recipient_group_idx",
            ),
            models.Index(
                fields=["job", "notification_type"],
                condition=Q(job__isnull=False),
                name="notif_job_type_idx",
            ),
        ]

    def __str__(self):
        return f"{self.notification_type} to {self.recipient_id}: {self.title}"

    def save(self, *args, **kwargs):
        if self._state.adding and self.partition_month is None:
            partitions.months_assign([self])
        if not self._state.adding or self.seq is not None:
            return super().save(*args, **kwargs)
        with transaction.atomic(using=kwargs.get("using")):
            sequencing.seqs_assign([self])
            return super().save(*args, **kwargs)

    @property
    def is_expired(self) -> bool:
        return self.expired_at is not None

    @property
    def is_delivered(self) -> bool:
        # Derived, not a column: one source of truth, and nothing more to write per ack.
        return self.delivered_at is not None


class NotificationSequence(models.Model):
    """A user's last notification seq; its row lock orders the user's inserts by commit."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    last_seq = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.user_id}: {self.last_seq}"


class NotificationTemplate(models.Model):
    """Editable text for one type; at most one active per type (a partial unique index)."""

    name = models.CharField(max_length=100, unique=True)
    notification_type = models.CharField(max_length=32, choices=NotificationType.choices)
    title_template = models.CharField(max_length=300)
    message_template = models.TextField(max_length=4000)
    # Blank: the email's subject is the notification's title, its body the notification's message.
    email_subject_template = models.CharField(max_length=300, blank=True)
    email_body_template = models.TextField(max_length=4000, blank=True)
    default_priority = models.CharField(max_length=8, choices=Priority.choices, default=Priority.MEDIUM)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["notification_type", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["notification_type"],
                condition=Q(is_active=True),
                name="one_active_template_per_type",
                violation_error_message="Another template is already active for this type; deactivate it first.",
            )
        ]

    def __str__(self):
        return self.name


class NotificationPreference(models.Model):
    """A user's in-app mute of one type. No row means unmuted."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences"
    )
    notification_type = models.CharField(max_length=32, choices=NotificationType.choices)
    is_muted = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "notification_type"], name="one_preference_per_user_and_type")
        ]
        indexes = [
            models.Index(
                fields=["notification_type", "user"], condition=Q(is_muted=True), name="pref_muted_idx"
            )
        ]

    def __str__(self):
        return f"{self.user_id} {'mutes' if self.is_muted else 'allows'} {self.notification_type}"

"""Email and push: per-type channel choices, deliveries, quiet hours, digests and the job offer cap."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from jobs.models import Weekday

from ..catalog import GROUP_KEY_MAX_LENGTH, Channel, DigestKind, NotificationType
from .inbox import Notification


class NotificationChannelPreference(models.Model):
    """A user's choice for one type on one channel (email, push). No row: the catalog's default (on)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_channel_preferences"
    )
    notification_type = models.CharField(max_length=32, choices=NotificationType.choices)
    channel = models.CharField(max_length=8, choices=Channel.choices)
    is_enabled = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "notification_type", "channel"], name="one_channel_preference_per_user_type_channel"
            )
        ]

    def __str__(self):
        return f"{self.user_id} {self.notification_type} {self.channel}: {'on' if self.is_enabled else 'off'}"


class DeliveryState(models.TextChoices):
    PENDING = "pending", "Pending"
    # Claimed by a send task (attempts counted); a row left here past the lease is sent again.
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"
    SUPPRESSED = "suppressed", "Suppressed by preference"
    # Held back at its claim (a digest window, the job offer cap): it goes out in its digest.
    HELD = "held", "Held for a digest"
    DIGESTED = "digested", "Sent in a digest"


class ChannelDelivery(models.Model):
    """One notification on one channel (email or push): its state, schedule and the provider's answer."""

    # No index of its own: the unique (notification, channel) leads with it, and every index slows the fan-out.
    # Kept by the ORM's cascade, not the database: notifications are partitioned (notifications.partitions).
    notification = models.ForeignKey(
        Notification, on_delete=models.CASCADE, related_name="channel_deliveries", db_index=False, db_constraint=False
    )
    channel = models.CharField(max_length=8, choices=Channel.choices)
    state = models.CharField(max_length=10, choices=DeliveryState.choices, default=DeliveryState.PENDING)
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    provider_response = models.TextField(blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()
    # The digest it was held for (state held, then digested); NULL for a delivery sent on its own.
    # Set at claim time only: the fan-out's INSERT leaves it NULL, so its partial index costs that nothing.
    digest = models.ForeignKey(
        "ChannelDigest", on_delete=models.SET_NULL, null=True, blank=True, related_name="members", db_index=False
    )

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "channel deliveries"
        constraints = [
            models.UniqueConstraint(fields=["notification", "channel"], name="one_delivery_per_notification_and_channel")
        ]
        indexes = [
            # The beat's pick: only unfinished rows, by due time.
            models.Index(fields=["due_at"], condition=Q(state__in=["pending", "sending"]), name="delivery_unfinished_due_idx"),
            models.Index(fields=["digest"], condition=Q(digest__isnull=False), name="delivery_digest_idx"),
        ]

    def __str__(self):
        return f"{self.channel} of notification {self.notification_id} ({self.state})"


class QuietHours(models.Model):
    """A user's time zone and, in QuietHoursWindow rows, the weekdays they want no email or push.

    No row: the marketplace's zone (settings.TIME_ZONE) and no quiet hours. Written only by
    notifications.quiet_hours.quiet_hours_save, which checks the zone against the zone database.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="quiet_hours")
    time_zone = models.CharField(max_length=64)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "quiet hours"

    def __str__(self):
        return f"quiet hours of {self.user_id} ({self.time_zone})"


class QuietHoursWindow(models.Model):
    """One weekday's quiet window, in the user's local time. An end before the start
    crosses midnight: Monday 22:00-07:00 runs from Monday evening to Tuesday morning."""

    # Its column is the user's id (QuietHours' primary key): the rule reads windows by user without a join.
    quiet_hours = models.ForeignKey(QuietHours, on_delete=models.CASCADE, related_name="windows", db_index=False)
    weekday = models.CharField(max_length=3, choices=Weekday.choices)
    start = models.TimeField()
    end = models.TimeField()

    class Meta:
        ordering = ["quiet_hours", "id"]
        constraints = [
            # Also the index the rule reads by (quiet_hours_id IN (...)).
            models.UniqueConstraint(fields=["quiet_hours", "weekday"], name="one_quiet_window_per_user_and_weekday"),
            # Equal times could mean "all day" or "never": refused rather than guessed.
            models.CheckConstraint(condition=~Q(start=F("end")), name="quiet_window_start_is_not_its_end"),
            models.CheckConstraint(condition=Q(weekday__in=Weekday.values), name="quiet_window_weekday_known"),
        ]

    def __str__(self):
        return f"{self.quiet_hours_id} {self.weekday} {self.start:%H:%M}-{self.end:%H:%M}"


class DigestState(models.TextChoices):
    # A window collecting held deliveries until window_ends_at (a cap digest: until a push slot frees).
    OPEN = "open", "Collecting"
    # Due again (a retry, or its worker died): it takes no new members; a new window does.
    PENDING = "pending", "Pending"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


class DigestReason(models.TextChoices):
    WINDOW = "window", "Digest window of its type"
    JOB_OFFER_CAP = "job_offer_cap", "Hourly job offer push cap"
    UNTIL = "until", "Held until a set time (quiet hours)"


class ChannelDigest(models.Model):
    """Deliveries of one (user, channel, batch key) held back and sent as one email or push.

    An open row is also the batch's window: while it is open, new deliveries of the batch join it.
    A window that ends with no member is deleted (closed): the next delivery goes at once again.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    channel = models.CharField(max_length=8, choices=Channel.choices)
    batch_key = models.CharField(max_length=GROUP_KEY_MAX_LENGTH)
    reason = models.CharField(max_length=16, choices=DigestReason.choices)
    kind = models.CharField(max_length=32, choices=DigestKind.choices)  # its template
    state = models.CharField(max_length=10, choices=DigestState.choices, default=DigestState.OPEN)
    # The delivery that went at once and opened the window (NULL for a window a digest restarted).
    opened_by_delivery_id = models.BigIntegerField(null=True, blank=True)
    window_ends_at = models.DateTimeField()
    # When the beat next looks at it (the window's end, a retry's backoff, a lease).
    due_at = models.DateTimeField()
    attempts = models.PositiveIntegerField(default=0)
    member_count = models.PositiveIntegerField(default=0)  # the members it went out with
    sent_at = models.DateTimeField(null=True, blank=True)
    provider_response = models.TextField(blank=True)
    cancel_reason = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField()

    class Meta:
        ordering = ["-id"]
        constraints = [
            # One window per batch: concurrent claims agree on it through this index (ON CONFLICT).
            models.UniqueConstraint(
                fields=["user", "channel", "batch_key"], condition=Q(state="open"), name="one_open_digest_per_batch"
            )
        ]
        indexes = [
            models.Index(fields=["due_at"], condition=Q(state__in=["open", "pending", "sending"]), name="digest_unfinished_due_idx"),
        ]

    def __str__(self):
        return f"{self.channel} digest {self.batch_key} of user {self.user_id} ({self.state})"


class DigestTemplate(models.Model):
    """Staff's wording of one digest kind; no row: the catalog's (DIGEST_DEFAULTS)."""

    kind = models.CharField(max_length=32, choices=DigestKind.choices, unique=True)
    email_subject_template = models.CharField(max_length=300)
    email_body_template = models.TextField(max_length=4000)
    push_title_template = models.CharField(max_length=300)
    push_body_template = models.TextField(max_length=4000)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["kind"]

    def __str__(self):
        return f"digest template: {self.get_kind_display()}"


class JobOfferPushCap(models.Model):
    """A cleaner's own hourly cap on job offer pushes; no row: JOB_OFFER_PUSHES_PER_HOUR."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, primary_key=True, related_name="+")
    per_hour = models.PositiveSmallIntegerField()
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.user_id}: {self.per_hour} job offer pushes per hour"


class JobOfferPushSlot(models.Model):
    """One job offer push (or cap digest) a cleaner was sent: the rolling hour counts these.

    Written when the push is claimed; rows older than an hour mean nothing and are purged.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+", db_index=False)
    taken_at = models.DateTimeField()

    class Meta:
        indexes = [
            models.Index(fields=["user", "taken_at"], name="offer_slot_user_idx"),
            models.Index(fields=["taken_at"], name="offer_slot_purge_idx"),
        ]

    def __str__(self):
        return f"{self.user_id} at {self.taken_at}"

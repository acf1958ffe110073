"""Notifications, their templates, users' preferences and the outbox of domain events."""

from django.conf import settings
from django.db import models, transaction
from django.db.models import F, Q

from jobs.models import Weekday

from . import partitions, sequencing
from .catalog import GROUP_KEY_MAX_LENGTH, Channel, DigestKind, NotificationType, Priority


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    # The audience was split into chunks; each chunk finishes on its own.
    DISPATCHED = "dispatched", "Dispatched in chunks"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class OutboxEvent(models.Model):
    """One domain event, written in the same transaction as the change that caused it.

    Small and ids only: the task re-reads the world when it runs.
    """

    event_type = models.CharField(max_length=32, choices=NotificationType.choices)
    payload = models.JSONField(default=dict)
    # Makes "at most once" events (a reminder per job) safe against double scheduling.
    dedupe_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    status = models.CharField(
        max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    recipient_count = models.PositiveIntegerField(default=0)
    chunk_count = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    processed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["updated_at"],
                condition=Q(status__in=["pending", "dispatched"]),
                name="outbox_unfinished_idx",
            ),
            # /healthz counts failed events on every probe: this keeps that count tiny.
            models.Index(fields=["updated_at"], condition=Q(status="failed"), name="outbox_failed_idx"),
        ]

    def __str__(self):
        return f"{self.event_type} #{self.pk} ({self.status})"

    @property
    def delivered_directly(self) -> bool:
        """Done by the direct path (notifications.outbox.direct): no chunks, someone told, and its
        frames published right after its commit (processed_at), not per chunk."""
        return self.status == OutboxStatus.DONE and self.chunk_count == 0 and self.recipient_count > 0


class OutboxChunk(models.Model):
    """A slice [first_recipient_id, last_recipient_id] of a big event's audience."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="chunks")
    first_recipient_id = models.BigIntegerField()
    last_recipient_id = models.BigIntegerField()
    # The audience is resolved once, by the event's task; chunks only insert these ids.
    recipient_ids = models.JSONField(default=list)
    is_done = models.BooleanField(default=False)
    recipient_count = models.PositiveIntegerField(default=0)
    # Attempts that raised a non-transient error; after OUTBOX_MAX_ATTEMPTS the chunk is failed
    # (and its event too) and the sweeper leaves it alone until staff retry it.
    attempts = models.PositiveIntegerField(default=0)
    is_failed = models.BooleanField(default=False)
    last_error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    # When its notifications were handed to the stream (the trace's "publish" hop): per chunk,
    # not per row, so the fan-out pays one UPDATE for it.
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["event", "first_recipient_id"], name="unique_chunk_per_event")
        ]

    def __str__(self):
        return f"chunk {self.first_recipient_id}-{self.last_recipient_id} of {self.event_id}"


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


class RetentionRun(models.Model):
    """One run of the retention purge (notifications.retention): what it removed, and where it stopped."""

    started_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The ids it examined: [first_id, next_id). The next run resumes at next_id; 0 starts a new lap.
    first_id = models.BigIntegerField(default=0)
    next_id = models.BigIntegerField(default=0)
    batches = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    deleted_by_type = models.JSONField(default=dict, blank=True)
    # "caught_up": reached rows too young for any rule (the lap is over); "time_budget": stopped to resume later.
    stopped_because = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"retention run #{self.pk}: {self.deleted} deleted"


class AccountDeletion(models.Model):
    """A user's request to delete their account: deactivated at once, their rows removed by a task.

    Keeps the user id as a plain number: the user row is gone when it finishes.
    """

    user_id = models.BigIntegerField(unique=True)
    requested_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    notifications_deleted = models.PositiveIntegerField(default=0)
    # "deleted": the user row is gone; "anonymized": payments they made or received must be kept,
    # so the row stays, inactive, with no name, e-mail or usable password.
    outcome = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["requested_at"], condition=Q(finished_at__isnull=True), name="account_deletion_pending_idx")]

    def __str__(self):
        return f"account {self.user_id}: {self.outcome or 'pending'}"


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

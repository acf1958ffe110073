"""The outbox of domain events: one row per event, split into chunks for big audiences."""

from django.db import models
from django.db.models import Q

from ..catalog import NotificationType


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

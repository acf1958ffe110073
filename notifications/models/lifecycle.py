"""Records of the data's life: retention runs and account deletions."""

from django.db import models
from django.db.models import Q


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

"""The marketplace domain: cleaners, jobs, bids, payments and messages.

Models hold data and constraints only; the rules live in jobs/services.py.
"""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q

from .fields import ChoiceSetField

MAX_SERVICE_RADIUS_KM = 100
MAX_BUDGET = Decimal("100000.00")



def user_display_name(user) -> str:
    """How a person is named on pages and in notification texts: their full name, else their username."""
    return user.get_full_name() or user.username

class ServiceType(models.TextChoices):
    STANDARD = "standard", "Standard cleaning"
    DEEP = "deep", "Deep cleaning"
    MOVE_OUT = "move_out", "Move-out cleaning"
    OFFICE = "office", "Office cleaning"
    WINDOWS = "windows", "Window cleaning"
    CARPET = "carpet", "Carpet cleaning"
    POST_CONSTRUCTION = "post_construction", "Post-construction cleaning"


class Weekday(models.TextChoices):
    # Order matters: the index is Python's date.weekday().
    MONDAY = "mon", "Monday"
    TUESDAY = "tue", "Tuesday"
    WEDNESDAY = "wed", "Wednesday"
    THURSDAY = "thu", "Thursday"
    FRIDAY = "fri", "Friday"
    SATURDAY = "sat", "Saturday"
    SUNDAY = "sun", "Sunday"


class TracksStatusChanges(models.Model):
    """Remembers the status an instance was loaded with, so a post_save receiver
    can tell a transition from a plain re-save (the admin saves every field)."""

    class Meta:
        abstract = True

    @classmethod
    def from_db(cls, db, field_names, values):
        instance = super().from_db(db, field_names, values)
        instance.status_at_load = instance.__dict__.get("status")
        return instance

    @property
    def status_changed(self) -> bool:
        return self.status != getattr(self, "status_at_load", None)

    def mark_status_seen(self) -> None:
        self.status_at_load = self.status


class CleanerProfile(models.Model):
    """A user with a profile is a cleaner; every other user is a client."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="cleaner_profile"
    )
    # Stored as bit masks so "offers X" and "works on day Y" are one AND in SQL.
    service_types = ChoiceSetField(choices=ServiceType.choices)
    working_days = ChoiceSetField(choices=Weekday.choices)
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    service_radius_km = models.FloatField(
        validators=[MinValueValidator(0.1), MaxValueValidator(MAX_SERVICE_RADIUS_KM)]
    )
    # What the cleaner typed for the centre of their area; latitude/longitude are geocoded
    # from it. Blank for profiles placed by coordinates only (the admin, the demo seed).
    service_area_address = models.CharField(max_length=255, blank=True)
    service_area_city = models.CharField(max_length=100, blank=True)
    is_verified = models.BooleanField(default=False)
    rating = models.DecimalField(
        max_digits=3,
        decimal_places=2,
        default=Decimal("0"),
        validators=[MinValueValidator(0), MaxValueValidator(5)],
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["latitude", "longitude"], name="cleaner_location_idx")]

    def __str__(self):
        return f"Cleaner {self.user}"


class CleanerUnavailability(models.Model):
    """A day off: the cleaner gets no job starting on that date."""

    cleaner = models.ForeignKey(
        CleanerProfile, on_delete=models.CASCADE, related_name="unavailable_days"
    )
    date = models.DateField()

    class Meta:
        verbose_name_plural = "cleaner unavailabilities"
        constraints = [
            models.UniqueConstraint(fields=["cleaner", "date"], name="unique_cleaner_day_off")
        ]

    def __str__(self):
        return f"{self.cleaner} off on {self.date}"


class ClientBlock(models.Model):
    """A client blocks a cleaner: never notified of, never able to bid on their jobs."""

    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocked_cleaners"
    )
    cleaner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="blocked_by_clients"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "cleaner"], name="unique_client_block")
        ]

    def __str__(self):
        return f"{self.client} blocks {self.cleaner}"


class JobStatus(models.TextChoices):
    OPEN = "open", "Open"
    ASSIGNED = "assigned", "Assigned"
    IN_PROGRESS = "in_progress", "In progress"
    COMPLETED = "completed", "Completed"
    CANCELLED = "cancelled", "Cancelled"


class CleaningJob(TracksStatusChanges):
    client = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="posted_jobs"
    )
    title = models.CharField(max_length=120)
    description = models.TextField(max_length=4000, blank=True)
    service_type = models.CharField(max_length=32, choices=ServiceType.choices)
    address = models.CharField(max_length=255)
    city = models.CharField(max_length=100)
    latitude = models.FloatField(validators=[MinValueValidator(-90), MaxValueValidator(90)])
    longitude = models.FloatField(validators=[MinValueValidator(-180), MaxValueValidator(180)])
    scheduled_start = models.DateTimeField()
    duration_hours = models.DecimalField(
        max_digits=4,
        decimal_places=1,
        validators=[MinValueValidator(Decimal("0.5")), MaxValueValidator(Decimal("72"))],
    )
    budget = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(MAX_BUDGET)],
    )
    status = models.CharField(
        max_length=16, choices=JobStatus.choices, default=JobStatus.OPEN, db_index=True
    )
    assigned_cleaner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_jobs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "service_type"], name="job_status_service_idx")]

    def __str__(self):
        return self.title


class BidStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    ACCEPTED = "accepted", "Accepted"
    REJECTED = "rejected", "Rejected"
    WITHDRAWN = "withdrawn", "Withdrawn"


LIVE_BID_STATUSES = (BidStatus.PENDING, BidStatus.ACCEPTED)


class JobBid(TracksStatusChanges):
    job = models.ForeignKey(CleaningJob, on_delete=models.CASCADE, related_name="bids")
    cleaner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="bids"
    )
    amount = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(MAX_BUDGET)],
    )
    message = models.TextField(max_length=2000, blank=True)
    status = models.CharField(
        max_length=16, choices=BidStatus.choices, default=BidStatus.PENDING, db_index=True
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # One live bid per cleaner per job; a withdrawn or rejected bid frees the slot.
            models.UniqueConstraint(
                fields=["job", "cleaner"],
                condition=Q(status__in=LIVE_BID_STATUSES),
                name="one_live_bid_per_cleaner_per_job",
            )
        ]

    def __str__(self):
        return f"{self.cleaner} bids {self.amount} on {self.job}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"


class Payment(TracksStatusChanges):
    job = models.ForeignKey(CleaningJob, on_delete=models.PROTECT, related_name="payments")
    payer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments_made"
    )
    payee = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="payments_received"
    )
    amount = models.DecimalField(
        max_digits=9,
        decimal_places=2,
        validators=[MinValueValidator(Decimal("1")), MaxValueValidator(MAX_BUDGET)],
    )
    status = models.CharField(
        max_length=16, choices=PaymentStatus.choices, default=PaymentStatus.PENDING
    )
    provider_reference = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["job"],
                condition=Q(status="succeeded"),
                name="one_successful_payment_per_job",
            )
        ]

    def __str__(self):
        return f"{self.amount} for {self.job} ({self.status})"


class JobMessage(models.Model):
    job = models.ForeignKey(CleaningJob, on_delete=models.CASCADE, related_name="messages")
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="sent_job_messages"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="received_job_messages"
    )
    body = models.TextField(max_length=4000)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["job", "created_at"], name="message_job_time_idx")]

    def __str__(self):
        return f"{self.sender} -> {self.recipient} on {self.job}"

"""Test data for fault tests, made fast (bulk INSERTs) and without running any task here."""

from decimal import Decimal

from django.contrib.auth import get_user_model
from rest_framework.authtoken.models import Token

from jobs.models import CleanerProfile, CleaningJob, ServiceType, Weekday
from notifications.catalog import NotificationType
from notifications.models import OutboxEvent
from tests.factories import CITY_LAT, CITY_LON, CleaningJobFactory

User = get_user_model()


def make_cleaners(count: int, prefix: str = "rel") -> list[int]:
    """`count` cleaners eligible for a default job, in two bulk INSERTs (factories are too slow here)."""
    users = User.objects.bulk_create(
        [User(username=f"{prefix}{i}", email=f"{prefix}{i}@example.com", password="!", is_active=True) for i in range(count)],
        batch_size=2000,
    )
    CleanerProfile.objects.bulk_create(
        [
            CleanerProfile(
                user_id=user.pk,
                service_types=frozenset(ServiceType.values),
                working_days=frozenset(Weekday.values),
                latitude=CITY_LAT,
                longitude=CITY_LON,
                service_radius_km=25.0,
                is_verified=True,
                rating=Decimal("4.50"),
            )
            for user in users
        ],
        batch_size=2000,
    )
    return [user.pk for user in users]


def record_job_created() -> OutboxEvent:
    """An open job and its job_created outbox row, as the post_save signal records them.

    Written directly (bulk_create skips the signal) so that this test process, which
    has no broker, does not run the task itself: the test hands it to the real broker.
    """
    job = CleaningJobFactory.build()
    job.client.save()
    job.client_id = job.client.pk
    CleaningJob.objects.bulk_create([job])
    return OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk})


def token_header(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}

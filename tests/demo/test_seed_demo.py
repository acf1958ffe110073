"""seed_demo: realistic data, idempotent, deterministic, and silent towards post_save."""

import io
import math

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.db.models.signals import post_save
from django.utils import timezone

from demo.story import STORY_TITLES, UNREAD_KEPT_PER_GUIDE, WELCOME_TITLE
from demo.management.commands.seed_demo import CENTRE_LAT, CENTRE_LON, DEMO_PASSWORD
from jobs.models import (
    BidStatus,
    CleanerProfile,
    CleanerUnavailability,
    CleaningJob,
    JobBid,
    JobMessage,
    JobStatus,
    Payment,
    PaymentStatus,
)
from jobs.selectors import EARTH_RADIUS_KM, cleaners_eligible_for_job, jobs_open_for_cleaner
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus

pytestmark = pytest.mark.django_db

User = get_user_model()


def seed(**kwargs):
    out, err = io.StringIO(), io.StringIO()
    call_command("seed_demo", stdout=out, stderr=err, **kwargs)
    return out.getvalue(), err.getvalue()


def counts():
    return {
        "users": User.objects.count(),
        "profiles": CleanerProfile.objects.count(),
        "days_off": CleanerUnavailability.objects.count(),
        "jobs": CleaningJob.objects.count(),
        "bids": JobBid.objects.count(),
        "messages": JobMessage.objects.count(),
        "payments": Payment.objects.count(),
        "outbox_events": OutboxEvent.objects.count(),
        "notifications": Notification.objects.count(),
        "read": Notification.objects.filter(is_read=True).count(),
    }


def snapshot():
    profiles = CleanerProfile.objects.order_by("user__username").values_list(
        "user__username", "latitude", "longitude", "service_radius_km", "service_types", "working_days",
        "is_verified", "rating",
    )
    jobs = CleaningJob.objects.order_by("client__username", "title").values_list(
        "client__username", "title", "service_type", "latitude", "longitude", "budget"
    )
    return list(profiles), list(jobs)


def km_from_centre(lat, lon):
    p1, p2 = math.radians(CENTRE_LAT), math.radians(lat)
    dp, dl = p2 - p1, math.radians(lon - CENTRE_LON)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_KM * math.asin(math.sqrt(a))


def test_first_run_creates_the_city_and_a_second_run_creates_nothing():
    out, err = seed(clients=4, cleaners=30)
    first = counts()
    assert first["users"] == 4 + 30 + 1
    assert first["profiles"] == 30
    assert first["jobs"] >= 4  # at least one open job per client
    assert CleaningJob.objects.values("client").distinct().count() == 4
    assert first["bids"] > 0
    assert "Created" in out
    assert "cleaners" in err  # the progress bar

    out2, _ = seed(clients=4, cleaners=30)
    assert counts() == first
    assert "Nothing new" in out2


def test_prints_the_logins_and_they_work():
    out, _ = seed(clients=2, cleaners=3)
    assert DEMO_PASSWORD in out
    for name in ("admin", "client1 .. client2", "cleaner1 .. cleaner3"):
        assert name in out
    admin = authenticate(username="admin", password=DEMO_PASSWORD)
    assert admin is not None and admin.is_superuser and admin.is_staff
    assert authenticate(username="client2", password=DEMO_PASSWORD) is not None
    assert authenticate(username="cleaner3", password=DEMO_PASSWORD) is not None
    # One hash computed once and shared.
    assert User.objects.filter(username__startswith="cleaner").values("password").distinct().count() == 1


def test_the_same_seed_gives_the_same_city_and_growing_keeps_the_existing_rows():
    seed(clients=3, cleaners=10)
    small_profiles, small_jobs = snapshot()
    seed(clients=5, cleaners=25)
    assert counts()["profiles"] == 25
    assert CleaningJob.objects.values("client").distinct().count() == 5
    big_profiles, big_jobs = snapshot()
    assert set(small_profiles) <= set(big_profiles)
    assert set(small_jobs) <= set(big_jobs)


def test_the_data_is_realistic():
    seed(clients=6, cleaners=120)
    profiles = list(CleanerProfile.objects.all())
    assert all(km_from_centre(p.latitude, p.longitude) <= 15.01 for p in profiles)
    assert all(3 <= p.service_radius_km <= 30 for p in profiles)
    assert len({p.service_radius_km for p in profiles}) > 3
    assert all(p.service_types and p.working_days for p in profiles)
    assert len({p.service_types for p in profiles}) > 5
    verified = sum(p.is_verified for p in profiles)
    assert len(profiles) // 2 < verified < len(profiles)  # most, not all
    assert all(0 <= p.rating <= 5 for p in profiles)
    assert CleanerUnavailability.objects.exists()

    now = timezone.now()
    city_jobs = CleaningJob.objects.exclude(title__in=STORY_TITLES)
    for job in city_jobs:
        assert job.status == JobStatus.OPEN
        assert job.scheduled_start > now
        assert km_from_centre(job.latitude, job.longitude) <= 8.01
        job.full_clean()  # within every model constraint
    for bid in JobBid.objects.filter(job__in=city_jobs).select_related("job"):
        assert bid.status == BidStatus.PENDING
        assert cleaners_eligible_for_job(job=bid.job).filter(pk=bid.cleaner_id).exists()


def test_the_city_sends_no_post_save_only_the_storyline_does():
    received = []

    def receiver(sender, instance, **kwargs):
        received.append(instance.title if sender is CleaningJob else instance.job.title)

    post_save.connect(receiver, sender=CleaningJob, weak=False)
    post_save.connect(receiver, sender=JobBid, weak=False)
    try:
        seed(clients=3, cleaners=20)
    finally:
        post_save.disconnect(receiver, sender=CleaningJob)
        post_save.disconnect(receiver, sender=JobBid)
    assert CleaningJob.objects.exclude(title__in=STORY_TITLES).count() >= 3
    assert received and set(received) <= STORY_TITLES  # bulk inserts notify nobody


def test_batches_larger_than_one_insert(monkeypatch):
    from demo.management.commands import seed_demo

    monkeypatch.setattr(seed_demo, "BATCH_POSTGRES", 7)
    monkeypatch.setattr(seed_demo, "BATCH_SQLITE", 7)
    _, err = seed(clients=9, cleaners=40)
    assert counts()["profiles"] == 40
    assert CleaningJob.objects.values("client").distinct().count() == 9
    assert "40/40" in err
    out, _ = seed(clients=9, cleaners=40)
    assert "Nothing new" in out


def test_zero_and_negative_counts():
    out, _ = seed(clients=0, cleaners=0, no_progress=True)
    assert counts()["users"] == 1  # just the admin
    with pytest.raises(CommandError):
        seed(clients=-1, cleaners=1)


# --- the storyline: a demo in motion ----------------------------------------------------------


def board_titles(username):
    return set(jobs_open_for_cleaner(cleaner=User.objects.get(username=username)).values_list("title", flat=True))


def test_cleaner1_has_open_jobs_on_the_board_and_client1_has_a_job_with_pending_bids():
    seed(clients=4, cleaners=80, no_progress=True)
    on_board = board_titles("cleaner1")
    assert {"Deep clean of our new flat before we move in", "Weekly clean for a family of four"} <= on_board
    client1_pending = JobBid.objects.filter(job__client__username="client1", status=BidStatus.PENDING)
    job = CleaningJob.objects.get(title="Deep clean of our new flat before we move in")
    others_near = cleaners_eligible_for_job(job=job).exclude(username="cleaner1").count()
    assert others_near >= 1
    assert client1_pending.filter(job=job).count() == min(3, others_near)
    # cleaner1 was offered what is on the board, through the pipeline
    offers = Notification.objects.filter(recipient__username="cleaner1", notification_type=NotificationType.JOB_CREATED)
    assert {"Deep clean of our new flat before we move in", "Weekly clean for a family of four"} <= {
        n.job.title for n in offers.select_related("job") if n.job and n.expired_at is None
    }


def test_the_storyline_has_a_job_at_every_state():
    seed(clients=4, cleaners=80, no_progress=True)
    story = {job.title: job for job in CleaningJob.objects.filter(title__in=STORY_TITLES)}
    assert len(story) == 8
    state = {title: job.status for title, job in story.items()}
    assert state["Deep clean of our new flat before we move in"] == JobStatus.OPEN
    assert state["Kitchen and bathroom refresh"] == JobStatus.OPEN
    assert JobBid.objects.get(job=story["Kitchen and bathroom refresh"]).cleaner.username == "cleaner1"
    assert state["Fortnightly clean of a 3-room apartment"] == JobStatus.ASSIGNED
    assert state["End-of-tenancy clean, keys back Friday"] == JobStatus.IN_PROGRESS
    assert state["Clean-up after the birthday party"] == JobStatus.COMPLETED
    assert state["Spring clean, windows included"] == JobStatus.COMPLETED
    assert state["Office clean before the audit"] == JobStatus.CANCELLED
    assert not Payment.objects.filter(job=story["Clean-up after the birthday party"]).exists()
    assert Payment.objects.get(job=story["Spring clean, windows included"]).status == PaymentStatus.SUCCEEDED
    for title in ("Fortnightly clean of a 3-room apartment", "Spring clean, windows included"):
        assert story[title].assigned_cleaner.username == "cleaner1"
    thread = JobMessage.objects.filter(job=story["Fortnightly clean of a 3-room apartment"]).order_by("pk")
    assert [(m.sender.username, m.recipient.username) for m in thread] == [
        ("client1", "cleaner1"), ("cleaner1", "client1"), ("client1", "cleaner1")
    ]


def test_the_storyline_notifications_are_the_pipelines_some_read_some_not():
    seed(clients=4, cleaners=80, no_progress=True)
    # Every notification belongs to an outbox event, and every event was delivered.
    assert not Notification.objects.filter(event__isnull=True).exists()
    assert set(OutboxEvent.objects.values_list("status", flat=True)) == {OutboxStatus.DONE}
    assert Notification.objects.filter(notification_type=NotificationType.SYSTEM_ALERT, title=WELCOME_TITLE).count() == (
        User.objects.filter(is_active=True).count()
    )
    for guide in ("cleaner1", "client1"):
        mine = Notification.objects.filter(recipient__username=guide, expired_at__isnull=True)
        assert mine.filter(is_read=False).count() == UNREAD_KEPT_PER_GUIDE
        assert mine.filter(is_read=True).count() >= 3
    client1_types = set(Notification.objects.filter(recipient__username="client1").values_list("notification_type", flat=True))
    assert {"bid_received", "job_accepted", "job_started", "job_completed", "message_received", "system_alert"} <= client1_types
    cleaner1_types = set(Notification.objects.filter(recipient__username="cleaner1").values_list("notification_type", flat=True))
    assert {"job_created", "bid_accepted", "job_cancelled", "payment_received", "message_received"} <= cleaner1_types


def test_a_second_seed_creates_nothing_not_even_notifications():
    seed(clients=4, cleaners=80, no_progress=True)
    first = counts()
    assert first["notifications"] > 0 and first["messages"] == 7 and first["payments"] == 1
    out, _ = seed(clients=4, cleaners=80, no_progress=True)
    assert counts() == first
    assert "Nothing new" in out

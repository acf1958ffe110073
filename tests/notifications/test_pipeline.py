"""Every catalog type reaches exactly the right people, once, with the rendered text.

Tasks run in-process here (no broker configured, the embedded default) and
on-commit callbacks are executed, so the whole path signal -> outbox -> task ->
insert runs as in production, against PostgreSQL.
"""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from jobs import services as job_services
from jobs.models import CleaningJob, JobStatus
from notifications import services
from notifications.catalog import NotificationType
from notifications.models import Notification, NotificationPreference, OutboxEvent, OutboxStatus
from notifications.outbox import dispatch
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory

pytestmark = pytest.mark.django_db



def received(notification_type):
    return list(
        Notification.objects.filter(notification_type=notification_type).order_by("recipient_id").values_list("recipient_id", flat=True)
    )


def post_job(run, client, **overrides):
    fields = {
        "title": "Spring clean",
        "service_type": "standard",
        "address": "Damrak 1",
        "city": "Amsterdam",
        "latitude": 52.3676,
        "longitude": 4.9041,
        "scheduled_start": timezone.now() + timedelta(days=3),
        "duration_hours": Decimal("3"),
        "budget": Decimal("120"),
    }
    return run(job_services.job_create, client=client, **(fields | overrides))


def test_job_created_reaches_every_eligible_cleaner_once_and_nobody_else(run):
    eligible = [CleanerFactory() for _ in range(3)]
    CleanerFactory(profile__is_verified=False)
    CleanerFactory(profile__service_types=frozenset({"windows"}))
    muted = CleanerFactory()
    NotificationPreference.objects.create(user=muted, notification_type=NotificationType.JOB_CREATED, is_muted=True)
    client = ClientFactory()

    job = post_job(run, client, title="Spring clean")

    assert received(NotificationType.JOB_CREATED) == sorted(c.pk for c in eligible)
    notification = Notification.objects.filter(notification_type=NotificationType.JOB_CREATED).first()
    assert notification.title == "New Standard cleaning job in Amsterdam"
    assert notification.message.startswith("Spring clean on ")
    assert notification.priority == "medium"
    assert notification.action_url == f"/jobs/{job.pk}/"
    assert notification.job_id == job.pk
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED)
    assert (event.status, event.recipient_count) == (OutboxStatus.DONE, 3)


def test_processing_an_event_again_creates_no_duplicate(run):
    CleanerFactory.create_batch(2)
    post_job(run, ClientFactory())
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED)

    OutboxEvent.objects.filter(pk=event.pk).update(status=OutboxStatus.PENDING)
    event.chunks.all().delete()
    dispatch.outbox_event_dispatch(event_id=event.pk)

    assert Notification.objects.filter(event=event).count() == 2


@pytest.mark.usefixtures("chunked_path")
def test_a_job_assigned_between_dispatch_and_its_one_chunk_gets_no_offers(run, monkeypatch):
    # The one chunk reuses the plan its dispatch built a moment before; the chunk's own
    # transaction still checks the job is open (and locks it) before inserting offers.
    CleanerFactory.create_batch(3)
    real_deliver = dispatch.outbox_chunk_deliver

    def assigned_in_between(**kwargs):
        CleaningJob.objects.update(status=JobStatus.ASSIGNED)  # the test's one job
        real_deliver(**kwargs)

    monkeypatch.setattr(dispatch, "outbox_chunk_deliver", assigned_in_between)
    job = post_job(run, ClientFactory())
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED)

    assert CleaningJob.objects.get(pk=job.pk).status == JobStatus.ASSIGNED
    assert received(NotificationType.JOB_CREATED) == []
    event.refresh_from_db()
    assert (event.status, event.chunk_count, event.recipient_count) == (OutboxStatus.DONE, 1, 0)


def test_rollback_leaves_no_event_and_no_notification(run):
    CleanerFactory()
    client = ClientFactory()
    with pytest.raises(RuntimeError):
        with transaction.atomic():
            post_job(run, client)
            raise RuntimeError("the request failed after the job was saved")
    assert OutboxEvent.objects.count() == 0
    assert Notification.objects.count() == 0


@pytest.mark.usefixtures("chunked_path")
def test_big_audience_is_split_into_chunks_and_delivered_once(run, monkeypatch):
    monkeypatch.setattr(dispatch, "FANOUT_CHUNK_SIZE", 4)
    cleaners = CleanerFactory.create_batch(10)
    post_job(run, ClientFactory())
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED)
    assert event.chunk_count == 3
    assert event.status == OutboxStatus.DONE
    assert received(NotificationType.JOB_CREATED) == sorted(c.pk for c in cleaners)


def test_bid_lifecycle_notifies_client_winner_and_losers(run):
    client = ClientFactory()
    winner, loser = CleanerFactory(first_name="Wendy", last_name="Winner"), CleanerFactory()
    job = post_job(run, client, title="Office")
    bid = run(job_services.bid_place, job=job, cleaner=winner, amount=Decimal("99"))
    other = run(job_services.bid_place, job=job, cleaner=loser, amount=Decimal("90"))

    assert received(NotificationType.BID_RECEIVED) == [client.pk, client.pk]
    first = Notification.objects.filter(notification_type=NotificationType.BID_RECEIVED).order_by("id").first()
    assert first.title == "New bid on Office"
    assert first.message == "Wendy Winner offers €99.00."

    run(job_services.bid_accept, bid=bid, client=client)

    assert received(NotificationType.BID_ACCEPTED) == [winner.pk]
    assert received(NotificationType.BID_REJECTED) == [loser.pk]
    assert Notification.objects.get(notification_type=NotificationType.BID_REJECTED).message == "The client chose another offer."
    assert received(NotificationType.JOB_ASSIGNED) == [client.pk]
    assert Notification.objects.get(notification_type=NotificationType.BID_ACCEPTED).priority == "high"
    # The loser's offer of the job is retracted; the winner's stays.
    offers = Notification.objects.filter(notification_type=NotificationType.JOB_CREATED, job=job)
    assert set(offers.filter(expired_at__isnull=False).values_list("recipient_id", flat=True)) == {loser.pk}
    assert set(offers.filter(expired_at__isnull=True).values_list("recipient_id", flat=True)) == {winner.pk}
    assert other.pk


def test_job_progress_notifies_the_client(run):
    client = ClientFactory()
    cleaner = CleanerFactory()
    job = post_job(run, client)
    bid = run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("99"))
    run(job_services.bid_accept, bid=bid, client=client)
    run(job_services.job_start, job=job, cleaner=cleaner)
    run(job_services.job_complete, job=job, cleaner=cleaner)
    run(job_services.payment_create, job=job, payer=client)

    assert received(NotificationType.JOB_STARTED) == [client.pk]
    assert received(NotificationType.JOB_COMPLETED) == [client.pk]
    assert received(NotificationType.PAYMENT_RECEIVED) == [cleaner.pk]
    assert Notification.objects.get(notification_type=NotificationType.PAYMENT_RECEIVED).title == "Payment received: €99.00"


def test_cancel_notifies_pending_bidders_and_rejects_their_bids(run):
    client = ClientFactory()
    bidders = CleanerFactory.create_batch(2)
    bystander = CleanerFactory()
    job = post_job(run, client)
    for cleaner in bidders:
        run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("80"))

    run(job_services.job_cancel, job=job, client=client)

    assert received(NotificationType.JOB_CANCELLED) == sorted(c.pk for c in bidders)
    assert received(NotificationType.BID_REJECTED) == sorted(c.pk for c in bidders)
    assert {n.message for n in Notification.objects.filter(notification_type=NotificationType.BID_REJECTED)} == {
        "The client cancelled the job."
    }
    bystander_offer = Notification.objects.get(recipient=bystander, notification_type=NotificationType.JOB_CREATED)
    assert bystander_offer.expired_at is not None


def test_message_notifies_the_other_party_only(run):
    client = ClientFactory(first_name="Cora", last_name="")
    cleaner = CleanerFactory()
    job = post_job(run, client)
    run(job_services.bid_place, job=job, cleaner=cleaner, amount=Decimal("80"))

    run(job_services.message_send, job=job, sender=client, recipient=cleaner, body="Do you bring supplies?")

    assert received(NotificationType.MESSAGE_RECEIVED) == [cleaner.pk]
    notification = Notification.objects.get(notification_type=NotificationType.MESSAGE_RECEIVED)
    assert (notification.title, notification.message) == ("New message from Cora", "Do you bring supplies?")
    assert notification.action_url == f"/jobs/{job.pk}/#messages"
    assert notification.metadata == {
        "job_id": job.pk, "message_id": job.messages.get().pk, "sender_id": client.pk, "sender_name": "Cora",
    }
    assert notification.group_key == f"messages:job:{job.pk}:from:{client.pk}"


def test_announcement_reaches_its_audience(run):
    clients = ClientFactory.create_batch(2)
    cleaners = CleanerFactory.create_batch(2)
    run(services.announcement_send, audience="cleaners", title="Heads up", message="New rates")
    assert received(NotificationType.SYSTEM_ALERT) == sorted(c.pk for c in cleaners)
    run(services.announcement_send, audience="all", title="Maintenance", message="Tonight")
    assert len(received(NotificationType.SYSTEM_ALERT)) == 2 + len(clients) + len(cleaners)
    assert Notification.objects.filter(title="Maintenance", priority="urgent").count() == 4
    assert set(Notification.objects.filter(title="Maintenance").values_list("action_url", flat=True)) == {"/notifications/"}


def test_reminder_is_sent_once_24_hours_ahead(run):
    client, cleaner = ClientFactory(), CleanerFactory()
    soon = CleaningJobFactory(
        client=client, status=JobStatus.ASSIGNED, assigned_cleaner=cleaner,
        scheduled_start=timezone.now() + timedelta(hours=20),
    )
    CleaningJobFactory(client=client, status=JobStatus.ASSIGNED, assigned_cleaner=cleaner,
                       scheduled_start=timezone.now() + timedelta(hours=30))

    assert run(services.reminders_schedule_due) == 1
    assert run(services.reminders_schedule_due) == 0

    assert received(NotificationType.REMINDER) == sorted([client.pk, cleaner.pk])
    assert Notification.objects.filter(notification_type=NotificationType.REMINDER, job=soon).count() == 2

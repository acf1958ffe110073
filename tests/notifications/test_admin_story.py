"""The admin tells the story: each outbox event's audience and fan-out progress, and a short
preview of every notification template, right in the change lists."""

import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from jobs import services as job_services
from notifications.catalog import NotificationType
from notifications.models import NotificationTemplate, OutboxChunk, OutboxEvent, OutboxStatus
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory, JobBidFactory, JobMessageFactory, PaymentFactory

pytestmark = pytest.mark.django_db

OUTBOX_LIST = reverse("admin:notifications_outboxevent_changelist")
TEMPLATE_LIST = reverse("admin:notifications_notificationtemplate_changelist")


def row_of(page: str, event_id: int) -> str:
    """The HTML of one change-list row, found by the event's change link."""
    link = reverse("admin:notifications_outboxevent_change", args=[event_id])
    start = page.index(f'href="{link}"')
    return page[page.rfind("<tr", 0, start) : page.index("</tr>", start)]


def cells(row: str) -> list[str]:
    return [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]


def test_a_job_posted_through_the_pipeline_shows_its_eligible_cleaners_and_a_finished_fanout(
    admin_client, django_capture_on_commit_callbacks, settings
):
    settings.OUTBOX_DIRECT_MAX_RECIPIENTS = 0  # the chunked path, as a bigger audience takes
    cleaners = [CleanerFactory() for _ in range(3)]
    CleanerFactory(profile__is_verified=False)  # not eligible: not in the audience
    client = ClientFactory(username="amira")
    with django_capture_on_commit_callbacks(execute=True):
        job = job_services.job_create(
            client=client, title="Spring clean", service_type="standard", address="Damrak 1", city="Amsterdam",
            latitude=52.3676, longitude=4.9041, scheduled_start=timezone.now() + timedelta(days=2),
            duration_hours=Decimal("3"), budget=Decimal("90"),
        )
    event = OutboxEvent.objects.get(event_type=NotificationType.JOB_CREATED)
    assert event.status == OutboxStatus.DONE

    page = admin_client.get(OUTBOX_LIST).content.decode()
    assert 'class="column-audience"' in page and 'class="column-progress"' in page
    row = cells(row_of(page, event.pk))
    assert f"{len(cleaners)} eligible cleaners of job #{job.pk}" in row
    assert "1/1 chunks, 3 of 3 stored" in row
    assert "Done" in row


def test_audience_and_progress_of_events_at_every_stage(admin_client):
    client, cleaner = ClientFactory(username="client-zoe"), CleanerFactory(username="cleaner-ben")
    job = CleaningJobFactory(client=client)
    bid = JobBidFactory(job=job, cleaner=cleaner)
    message = JobMessageFactory(job=job, sender=cleaner, recipient=client)
    payment = PaymentFactory(job=job, payer=client, payee=cleaner)
    OutboxEvent.objects.all().delete()  # the factories' saves recorded events; these are the ones under test

    pending = OutboxEvent.objects.create(event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk})
    dispatched = OutboxEvent.objects.create(
        event_type=NotificationType.SYSTEM_ALERT, payload={"audience": "cleaners", "title": "t", "message": "m"},
        status=OutboxStatus.DISPATCHED, chunk_count=3,
    )
    OutboxChunk.objects.create(event=dispatched, first_recipient_id=1, last_recipient_id=3, recipient_ids=[1, 2, 3],
                               is_done=True, recipient_count=3)
    OutboxChunk.objects.create(event=dispatched, first_recipient_id=4, last_recipient_id=6, recipient_ids=[4, 5, 6],
                               is_failed=True, attempts=10)
    OutboxChunk.objects.create(event=dispatched, first_recipient_id=7, last_recipient_id=8, recipient_ids=[7, 8])
    received = OutboxEvent.objects.create(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": bid.pk})
    accepted = OutboxEvent.objects.create(event_type=NotificationType.BID_ACCEPTED, payload={"bid_id": bid.pk})
    cancelled = OutboxEvent.objects.create(
        event_type=NotificationType.JOB_CANCELLED, payload={"job_id": job.pk, "cleaner_ids": [cleaner.pk, 99]}
    )
    messaged = OutboxEvent.objects.create(event_type=NotificationType.MESSAGE_RECEIVED, payload={"message_id": message.pk})
    paid = OutboxEvent.objects.create(event_type=NotificationType.PAYMENT_RECEIVED, payload={"payment_id": payment.pk})
    started = OutboxEvent.objects.create(event_type=NotificationType.JOB_STARTED, payload={"job_id": job.pk})
    reminder = OutboxEvent.objects.create(event_type=NotificationType.REMINDER, payload={"job_id": job.pk})
    gone = OutboxEvent.objects.create(event_type=NotificationType.BID_REJECTED, payload={"bid_id": 987654})
    nobody = OutboxEvent.objects.create(
        event_type=NotificationType.JOB_CREATED, payload={"job_id": job.pk}, status=OutboxStatus.DONE
    )

    page = admin_client.get(OUTBOX_LIST).content.decode()
    expected = {
        pending: ("eligible cleaners of job #%d" % job.pk, "audience not resolved yet"),
        dispatched: ("all cleaners (8)", "1/3 chunks, 3 of 8 stored, 1 failed"),
        received: (f"client-zoe (client of job #{job.pk})", "audience not resolved yet"),
        accepted: (f"cleaner-ben (bidder on job #{job.pk})", "audience not resolved yet"),
        cancelled: (f"2 cleaners who bid on or held job #{job.pk}", "audience not resolved yet"),
        messaged: (f"client-zoe (about job #{job.pk})", "audience not resolved yet"),
        paid: (f"cleaner-ben (paid for job #{job.pk})", "audience not resolved yet"),
        started: (f"client-zoe (client of job #{job.pk})", "audience not resolved yet"),
        reminder: (f"client and cleaner of job #{job.pk}", "audience not resolved yet"),
        gone: ("bid #987654 (deleted)", "audience not resolved yet"),
        nobody: (f"no eligible cleaners of job #{job.pk} (or it was no longer open)", "nobody to notify"),
    }
    for event, (audience, progress) in expected.items():
        row = cells(row_of(page, event.pk))
        assert audience in row, (event.event_type, row)
        assert progress in row, (event.event_type, row)


def test_the_outbox_list_costs_the_same_queries_for_one_event_or_many(admin_client, django_assert_max_num_queries):
    job = CleaningJobFactory()
    bid = JobBidFactory(job=job)
    OutboxEvent.objects.all().delete()
    OutboxEvent.objects.create(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": bid.pk})
    admin_client.get(OUTBOX_LIST)  # warm the session and content types
    with django_assert_max_num_queries(20) as one:
        admin_client.get(OUTBOX_LIST)
    for _ in range(30):
        OutboxEvent.objects.create(event_type=NotificationType.BID_RECEIVED, payload={"bid_id": bid.pk})
        OutboxEvent.objects.create(event_type=NotificationType.JOB_STARTED, payload={"job_id": job.pk})
    with django_assert_max_num_queries(len(one.captured_queries) + 1):
        admin_client.get(OUTBOX_LIST)


def test_the_change_page_shows_audience_and_progress(admin_client):
    job = CleaningJobFactory()
    OutboxEvent.objects.all().delete()
    event = OutboxEvent.objects.create(event_type=NotificationType.REMINDER, payload={"job_id": job.pk})
    page = admin_client.get(reverse("admin:notifications_outboxevent_change", args=[event.pk])).content.decode()
    assert f"client and cleaner of job #{job.pk}" in page
    assert "audience not resolved yet" in page


def test_the_template_list_previews_each_template_with_sample_data(admin_client):
    page = admin_client.get(TEMPLATE_LIST).content.decode()
    assert 'class="column-preview_line"' in page
    # The default templates (data migration), one per type, rendered with the catalog's samples.
    assert "New bid on Spring clean of a 2-bedroom flat — Ben offers €110.00." in page
    assert "Scheduled maintenance tonight — The site will be read-only from 02:00 to 02:30 UTC." in page
    # Long ones are cut to one short line.
    long = NotificationTemplate.objects.create(
        name="Wordy", notification_type=NotificationType.JOB_STARTED, is_active=False,
        title_template="{{ job_title }} has started", message_template="{{ cleaner_name }} " + "is cleaning very thoroughly " * 10,
    )
    row = cells(admin_client.get(TEMPLATE_LIST, {"q": "Wordy"}).content.decode().split(f"/{long.pk}/change/", 1)[1].split("</tr>")[0])
    preview = next(cell for cell in row if cell.startswith("Spring clean of a 2-bedroom flat has started"))
    assert len(preview) == 110 and preview.endswith("…")


def test_an_invalid_stored_template_is_shown_as_invalid_not_a_500(admin_client):
    NotificationTemplate.objects.create(
        name="Broken", notification_type=NotificationType.JOB_STARTED, is_active=False,
        title_template="{{ secret }}", message_template="ok",
    )
    response = admin_client.get(TEMPLATE_LIST, {"q": "Broken"})
    assert response.status_code == 200
    assert "invalid: " in response.content.decode()
    assert "secret" in response.content.decode()

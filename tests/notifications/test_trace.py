"""The trace: an outbox event's funnel and commit-to-delivered percentiles, a notification's timeline (admin)."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from notifications import trace
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxChunk, OutboxEvent
from notifications.services import announcement_send
from tests.factories import UserFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def traced_event():
    """An event committed at t0 with 5 recipients; delivered after 1, 2, 3, 4 s; 2 seen, 1 read, 1 clicked."""
    t0 = timezone.now() - timedelta(minutes=5)
    event = OutboxEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT, recipient_count=5)
    OutboxEvent.objects.filter(pk=event.pk).update(created_at=t0)
    event.refresh_from_db()
    users = sorted((UserFactory() for _ in range(5)), key=lambda u: u.pk)
    rows = [NotificationFactory(recipient=user, event=event, notification_type=NotificationType.SYSTEM_ALERT) for user in users]
    OutboxChunk.objects.create(
        event=event, first_recipient_id=users[0].pk, last_recipient_id=users[-1].pk,
        recipient_ids=[u.pk for u in users], recipient_count=5, is_done=True, published_at=t0 + timedelta(milliseconds=500),
    )
    for seconds, row in zip((1, 2, 3, 4), rows):
        Notification.objects.filter(pk=row.pk).update(delivered_at=t0 + timedelta(seconds=seconds))
    Notification.objects.filter(pk__in=[rows[0].pk, rows[1].pk]).update(seen_at=t0 + timedelta(seconds=5))
    Notification.objects.filter(pk=rows[0].pk).update(
        is_read=True, read_at=t0 + timedelta(seconds=6), clicked_at=t0 + timedelta(seconds=6)
    )
    return event, rows, t0


def test_the_funnel_counts_each_step(traced_event):
    event, _, _ = traced_event

    assert trace.outbox_event_funnel(event) == {
        "recipients": 5, "stored": 5, "published": 5, "delivered": 4, "seen": 2, "read": 1, "clicked": 1,
    }


def test_commit_to_delivered_percentiles_are_computed_in_sql(traced_event):
    event, _, _ = traced_event

    latency = trace.outbox_event_delivery_latency(event)

    # PERCENTILE_CONT over 1, 2, 3, 4 s
    assert latency == pytest.approx({0.5: 2.5, 0.95: 3.85, 0.99: 3.97})


def test_the_python_percentiles_match_postgresql():
    assert [trace._percentile_cont([1.0, 2.0, 3.0, 4.0], p) for p in trace.PERCENTILES] == pytest.approx([2.5, 3.85, 3.97])


def test_no_latency_before_anything_is_delivered():
    event = OutboxEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT)

    assert trace.outbox_event_delivery_latency(event) is None


def test_the_event_change_page_shows_the_funnel_and_the_percentiles(admin_client, traced_event):
    event, _, _ = traced_event

    response = admin_client.get(reverse("admin:notifications_outboxevent_change", args=[event.pk]))

    html = response.content.decode()
    assert response.status_code == 200
    assert (
        "<tr><th>recipients</th><th>stored</th><th>published</th><th>delivered</th><th>seen</th><th>read</th>"
        "<th>clicked</th></tr><tr><td>5</td><td>5</td><td>5</td><td>4</td><td>2</td><td>1</td><td>1</td></tr>"
    ) in html
    assert "p50 2.50 s · p95 3.85 s · p99 3.97 s" in html


def test_the_notification_change_page_shows_its_timeline(admin_client, traced_event):
    _, rows, t0 = traced_event

    hops = trace.notification_timeline(Notification.objects.get(pk=rows[0].pk))
    response = admin_client.get(reverse("admin:notifications_notification_change", args=[rows[0].pk]))

    assert [hop.name for hop in hops] == ["committed", "stored", "published", "delivered", "seen", "read", "clicked"]
    assert hops[0].at == t0 and hops[2].at == t0 + timedelta(milliseconds=500)
    assert [hop.since_previous for hop in hops[3:]] == [
        timedelta(milliseconds=500), timedelta(seconds=4), timedelta(seconds=1), timedelta(0),
    ]
    html = response.content.decode()
    assert response.status_code == 200
    assert "<td>delivered</td>" in html and "<td>500 ms</td>" in html and "<td>4.00 s</td>" in html


def test_a_delivered_chunk_records_when_it_was_published(django_capture_on_commit_callbacks, settings):
    settings.OUTBOX_DIRECT_MAX_RECIPIENTS = 0  # the chunked path, as a bigger audience takes
    UserFactory(is_staff=False)
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        event = announcement_send(audience="all", title="Maintenance", message="Tonight.")

    chunk = OutboxChunk.objects.get(event=event)
    assert chunk.is_done is True
    assert chunk.published_at is not None and chunk.published_at >= before

"""The whole path with real parts: API -> outbox -> Redis -> Celery worker -> PostgreSQL -> Redis pub/sub -> SSE."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from devtools.processes import wait_for
from devtools.sse import SSEClient
from notifications.catalog import NotificationType
from notifications.models import Notification, OutboxEvent, OutboxStatus
from tests.factories import CleanerFactory, ClientFactory

pytestmark = pytest.mark.integration


def token_for(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def test_job_posted_through_the_api_reaches_every_eligible_cleaner_live(worker, live_server_url):
    eligible = CleanerFactory.create_batch(40)
    far_away = CleanerFactory(profile__latitude=48.8566, profile__longitude=2.3522)
    client = ClientFactory()
    watcher = SSEClient(f"{live_server_url}/events/", token_for(eligible[7]))
    bystander = SSEClient(f"{live_server_url}/events/", token_for(far_away))
    try:
        watcher.wait_open()
        bystander.wait_open()

        response = httpx.post(
            f"{live_server_url}/api/jobs/",
            headers=token_for(client),
            json={
                "title": "Deep clean before moving in",
                "service_type": "deep",
                "address": "Damrak 1",
                "city": "Amsterdam",
                "latitude": 52.3676,
                "longitude": 4.9041,
                "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
                "duration_hours": "4",
                "budget": "150.00",
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text

        pushed = watcher.wait_for(lambda events: [e for e in events if e.event == "notification"], timeout=15)
        wait_for(
            lambda: OutboxEvent.objects.filter(event_type=NotificationType.JOB_CREATED, status=OutboxStatus.DONE).exists(),
            timeout=15, what="fan-out done",
        )
    finally:
        watcher.close()
        bystander.close()

    stored = Notification.objects.filter(notification_type=NotificationType.JOB_CREATED)
    assert sorted(stored.values_list("recipient_id", flat=True)) == sorted(c.pk for c in eligible)
    mine = stored.get(recipient=eligible[7])
    assert len(pushed) == 1
    assert (pushed[0].json()["id"], pushed[0].id) == (mine.pk, str(mine.seq))  # the SSE id is the delivery seq
    assert pushed[0].json()["title"] == mine.title == "New Deep cleaning job in Amsterdam"
    assert bystander.of_type("notification") == []

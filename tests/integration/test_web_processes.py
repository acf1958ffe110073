"""Several web processes (WEB_CONCURRENCY), each with its own hub: what one publishes reaches streams on all."""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from rest_framework.authtoken.models import Token

from devtools.processes import wait_for
from devtools.sse import SSEClient
from notifications.models import Notification, OutboxEvent, OutboxStatus
from tests.factories import CleanerFactory, ClientFactory
from tests.integration.conftest import start_server

pytestmark = pytest.mark.integration


def token_header(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


@pytest.fixture
def two_web_processes(transactional_db, clean_redis, tmp_path):
    first, first_url = start_server(tmp_path, name="web-a")
    second, second_url = start_server(tmp_path, name="web-b")
    yield first_url, second_url
    first.stop()
    second.stop()


def test_a_request_on_one_process_reaches_the_stream_held_by_another(two_web_processes):
    on_a, on_b = two_web_processes
    user = ClientFactory()
    note = Notification.objects.create(recipient=user, notification_type="system_alert", title="Hello", priority="urgent")
    stream = SSEClient(f"{on_a}/events/", token_header(user))
    try:
        stream.wait_open()
        response = httpx.post(f"{on_b}/api/notifications/{note.pk}/read/", headers=token_header(user), timeout=10)
        assert response.status_code == 200
        stream.wait_for(lambda events: any(e.event == "notification_read" for e in events))
    finally:
        stream.close()
    assert [e.json()["id"] for e in stream.of_type("notification_read")] == [note.pk]


def test_a_job_posted_on_one_process_reaches_each_cleaners_stream_on_either_process_once(two_web_processes, worker):
    on_a, on_b = two_web_processes
    cleaners = CleanerFactory.create_batch(4)
    streams = {cleaner.pk: SSEClient(f"{(on_a, on_b)[i % 2]}/events/", token_header(cleaner)) for i, cleaner in enumerate(cleaners)}
    try:
        for stream in streams.values():
            stream.wait_open()
        response = httpx.post(
            f"{on_b}/api/jobs/",
            headers=token_header(ClientFactory()),
            json={
                "title": "Deep clean before moving in", "service_type": "deep", "address": "Damrak 1", "city": "Amsterdam",
                "latitude": 52.3676, "longitude": 4.9041, "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
                "duration_hours": "4", "budget": "150.00",
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        for stream in streams.values():
            stream.wait_for(lambda events: any(e.event == "notification" for e in events), timeout=20)
        wait_for(lambda: OutboxEvent.objects.filter(status=OutboxStatus.DONE).exists(), timeout=15, what="fan-out done")
    finally:
        for stream in streams.values():
            stream.close()
    job_url = f"/jobs/{response.json()['id']}/"
    for cleaner_id, stream in streams.items():
        offers = [e.json() for e in stream.of_type("notification")]
        assert [(o["notification_type"], o["action_url"]) for o in offers] == [("job_created", job_url)], cleaner_id
        assert Notification.objects.get(recipient_id=cleaner_id).pk == offers[0]["id"]

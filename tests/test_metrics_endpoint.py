"""GET /metrics is readable with the bearer token, or without one from loopback only.

Requests go to the ASGI app in this process; the client address is the ASGI scope's, as
uvicorn would set it for a scraper on another host.
"""

import asyncio

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from notifications import metrics
from notifications.models import OutboxEvent
from project.asgi import application

REMOTE = ("10.20.30.40", 41000)
LOOPBACK = ("127.0.0.1", 41000)


def get_metrics(client_address, headers=None) -> httpx.Response:
    async def fetch():
        transport = httpx.ASGITransport(app=application, client=client_address)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as client:
            return await client.get("/metrics", headers=headers or {})

    return asyncio.run(fetch())


def samples(response) -> dict:
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = "scrape-secret"
    return "scrape-secret"


def test_without_a_token_setting_a_remote_client_is_refused(settings):
    settings.METRICS_TOKEN = ""
    assert get_metrics(REMOTE).status_code == 403


def test_without_a_token_setting_a_loopback_client_reads_the_metrics(settings, transactional_db):
    settings.METRICS_TOKEN = ""
    OutboxEvent.objects.create(event_type="job_created", payload={})
    response = get_metrics(LOOPBACK)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    assert samples(response)[("outbox_backlog", (("kind", "events"),))] == 1


def test_with_a_token_setting_no_token_or_a_wrong_one_is_refused_even_from_loopback(token):
    assert get_metrics(REMOTE).status_code == 403
    assert get_metrics(REMOTE, {"Authorization": "Bearer not-the-secret"}).status_code == 403
    assert get_metrics(LOOPBACK, {"Authorization": "Bearer not-the-secret"}).status_code == 403
    assert get_metrics(LOOPBACK, {"Authorization": f"Token {token}"}).status_code == 403


def test_with_the_token_a_remote_client_reads_the_metrics(token, transactional_db):
    response = get_metrics(REMOTE, {"Authorization": f"Bearer {token}"})
    assert response.status_code == 200
    assert samples(response)[("outbox_backlog", (("kind", "chunks"),))] == 0
    assert ("outbox_oldest_pending_age_seconds", ()) in samples(response)


def test_a_delivered_receipt_s_latency_shows_in_the_commit_to_delivered_histogram(settings, transactional_db):
    settings.METRICS_TOKEN = ""
    before = samples(get_metrics(LOOPBACK))
    metrics.delivery_latency_observe(0.3)
    after = samples(get_metrics(LOOPBACK))

    def moved(name, **labels):
        key = (name, tuple(sorted(labels.items())))
        return after[key] - before.get(key, 0.0)

    assert moved("notification_commit_to_delivered_seconds_count") == 1
    assert moved("notification_commit_to_delivered_seconds_bucket", le="0.25") == 0
    assert moved("notification_commit_to_delivered_seconds_bucket", le="0.5") == 1

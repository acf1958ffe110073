"""/metrics scraped from a real uvicorn and a real Celery worker (prefork, two children) around a fan-out.

Both run in Prometheus multiprocess mode (PROMETHEUS_MULTIPROC_DIR), the way production
runs them: the worker's tasks run in pool children and its metrics port in the main
process, so the counters below only move if the children's values are summed.
"""

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.authtoken.models import Token

from devtools import processes
from devtools.processes import free_port, wait_for
from devtools.sse import SSEClient
from notifications.catalog import NotificationType
from notifications.models import OutboxEvent, OutboxStatus
from tests.factories import CleanerFactory, ClientFactory

from .conftest import service_env, start_server

pytestmark = pytest.mark.integration

TOKEN = "integration-scrape-token"
AUDIENCE = 40


def token_for(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def scrape(url: str) -> dict:
    response = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(metrics: dict, name: str, **labels) -> float:
    return metrics.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture
def metered(transactional_db, clean_redis, tmp_path):
    """(web base URL, worker metrics URL): each service with its own multiprocess directory."""
    web_dir, worker_dir = tmp_path / "web-metrics", tmp_path / "worker-metrics"
    web_dir.mkdir()
    worker_dir.mkdir()
    worker_port = free_port()
    worker = processes.start_worker(
        tmp_path,
        service_env(PROMETHEUS_MULTIPROC_DIR=worker_dir, METRICS_TOKEN=TOKEN, METRICS_WORKER_PORT=worker_port),
        concurrency=2,
    )
    web, base = start_server(tmp_path, PROMETHEUS_MULTIPROC_DIR=web_dir, METRICS_TOKEN=TOKEN)
    try:
        yield base, f"http://127.0.0.1:{worker_port}/metrics"
    finally:
        web.stop()
        worker.stop()


def test_a_fan_out_moves_the_worker_and_web_counters_by_exactly_its_audience(metered):
    base, worker_metrics = metered
    eligible = CleanerFactory.create_batch(AUDIENCE)
    CleanerFactory(profile__latitude=48.8566, profile__longitude=2.3522)  # too far: not in the audience
    client = ClientFactory()
    assert httpx.get(worker_metrics, timeout=10).status_code == 403  # the worker's port has the same lock
    worker_before, web_before = scrape(worker_metrics), scrape(f"{base}/metrics")

    watcher = SSEClient(f"{base}/events/", token_for(eligible[0]))
    try:
        watcher.wait_open()
        web_open = scrape(f"{base}/metrics")
        response = httpx.post(
            f"{base}/api/jobs/",
            headers=token_for(client),
            json={
                "title": "Deep clean before moving in", "service_type": "deep", "address": "Damrak 1",
                "city": "Amsterdam", "latitude": 52.3676, "longitude": 4.9041,
                "scheduled_start": (timezone.now() + timedelta(days=2)).isoformat(),
                "duration_hours": "4", "budget": "150.00",
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        watcher.wait_for(lambda events: [e for e in events if e.event == "notification"], timeout=15)
        wait_for(
            lambda: OutboxEvent.objects.filter(event_type=NotificationType.JOB_CREATED, status=OutboxStatus.DONE).exists(),
            timeout=15, what="fan-out done",
        )
    finally:
        watcher.close()

    worker_after = wait_for(
        lambda: (m := scrape(worker_metrics)) and value(m, "notification_events_total", type="job_created") == 1 and m,
        timeout=10, what="the worker's event counter",
    )
    moved = {
        name: value(worker_after, name, **labels) - value(worker_before, name, **labels)
        for name, labels in [
            ("notification_events_total", {"type": "job_created"}),
            ("notifications_stored_total", {}),
            ("notifications_published_total", {}),
            ("notification_fanout_recipients_count", {}),
            ("notification_fanout_recipients_sum", {}),
            ("notification_fanout_duration_seconds_count", {}),
            ("outbox_chunk_retries_total", {}),
        ]
    }
    assert moved == {
        "notification_events_total": 1,
        "notifications_stored_total": AUDIENCE,
        "notifications_published_total": AUDIENCE,
        "notification_fanout_recipients_count": 1,
        "notification_fanout_recipients_sum": AUDIENCE,
        "notification_fanout_duration_seconds_count": 1,
        "outbox_chunk_retries_total": 0,
    }

    assert value(web_open, "sse_open_streams") == 1
    assert value(web_open, "sse_stream_opens_total") - value(web_before, "sse_stream_opens_total") == 1
    web_after = wait_for(
        lambda: (m := scrape(f"{base}/metrics")) and value(m, "sse_open_streams") == 0 and m,
        # Past one keep-alive (15 s): a server that notices the client left only on its next write still counts it.
        timeout=30, what="the stream's close counted",
    )
    closes = value(web_after, "sse_stream_closes_total", reason="client_gone") - value(
        web_before, "sse_stream_closes_total", reason="client_gone"
    )
    assert closes == 1
    assert value(web_after, "outbox_backlog", kind="events") == 0
    assert value(web_after, "outbox_backlog", kind="chunks") == 0

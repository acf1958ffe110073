"""The embedded default (`make run` without PostgreSQL/Redis): SQLite, in-process tasks and SSE.

A job posted through the API reaches an eligible cleaner's open stream with no
broker and no Redis at all.
"""

import json
import math
import os
import subprocess
import sys
from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from devtools.processes import ROOT, free_port, start_web, wait_for
from devtools.smtp_server import SmtpServer
from devtools.sse import SSEClient

pytestmark = pytest.mark.integration

SETUP_USERS = """
from rest_framework.authtoken.models import Token
from django.contrib.auth.models import User
from jobs.models import CleanerProfile, ServiceType, Weekday
client = User.objects.create_user("client", password="x", email="client@example.com")
cleaner = User.objects.create_user("cleaner", password="x")
CleanerProfile.objects.create(user=cleaner, service_types=frozenset(ServiceType.values),
    working_days=frozenset(Weekday.values), latitude=52.3676, longitude=4.9041, service_radius_km=20, is_verified=True)
print(json.dumps({"client": Token.objects.create(user=client).key, "cleaner": Token.objects.create(user=cleaner).key}))
"""


@pytest.fixture
def smtp():
    server = SmtpServer(free_port())
    server.start()
    yield server
    server.stop()


@pytest.fixture
def embedded_server(tmp_path, smtp):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DJANGO_SETTINGS_MODULE="project.settings", DEBUG="true")
    # Email to the test's SMTP server; every channel waits 2 s, so only a beat sends it.
    env.update(EMAIL_HOST="127.0.0.1", EMAIL_PORT=str(smtp.port), CHANNEL_FALLBACK_SECONDS="2")
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    out = subprocess.run(
        [*manage, "shell", "-c", "import json\n" + SETUP_USERS],
        cwd=ROOT, env=env, check=True, timeout=60, capture_output=True, text=True,
    ).stdout
    tokens = json.loads(out.strip().splitlines()[-1])
    server, base = start_web(tmp_path, env, name="embedded")
    try:
        yield base, tokens, server
    finally:
        server.stop()


def test_job_reaches_cleaner_stream_without_redis_or_broker(embedded_server):
    base, tokens, _ = embedded_server
    health = httpx.get(f"{base}/healthz", timeout=5).json()
    assert health["checks"] == {"database": "ok", "redis": "not configured", "outbox": "ok", "partitions": "ok"}

    stream = SSEClient(f"{base}/events/", {"Authorization": f"Token {tokens['cleaner']}"})
    try:
        stream.wait_open()
        response = httpx.post(
            f"{base}/api/jobs/",
            headers={"Authorization": f"Token {tokens['client']}"},
            json={
                "title": "Windows, 3rd floor",
                "service_type": "windows",
                "address": "Prinsengracht 2",
                "city": "Amsterdam",
                "latitude": 52.37,
                "longitude": 4.89,
                "scheduled_start": (timezone.now() + timedelta(days=1)).isoformat(),
                "duration_hours": "2",
                "budget": "60",
            },
            timeout=10,
        )
        assert response.status_code == 201, response.text
        events = stream.wait_for(lambda evs: [e for e in evs if e.event == "notification"], timeout=10)
    finally:
        stream.close()
    offer = events[0].json()
    assert offer["title"] == "New Window cleaning job in Amsterdam"
    # The cleaner bids on it: job_for_bid and the token query on SQLite (found by `make run`'s demo data).
    bid = httpx.post(
        f"{base}/api/jobs/{response.json()['id']}/bids/", headers={"Authorization": f"Token {tokens['cleaner']}"},
        json={"amount": "55.00", "message": "Tomorrow works."}, timeout=10,
    )
    assert bid.status_code == 201, bid.text
    # Why it came, computed by the fan-out's SQL on SQLite too: the distance, the radius, the service, the day.
    why = offer["metadata"]["why"]
    assert why["distance_km"] == pytest.approx(haversine_km(52.37, 4.89, 52.3676, 4.9041), abs=0.05)
    assert (why["radius_km"], why["service"]) == (20, "windows")
    weekday = timezone.localtime(timezone.now() + timedelta(days=1)).strftime("%A")
    assert offer["reason"] == (
        f"{why['distance_km']:.1f} km from you, within your 20 km; you offer Window cleaning; {weekday} is one of your working days"
    )


def haversine_km(lat_a, lon_a, lat_b, lon_b):
    dlat, dlon = math.radians(lat_b - lat_a), math.radians(lon_b - lon_a)
    a = math.sin(dlat / 2) ** 2 + math.cos(math.radians(lat_a)) * math.cos(math.radians(lat_b)) * math.sin(dlon / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(a))


def test_a_delayed_email_goes_out_without_a_broker_or_beat_process(embedded_server, smtp):
    # The web process runs the beat schedule itself (project/embedded_beat.py).
    base, tokens, server = embedded_server
    client, cleaner = ({"Authorization": f"Token {tokens[who]}"} for who in ("client", "cleaner"))
    job = httpx.post(
        f"{base}/api/jobs/", headers=client, timeout=10,
        json={"title": "Attic clean", "service_type": "deep", "address": "Prinsengracht 2", "city": "Amsterdam",
              "latitude": 52.37, "longitude": 4.89, "scheduled_start": (timezone.now() + timedelta(days=1)).isoformat(),
              "duration_hours": "2", "budget": "60"},
    )
    assert job.status_code == 201, job.text
    bid = httpx.post(f"{base}/api/jobs/{job.json()['id']}/bids/", headers=cleaner, json={"amount": "55.00"}, timeout=10)
    assert bid.status_code == 201, bid.text

    wait_for(lambda: smtp.messages, timeout=20, what="the bid_received email, due 2 s after the bid")
    [message] = smtp.messages
    assert message["To"] == "client@example.com"
    assert message["Subject"] == "New bid on Attic clean"


def test_the_embedded_beat_runs_every_scheduled_task_it_finds(embedded_server):
    # The web process never imports the tasks modules the worker autodiscovers: the beat must.
    _, _, server = embedded_server

    server.wait_for_output("notifications.outbox_requeue_stale[", timeout=40)  # every 15 s

    assert "Embedded beat:" not in server.output()

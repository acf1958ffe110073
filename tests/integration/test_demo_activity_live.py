"""`make run`'s demo activity in a real uvicorn on the embedded default (SQLite, no Redis, no broker):
whoever logs in as client1 or cleaner1 sees notifications arrive without doing anything, and
the server still stops promptly. With DEBUG off the activity refuses to start and says why.
"""

import json
import os
import secrets
import subprocess
import sys

import httpx
import pytest

from devtools.processes import ROOT, start_web, wait_for
from devtools.sse import SSEClient

pytestmark = pytest.mark.integration

TOKENS = """
import json
from django.contrib.auth.models import User
from rest_framework.authtoken.models import Token
print(json.dumps({u: Token.objects.get_or_create(user=User.objects.get(username=u))[0].key for u in ("client1", "cleaner1")}))
"""


def seeded_env(tmp_path, **extra):
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL", "TEST_DATABASE_NAME", "DEMO_ACTIVITY"}}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}", DJANGO_SETTINGS_MODULE="project.settings", **extra)
    manage = [sys.executable, "manage.py"]
    subprocess.run([*manage, "migrate", "--noinput", "-v0"], cwd=ROOT, env=env, check=True, timeout=120)
    subprocess.run([*manage, "seed_demo", "--clients", "3", "--cleaners", "60", "--no-progress"],
                   cwd=ROOT, env=env, check=True, timeout=120, capture_output=True)
    out = subprocess.run([*manage, "shell", "-c", TOKENS], cwd=ROOT, env=env, check=True, timeout=60,
                         capture_output=True, text=True).stdout
    return env, json.loads(out.strip().splitlines()[-1])


def start(env, tmp_path, name):
    return start_web(tmp_path, env, name=name, graceful_shutdown=3, log_level="info")


def test_client1_and_cleaner1_get_live_notifications_without_doing_anything(tmp_path):
    env, tokens = seeded_env(tmp_path, DEBUG="1", DEMO_ACTIVITY="1", DEMO_ACTIVITY_SECONDS="0.3")
    server, base = start(env, tmp_path, "demo")
    streams = {}
    try:
        for user in ("client1", "cleaner1"):
            # Open from now on: only what arrives live counts, not the seeded history.
            newest = httpx.get(f"{base}/api/notifications/", headers={"Authorization": f"Token {tokens[user]}"}, timeout=5).json()
            last_id = max((n["id"] for n in newest["results"]), default=0)
            streams[user] = SSEClient(f"{base}/events/?lastEventId={last_id}", {"Authorization": f"Token {tokens[user]}"})
        for user, stream in streams.items():
            arrived = stream.wait_for(lambda evs: [e for e in evs if e.event == "notification"], timeout=60)
            assert arrived[0].json()["notification_type"] in {
                "job_created", "bid_received", "message_received", "job_accepted", "job_started", "job_completed",
                "bid_accepted", "payment_received", "job_cancelled",
            }, user
    finally:
        for stream in streams.values():
            stream.close()
        server.stop()
    log = server.log_path.read_text()
    assert server.proc.returncode in (0, -15), log[-3000:]  # uvicorn re-raises the SIGTERM it handled
    assert "Application shutdown complete." in log
    assert "Demo activity started: one step every 0.3s" in log
    assert "demo activity: " in log and "Traceback" not in log


def test_with_debug_off_it_refuses_and_says_why(tmp_path):
    env, _ = seeded_env(tmp_path, DEBUG="0", DEMO_ACTIVITY="1", DEMO_ACTIVITY_SECONDS="0.3",
                        SECRET_KEY=secrets.token_urlsafe(50), ALLOWED_HOSTS="127.0.0.1")
    server, _ = start(env, tmp_path, "production-like")
    try:
        wait_for(lambda: "not started" in server.output(), timeout=10, what="the refusal in the log")
    finally:
        server.stop()
    log = server.log_path.read_text()
    assert "DEMO_ACTIVITY is set but the demo activity was not started: DEBUG is off" in log
    assert "demo activity: " not in log

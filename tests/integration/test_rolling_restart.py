"""A rolling restart (SIGHUP to uvicorn's parent, WEB_CONCURRENCY=2): the port never goes dark.

uvicorn replaces its workers one by one, each new one ready before the old one is told to
stop; the old one ends its streams at once (test_stream_shutdown), so each page reconnects,
after its retry delay, to a live worker and replays what it missed. A single process
stopped and started leaves every page refused until the new one is up (bench_reconnect
measures both under 10,000 streams).
"""

import signal
import threading
import time

import httpx
import pytest
from rest_framework.authtoken.models import Token

from devtools import processes
from devtools.processes import wait_for
from devtools.sse import ReconnectingSSEClient
from notifications.models import Notification
from notifications.sse import publishing
from tests.factories import ClientFactory
from tests.integration.conftest import service_env

pytestmark = pytest.mark.integration

ROLLING = ("--workers", "2", "--timeout-worker-healthcheck", "30")


def probe_until(stop: threading.Event, base: str, failures: list, answered: list) -> None:
    """What a page would see meanwhile: /healthz asked every 50 ms, every failure kept."""
    with httpx.Client(timeout=5) as client:
        while not stop.is_set():
            try:
                answered.append(client.get(f"{base}/healthz").status_code)
            except httpx.HTTPError as exc:
                failures.append(type(exc).__name__)
            stop.wait(0.05)


def workers(server) -> set[int]:
    """uvicorn's worker processes (its other child is multiprocessing's resource tracker)."""
    found = set()
    for pid in server.children():
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                if b"spawn_main" in cmdline.read():
                    found.add(pid)
        except OSError:
            pass  # gone meanwhile
    return found


def test_sighup_replaces_both_workers_without_refusing_a_request_and_the_page_misses_nothing(
    transactional_db, clean_redis, tmp_path
):
    server, base = processes.start_web(tmp_path, service_env(WEB_CONCURRENCY="2"), name="web", extra_args=ROLLING)
    user = ClientFactory()
    page = ReconnectingSSEClient(f"{base}/events/", {"Authorization": f"Token {Token.objects.create(user=user).key}"},
                                 retry_seconds=0.2)
    stop, failures, answered = threading.Event(), [], []
    prober = threading.Thread(target=probe_until, args=(stop, base, failures, answered), daemon=True)
    try:
        wait_for(lambda: page.opened == 1, timeout=15, what="the page's stream")
        workers_before = workers(server)
        assert len(workers_before) == 2
        prober.start()
        server.proc.send_signal(signal.SIGHUP)
        # Stored and published while the workers are being replaced: the page gets it live or in its replay.
        time.sleep(0.5)
        note = Notification.objects.create(recipient=user, notification_type="system_alert", title="During the restart")
        publishing.publish_notification_rows([note])
        wait_for(lambda: not (workers(server) & workers_before) and len(workers(server)) == 2,
                 timeout=90, what="both workers replaced")
        wait_for(lambda: note.pk in page.shown_ids(), timeout=15, what="the notification on the page")
        time.sleep(0.5)
    finally:
        stop.set()
        if prober.ident is not None:
            prober.join(timeout=10)
        page.close()
        server.stop()
    assert failures == []
    assert answered and set(answered) == {200}
    assert page.opened >= 2  # its worker went away and it came back
    assert page.notification_ids().count(note.pk) == 1

"""Ids are taken at INSERT but published at COMMIT: a late, lower id still reaches a reconnected page.

With several workers, a notification can get a lower id than one committed and
published before it (worker A is still writing a big chunk while worker B stores a
message for the same user). A page that reconnects in between sends the newest id
it saw as Last-Event-ID: the replay (id > Last-Event-ID) skips A's notification,
and when A's frame arrives live the stream drops it as "already replayed" (its id is
below the replayed-up-to mark). The stream now skips only the ids it actually
replayed, so the late frame goes through.
"""

import threading

import httpx
import pytest
from django.db import connection, transaction

from notifications import streams
from notifications.models import Notification
from tests.factories import ClientFactory
from tests.integration.conftest import free_port

from .data import token_header
from .harness import RedisServer, service_env, start_web
from .sse import ReconnectingSSEClient

pytestmark = pytest.mark.integration


def store(user, title: str) -> Notification:
    return Notification.objects.create(recipient=user, notification_type="system_alert", title=title, priority="urgent")


def test_a_notification_committed_after_a_higher_id_still_reaches_a_page_that_reconnected_in_between(
    processes, test_database_url, tmp_path, settings, monkeypatch
):
    redis_server = RedisServer(processes, tmp_path)
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    start_web(processes, tmp_path, env, port=port)
    # This process publishes like a worker: to our Redis, through the one publisher.
    settings.REDIS_URL = redis_server.url()
    monkeypatch.setattr(streams._redis_client, "client", None, raising=False)

    user = ClientFactory()
    page = ReconnectingSSEClient(f"{base}/events/", token_header(user))
    page.wait_for(lambda c: c.opened_on(1), what="stream open")

    # Worker A: its INSERT takes an id now, its COMMIT (and publish) comes later.
    inserted, release, slow = threading.Event(), threading.Event(), {}

    def worker_a():
        try:
            with transaction.atomic():
                slow["id"] = store(user, "A: big chunk, committed late").pk
                inserted.set()
                release.wait(30)
            streams.publish_notifications(Notification.objects.filter(pk=slow["id"]))
        finally:
            connection.close()

    thread = threading.Thread(target=worker_a)
    thread.start()
    try:
        assert inserted.wait(10)
        # Worker B: a higher id, committed and published first; the page shows it.
        fast = store(user, "B: one message, committed at once")
        assert fast.pk > slow["id"]
        streams.publish_notifications(Notification.objects.filter(pk=fast.pk))
        page.wait_for(lambda c: c.notification_ids() == [fast.pk], what="B live")
        # The page's network blips: it reconnects with the newest id it saw (B's).
        page.cut(offline=True)
        page.online()
        page.wait_for(lambda c: c.opened_on(2), what="reconnected")
        release.set()  # A commits and publishes now
        thread.join(timeout=30)
        # A barrier on the same channel, published after A's frame.
        assert httpx.post(f"{base}/api/notifications/read-all/", headers=token_header(user), timeout=10).status_code == 200
        page.wait_for(lambda c: c.of_type("notifications_read_all"), what="barrier")
    finally:
        release.set()
        thread.join(timeout=30)
        page.close()

    assert sorted(page.notification_ids()) == sorted([slow["id"], fast.pk])

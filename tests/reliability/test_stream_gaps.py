"""Notifications commit in one order and can be published in another: replay stays exact.

With several workers, two chunks for the same user commit in order (A, then B:
the user's delivery-sequence row serializes them) but can publish in the other
order: A's worker stalls between its commit and its PUBLISH while B's goes out at
once. A page that shows B and then reconnects must still get A, once: the SSE id
is the stream's contiguous position in the user's sequence (B's frame still
carries the position before A), so the reconnect replays from A. Pages drop
repeats by notification id.
"""

import httpx
import pytest

from devtools.processes import free_port, service_env
from devtools.sse import ReconnectingSSEClient
from notifications.sse import publishing
from notifications.models import Notification
from tests.factories import ClientFactory

from .data import token_header
from .harness import RedisServer, start_web

pytestmark = pytest.mark.integration


def store(user, title: str) -> Notification:
    return Notification.objects.create(recipient=user, notification_type="system_alert", title=title, priority="urgent")


def publish(notification: Notification) -> None:
    publishing.publish_notifications(Notification.objects.filter(pk=notification.pk))


@pytest.fixture
def web(processes, test_database_url, tmp_path, settings, monkeypatch) -> str:
    redis_server = RedisServer(processes, tmp_path)
    env = service_env(database_url=test_database_url, redis_url=redis_server.url())
    port = free_port()
    start_web(processes, tmp_path, env, port=port)
    # This process publishes like a worker: to our Redis, through the one publisher.
    settings.REDIS_URL = redis_server.url()
    return f"http://127.0.0.1:{port}"


def barrier(base: str, user, page: ReconnectingSSEClient) -> None:
    """A frame on the same channel, published after everything before it: once it is in, they are too."""
    seen = len(page.of_type("notifications_read_all"))
    assert httpx.post(f"{base}/api/notifications/read-all/", headers=token_header(user), timeout=10).status_code == 200
    page.wait_for(lambda c: len(c.of_type("notifications_read_all")) > seen, what="barrier")


def test_a_notification_published_late_while_the_page_was_away_is_replayed_on_reconnect(web):
    user = ClientFactory()
    page = ReconnectingSSEClient(f"{web}/events/", token_header(user))
    try:
        page.wait_for(lambda c: c.opened_on(1), what="stream open")
        a = store(user, "A: committed first, published late")
        b = store(user, "B: committed second, published at once")
        publish(b)
        page.wait_for(lambda c: c.notification_ids() == [b.pk], what="B live")
        # The page goes away with the Last-Event-ID it got from B's frame ...
        page.cut(offline=True)
        publish(a)  # ... and A's frame goes out while nobody listens.
        page.online()
        page.wait_for(lambda c: c.opened_on(2), what="reconnected")
        barrier(web, user, page)
    finally:
        page.close()

    assert page.notification_ids(2).count(a.pk) == 1  # the reconnect replayed it
    assert page.shown_ids() == [b.pk, a.pk]


def test_a_notification_published_late_reaches_a_page_that_reconnected_in_between(web):
    user = ClientFactory()
    page = ReconnectingSSEClient(f"{web}/events/", token_header(user))
    try:
        page.wait_for(lambda c: c.opened_on(1), what="stream open")
        a = store(user, "A: committed first, published late")
        b = store(user, "B: committed second, published at once")
        publish(b)
        page.wait_for(lambda c: c.notification_ids() == [b.pk], what="B live")
        page.cut(offline=True)  # the network blips and comes back before A is published
        page.online()
        page.wait_for(lambda c: c.opened_on(2), what="reconnected")
        publish(a)
        barrier(web, user, page)
    finally:
        page.close()

    assert page.shown_ids() == [b.pk, a.pk]
    # The reconnect replays from the gap: A, and B again (the page drops it); A's late frame is not sent twice.
    assert page.notification_ids(2) == [a.pk, b.pk]


def test_frames_published_out_of_order_keep_the_last_event_id_at_the_gap_until_it_fills(web):
    user = ClientFactory()
    page = ReconnectingSSEClient(f"{web}/events/", token_header(user))
    try:
        page.wait_for(lambda c: c.opened_on(1), what="stream open")
        first, second, third = (store(user, title) for title in ("1", "2", "3"))
        publish(third)
        page.wait_for(lambda c: c.notification_ids() == [third.pk], what="3 live")
        publish(second)
        page.wait_for(lambda c: len(c.notification_ids()) == 2, what="2 live")
        publish(first)
        page.wait_for(lambda c: len(c.notification_ids()) == 3, what="1 live")
    finally:
        page.close()

    frames = page.of_type("notification")
    assert [e.json()["id"] for e in frames] == [third.pk, second.pk, first.pk]
    # The position stays before the gap (0: nothing yet) until 1 arrives, then covers all three.
    assert [e.id for e in frames] == ["0", "0", "3"]

"""/events/ on a running ASGI server: who may read what, replay, and cut-offs."""

import httpx
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from devtools.sse import SSEClient
from notifications import services
from notifications.models import Notification
from notifications.sse.opening import REPLAY_LIMIT
from tests.factories import CleanerFactory, ClientFactory
from tests.integration.conftest import REDIS_URL

pytestmark = pytest.mark.integration


@pytest.fixture
def publish_through_redis(settings, clean_redis):
    """This test process publishes like a worker does: through the real Redis."""
    settings.REDIS_URL = REDIS_URL


def token_header(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def session_cookie(user) -> tuple[Client, dict]:
    browser = Client()
    browser.force_login(user)
    return browser, {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}


def make_notifications(user, count, start=0):
    return Notification.objects.bulk_create(
        Notification(recipient=user, notification_type="system_alert", title=f"Note {start + i}", priority="urgent")
        for i in range(count)
    )


def test_anonymous_and_bad_tokens_are_refused(live_server_url):
    for headers in ({}, {"Authorization": "Token not-a-real-token"}, {"Authorization": "Bearer abc"}, {"Cookie": "sessionid=forged"}):
        response = httpx.get(f"{live_server_url}/events/", headers=headers, timeout=5)
        assert response.status_code == 403, headers
        assert response.json()["code"] == "not_authenticated"


def test_nobody_can_pick_another_users_channel(live_server_url):
    me, other = ClientFactory(), ClientFactory()
    make_notifications(other, 1)
    for url, extra in (
        (f"/events/?channel=user-{other.pk}", {}),
        (f"/events/?channels=sse:user:{other.pk}", {}),
        ("/events/", {"Channel": f"sse:user:{other.pk}"}),
    ):
        response = httpx.get(f"{live_server_url}{url}", headers=token_header(me) | extra, timeout=5)
        assert response.status_code == 400, url
        assert "cannot be chosen" in response.json()["detail"]
    assert httpx.get(f"{live_server_url}/events/{other.pk}/", headers=token_header(me), timeout=5).status_code == 404


def test_a_user_only_receives_their_own_notifications(live_server_url, publish_through_redis):
    alice, bob = ClientFactory(), ClientFactory()
    stream = SSEClient(f"{live_server_url}/events/", token_header(alice))
    try:
        stream.wait_open()
        services.notifications_mark_all_read(user=bob)  # nothing to mark: publishes nothing
        make_notifications(bob, 1)
        services.notifications_mark_all_read(user=bob)  # pushes to bob's channel only
        make_notifications(alice, 1)
        services.notifications_mark_all_read(user=alice)
        stream.wait_for(lambda events: any(e.event == "notifications_read_all" for e in events))
    finally:
        stream.close()
    assert len(stream.of_type("notifications_read_all")) == 1


def test_reconnect_with_last_event_id_replays_every_missed_notification_in_order_once(live_server_url):
    user = CleanerFactory()
    seen = make_notifications(user, 3)
    missed = make_notifications(user, 50, start=3)

    stream = SSEClient(f"{live_server_url}/events/", token_header(user) | {"Last-Event-ID": str(seen[-1].seq)})
    try:
        stream.wait_for(lambda events: any(e.event == "unread_count" for e in events))
        replayed = stream.of_type("notification")
    finally:
        stream.close()

    assert [e.json()["id"] for e in replayed] == [n.pk for n in missed]
    assert [int(e.id) for e in replayed] == list(range(4, 54))  # the SSE id is the user's delivery seq
    assert [e.json()["title"] for e in replayed] == [f"Note {i}" for i in range(3, 53)]
    assert stream.of_type("unread_count")[-1].json() == {"count": 53}


def test_a_client_too_far_behind_is_told_to_reset(live_server_url):
    user = CleanerFactory()
    first = make_notifications(user, 1)[0]
    make_notifications(user, REPLAY_LIMIT + 1)
    stream = SSEClient(f"{live_server_url}/events/", token_header(user) | {"Last-Event-ID": str(first.seq)})
    try:
        stream.wait_for(lambda events: any(e.event == "stream_reset" for e in events))
    finally:
        stream.close()
    assert stream.of_type("notification") == []
    # It recovers through the API, which has everything.
    response = httpx.get(f"{live_server_url}/api/notifications/unread-count/", headers=token_header(user), timeout=5)
    assert response.json() == {"count": REPLAY_LIMIT + 2}


def test_logout_cuts_off_that_sessions_stream(live_server_url, publish_through_redis):
    user = ClientFactory()
    browser, cookie = session_cookie(user)
    stream = SSEClient(f"{live_server_url}/events/", cookie)
    stream.wait_open()

    browser.logout()

    assert stream.wait_ended(timeout=10), "the stream stayed open after logout"
    assert stream.of_type("stream_error")
    assert httpx.get(f"{live_server_url}/events/", headers=cookie, timeout=5).status_code == 403
    stream.close()


def test_deactivated_user_is_cut_off_and_refused(live_server_url, publish_through_redis):
    user = CleanerFactory()
    stream = SSEClient(f"{live_server_url}/events/", token_header(user))
    stream.wait_open()

    user.is_active = False
    user.save()

    assert stream.wait_ended(timeout=10), "the stream stayed open after deactivation"
    assert httpx.get(f"{live_server_url}/events/", headers=token_header(user), timeout=5).status_code == 403
    stream.close()

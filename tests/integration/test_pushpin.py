"""Pushpin (GRIP) in front of the app: Pushpin holds the streams, the app and the worker only publish.

Real processes: pushpin (the Debian package, started here from deploy/pushpin/pushpin.conf),
uvicorn and a Celery worker, both with GRIP_URL pointing at that Pushpin.
CI installs the package: `apt-get install -y pushpin` in .ci/run. Without it these
tests fail (they do not skip): the GRIP path would otherwise go untested.
"""

import secrets
import shutil
import time

import httpx
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from devtools.processes import free_port, start_web, start_worker, wait_for
from devtools.pushpin import start_pushpin
from devtools.sse import SSEClient
from notifications.models import Notification
from tests.factories import CleanerFactory, CleaningJobFactory, ClientFactory
from tests.integration.conftest import service_env

pytestmark = pytest.mark.integration


def token_header(user) -> dict:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


def require_pushpin() -> str:
    binary = shutil.which("pushpin")
    if binary is None:
        pytest.fail(
            "The pushpin binary is missing: these tests need Pushpin (Debian package `pushpin`; "
            "CI runs `apt-get install -y pushpin`). Install it and run them again.",
            pytrace=False,
        )
    return binary


@pytest.fixture(scope="module")
def grip_stack(django_db_setup, redis_client, tmp_path_factory):
    """pushpin -> uvicorn (GRIP_URL set) and a worker publishing to Pushpin, for this module."""
    require_pushpin()
    log_dir = tmp_path_factory.mktemp("grip")
    sig_key = secrets.token_urlsafe(32)
    origin_port = free_port()
    started = []
    try:
        proxy, proxy_url, control = start_pushpin(log_dir, service_env(), origin_port=origin_port, sig_key=sig_key)
        started.append(proxy)
        env = service_env(GRIP_URL=control, GRIP_SIG_KEY=sig_key)
        web, origin = start_web(log_dir, env, port=origin_port, name="web-grip")
        started.append(web)
        started.append(start_worker(log_dir, env, name="worker-grip"))

        def proxied():
            try:
                return httpx.get(f"{proxy_url}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(proxied, timeout=45, what="/healthz through pushpin")
        yield {"proxy": proxy_url, "origin": origin, "control": control}
    finally:
        for process in reversed(started):
            process.stop()


@pytest.fixture
def grip(grip_stack, transactional_db, clean_redis, settings):
    # This test process publishes too (logout, deactivation): through the same Pushpin.
    settings.GRIP_URL = grip_stack["control"]
    return grip_stack


def test_a_notification_reaches_its_users_stream_through_pushpin_and_nobody_elses(grip):
    client, other_client, cleaner = ClientFactory(), ClientFactory(), CleanerFactory()
    job = CleaningJobFactory(client=client)
    mine = SSEClient(f"{grip['proxy']}/events/", token_header(client))
    theirs = SSEClient(f"{grip['proxy']}/events/", token_header(other_client))
    try:
        mine.wait_open()
        theirs.wait_open()
        # The API goes through Pushpin too (it proxies every path to the app).
        response = httpx.post(
            f"{grip['proxy']}/api/jobs/{job.pk}/bids/", headers=token_header(cleaner),
            json={"amount": "80.00", "message": "Through Pushpin"}, timeout=10,
        )
        assert response.status_code == 201, response.text

        pushed = mine.wait_for(lambda events: [e for e in events if e.event == "notification"], timeout=20)
        stored = Notification.objects.get(recipient=client, notification_type="bid_received")
        assert [(e.id, e.json()["id"]) for e in pushed] == [(str(stored.seq), stored.pk)]
        assert pushed[0].json()["metadata"]["bid_id"] == response.json()["id"]
        # Let anything misrouted arrive before looking: the other client got nothing.
        wait_for(lambda: Notification.objects.filter(notification_type="bid_received").count() == 1, timeout=5)
        time.sleep(1.5)
        assert theirs.of_type("notification") == []
    finally:
        mine.close()
        theirs.close()


def test_pushpin_holds_the_stream_and_the_app_answers_at_once(grip):
    user = ClientFactory()
    with httpx.stream("GET", f"{grip['proxy']}/events/", headers=token_header(user), timeout=httpx.Timeout(10, read=10)) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # GRIP instructions (channel names, the catch-up link) stay between Pushpin and the app.
        assert not [name for name in response.headers if name.lower().startswith("grip-")]
        first = next(response.iter_text())
        assert "event: stream_open" in first
    # Asked directly, the app refuses to hold a stream itself (GRIP_URL is set) ...
    direct = httpx.get(f"{grip['origin']}/events/", headers=token_header(user), timeout=5)
    assert direct.status_code == 421
    # ... and a forged Grip-Sig is refused.
    forged = httpx.get(f"{grip['origin']}/events/", headers=token_header(user) | {"Grip-Sig": "x.y.z"}, timeout=5)
    assert forged.status_code == 403


def test_reconnect_with_last_event_id_replays_what_was_missed_through_pushpin(grip):
    user = CleanerFactory()
    seen = Notification.objects.create(recipient=user, notification_type="system_alert", title="Seen", priority="urgent")
    missed = Notification.objects.bulk_create(
        Notification(recipient=user, notification_type="system_alert", title=f"Missed {i}", priority="urgent") for i in range(5)
    )
    stream = SSEClient(f"{grip['proxy']}/events/", token_header(user) | {"Last-Event-ID": str(seen.seq)})
    try:
        stream.wait_for(lambda events: any(e.event == "unread_count" for e in events))
        replayed = stream.of_type("notification")
    finally:
        stream.close()
    assert [(int(e.id), e.json()["id"]) for e in replayed] == [(n.seq, n.pk) for n in missed]
    assert [e.json()["title"] for e in replayed] == [f"Missed {i}" for i in range(5)]
    assert stream.of_type("unread_count")[-1].json() == {"count": 6}


def test_a_notification_stored_before_pushpin_subscribed_arrives_by_the_catch_up(grip):
    """Stored after the app answered but never published (as if published before Pushpin subscribed).

    The app republishes it a moment later (notifications.sse.grip.GRIP_CATCHUP_SECONDS), once Pushpin has subscribed.
    """
    user = CleanerFactory()
    stream = SSEClient(f"{grip['proxy']}/events/", token_header(user))
    try:
        stream.wait_open()
        late = Notification.objects.create(recipient=user, notification_type="system_alert", title="In the gap", priority="urgent")
        pushed = stream.wait_for(lambda events: [e for e in events if e.event == "notification"], timeout=10)
    finally:
        stream.close()
    assert [(e.id, e.json()["id"], e.json()["title"]) for e in pushed] == [(str(late.seq), late.pk, "In the gap")]


def test_logout_closes_that_sessions_stream_held_by_pushpin(grip):
    user = ClientFactory()
    browser = Client()
    browser.force_login(user)
    cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}
    stream = SSEClient(f"{grip['proxy']}/events/", cookie)
    try:
        stream.wait_open()
        browser.logout()  # publishes the farewell and a close to the session's channel
        assert stream.wait_ended(timeout=10), "the stream stayed open after logout"
        assert stream.of_type("stream_error")
    finally:
        stream.close()
    assert httpx.get(f"{grip['proxy']}/events/", headers=cookie, timeout=5).status_code == 403


def test_a_lower_id_committed_after_the_opening_arrives_by_the_catch_up(grip):
    """Ids are taken at insert, visible at commit: a lower id can appear after a higher one was replayed."""
    user = CleanerFactory()
    before = Notification.objects.create(recipient=user, notification_type="system_alert", title="Before", priority="urgent")
    late_id = Notification.objects.create(recipient=user, notification_type="system_alert", title="x", priority="urgent").pk
    newer = Notification.objects.create(recipient=user, notification_type="system_alert", title="Newer", priority="urgent")
    Notification.objects.filter(pk=late_id).delete()  # not committed yet, as it were
    stream = SSEClient(f"{grip['proxy']}/events/", token_header(user) | {"Last-Event-ID": str(before.seq)})
    try:
        stream.wait_for(lambda events: any(e.event == "unread_count" for e in events))
        assert [e.json()["id"] for e in stream.of_type("notification")] == [newer.pk]
        Notification.objects.create(pk=late_id, recipient=user, notification_type="system_alert", title="Late", priority="urgent")
        pushed = stream.wait_for(lambda events: [e for e in events if e.event == "notification" and e.json()["id"] == late_id], timeout=10)
    finally:
        stream.close()
    assert pushed[0].json()["title"] == "Late"
    assert [e.json()["id"] for e in stream.of_type("notification")] == [newer.pk, late_id]  # the replayed one is not repeated


def test_deleting_a_token_closes_its_stream_held_by_pushpin(grip):
    user = ClientFactory()
    key = Token.objects.create(user=user).key
    browser = Client()
    browser.force_login(user)
    by_token = SSEClient(f"{grip['proxy']}/events/", {"Authorization": f"Token {key}"})
    by_session = SSEClient(f"{grip['proxy']}/events/", {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"})
    try:
        by_token.wait_open()
        by_session.wait_open()
        revoked_at = time.monotonic()
        Token.objects.filter(key=key).delete()  # publishes the farewell and a close to the token's channel
        assert by_token.wait_ended(timeout=5), "the stream stayed open after its token was deleted"
        assert time.monotonic() - revoked_at < 2
        assert [e.json() for e in by_token.of_type("stream_error")] == [{"reason": "signed out"}]
        time.sleep(0.5)
        assert not by_session.ended.is_set(), "the user's session stream was closed too"
    finally:
        by_token.close()
        by_session.close()
    refused = httpx.get(f"{grip['proxy']}/events/", headers={"Authorization": f"Token {key}"}, timeout=5)
    assert refused.status_code == 403


def test_a_password_change_closes_the_streams_held_by_pushpin_and_the_owner_may_reconnect(grip):
    from tests.integration.test_stream_revocation import change_password_as_the_owner

    owner = ClientFactory()
    thief, owners_browser = Client(), Client()
    thief.force_login(owner)
    owners_browser.force_login(owner)
    thief_cookie = {"Cookie": f"sessionid={thief.cookies['sessionid'].value}"}
    thief_token = {"Authorization": f"Token {Token.objects.create(user=owner).key}"}
    streams = [SSEClient(f"{grip['proxy']}/events/", headers) for headers in (thief_cookie, thief_token)]
    try:
        for stream in streams:
            stream.wait_open()
        changed_at = time.monotonic()
        new_key = change_password_as_the_owner(owner, owners_browser.cookies["sessionid"].value, "a-new-password")
        for stream in streams:
            assert stream.wait_ended(timeout=5), "a thief's stream stayed open after the password change"
            assert [e.json() for e in stream.of_type("stream_error")] == [{"reason": "signed out"}]
        assert time.monotonic() - changed_at < 2
    finally:
        for stream in streams:
            stream.close()
    for headers in (thief_cookie, thief_token):
        assert httpx.get(f"{grip['proxy']}/events/", headers=headers, timeout=5).status_code == 403
    reconnected = SSEClient(f"{grip['proxy']}/events/", {"Cookie": f"sessionid={new_key}"})
    try:
        reconnected.wait_open()
    finally:
        reconnected.close()
    assert reconnected.status == 200


def test_a_token_revoked_before_pushpin_subscribed_is_closed_by_the_catch_up(grip):
    """Deleted without a signal: as if its close was published before Pushpin subscribed to the token's channel."""
    from django.db import connection

    user = ClientFactory()
    key = Token.objects.create(user=user).key
    browser = Client()
    browser.force_login(user)
    by_token = SSEClient(f"{grip['proxy']}/events/", {"Authorization": f"Token {key}"})
    by_session = SSEClient(f"{grip['proxy']}/events/", {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"})
    try:
        by_token.wait_open()
        by_session.wait_open()
        with connection.cursor() as cursor:
            cursor.execute(f"DELETE FROM {Token._meta.db_table} WHERE key = %s", [key])
        assert by_token.wait_ended(timeout=10), "the stream of a revoked token stayed open"
        assert [e.json() for e in by_token.of_type("stream_error")] == [{"reason": "signed out"}]
        time.sleep(3)  # past the session stream's own catch-up
        assert not by_session.ended.is_set(), "the user's session stream was closed too"
    finally:
        by_token.close()
        by_session.close()

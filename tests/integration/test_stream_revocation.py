"""An open /events/ stream ends within 2 s once its credential is revoked, and cannot reopen.

Real uvicorn and Redis; this test process deletes tokens, sessions and changes
passwords the way the product does, and publishes through the same Redis.
"""

import time

import httpx
import pytest
from django.contrib.auth import update_session_auth_hash
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import transaction
from django.test import Client, RequestFactory
from rest_framework.authtoken.models import Token

from devtools.sse import SSEClient
from tests.factories import CleanerFactory, ClientFactory
from tests.integration.conftest import REDIS_URL

pytestmark = pytest.mark.integration

CUT_OFF_SECONDS = 2
SIGNED_OUT = {"reason": "signed out"}


@pytest.fixture
def publish_through_redis(settings, clean_redis):
    settings.REDIS_URL = REDIS_URL


def signed_in(user) -> tuple[Client, dict]:
    browser = Client()
    browser.force_login(user)
    return browser, {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}


def token_header(key: str) -> dict:
    return {"Authorization": f"Token {key}"}


def assert_cut_off(stream: SSEClient, since: float, what: str):
    assert stream.wait_ended(timeout=CUT_OFF_SECONDS + 3), f"the {what} stream stayed open"
    assert time.monotonic() - since < CUT_OFF_SECONDS, f"the {what} stream took {time.monotonic() - since:.1f}s to close"
    assert [e.json() for e in stream.of_type("stream_error")] == [SIGNED_OUT], what


def change_password_as_the_owner(user, owner_session_key: str, new_password: str) -> str:
    """What a password-change view does: save the new hash, keep the owner's own session. The new session key."""
    request = RequestFactory().post("/password/")
    request.session = SessionStore(owner_session_key)
    request.user = user
    with transaction.atomic():
        user.set_password(new_password)
        user.save()
        update_session_auth_hash(request, user)
        request.session.save()
    return request.session.session_key


def test_deleting_a_token_closes_its_streams_and_only_those(live_server_url, publish_through_redis):
    user = CleanerFactory()
    key = Token.objects.create(user=user).key
    _, cookie = signed_in(user)
    by_token = SSEClient(f"{live_server_url}/events/", token_header(key))
    by_session = SSEClient(f"{live_server_url}/events/", cookie)
    try:
        by_token.wait_open()
        by_session.wait_open()

        revoked_at = time.monotonic()
        Token.objects.filter(key=key).delete()

        assert_cut_off(by_token, revoked_at, "token")
        time.sleep(0.5)
        assert not by_session.ended.is_set(), "a stream opened with the session was closed too"
    finally:
        by_token.close()
        by_session.close()
    refused = httpx.get(f"{live_server_url}/events/", headers=token_header(key), timeout=5)
    assert refused.status_code == 403


def test_a_password_change_cuts_the_thiefs_streams_and_the_owner_may_reconnect(live_server_url, publish_through_redis):
    owner = ClientFactory()
    owner.set_password("stolen-password")
    owner.save()
    thief_browser, thief_cookie = signed_in(owner)
    thief_key = Token.objects.create(user=owner).key  # minted with the stolen password
    owner_browser, owner_cookie = signed_in(owner)
    thief_by_session = SSEClient(f"{live_server_url}/events/", thief_cookie)
    thief_by_token = SSEClient(f"{live_server_url}/events/", token_header(thief_key))
    owner_stream = SSEClient(f"{live_server_url}/events/", owner_cookie)
    try:
        for stream in (thief_by_session, thief_by_token, owner_stream):
            stream.wait_open()

        changed_at = time.monotonic()
        owner_session_key = change_password_as_the_owner(owner, owner_browser.cookies["sessionid"].value, "a-new-password")

        assert_cut_off(thief_by_session, changed_at, "thief's session")
        assert_cut_off(thief_by_token, changed_at, "thief's token")
    finally:
        for stream in (thief_by_session, thief_by_token, owner_stream):
            stream.close()
    for headers in (thief_cookie, token_header(thief_key)):
        refused = httpx.get(f"{live_server_url}/events/", headers=headers, timeout=5)
        assert refused.status_code == 403, headers
    assert Token.objects.filter(user=owner).count() == 0
    # The owner's session was kept (under a new key): its page reconnects.
    reconnected = SSEClient(f"{live_server_url}/events/", {"Cookie": f"sessionid={owner_session_key}"})
    try:
        reconnected.wait_open()
    finally:
        reconnected.close()
    assert reconnected.status == 200


def test_a_password_change_that_rolls_back_cuts_nothing(live_server_url, publish_through_redis):
    user = CleanerFactory()
    key = Token.objects.create(user=user).key
    stream = SSEClient(f"{live_server_url}/events/", token_header(key))
    try:
        stream.wait_open()
        with pytest.raises(RuntimeError), transaction.atomic():
            user.set_password("never-saved")
            user.save()
            raise RuntimeError("the change failed")
        time.sleep(CUT_OFF_SECONDS)
        assert not stream.ended.is_set()
    finally:
        stream.close()
    assert Token.objects.filter(key=key).exists()


@pytest.mark.parametrize("delete", ["session_store", "queryset", "flush"])
def test_deleting_a_session_closes_its_streams(live_server_url, publish_through_redis, delete):
    user = ClientFactory()
    browser, cookie = signed_in(user)
    session_key = browser.cookies["sessionid"].value
    _, other_cookie = signed_in(user)
    stream = SSEClient(f"{live_server_url}/events/", cookie)
    other = SSEClient(f"{live_server_url}/events/", other_cookie)
    try:
        stream.wait_open()
        other.wait_open()

        deleted_at = time.monotonic()
        if delete == "session_store":
            SessionStore().delete(session_key)
        elif delete == "queryset":  # as the admin's bulk delete or clearsessions do
            Session.objects.filter(session_key=session_key).delete()
        else:
            SessionStore(session_key).flush()

        assert_cut_off(stream, deleted_at, "session")
        time.sleep(0.5)
        assert not other.ended.is_set(), "the user's other session was cut off too"
    finally:
        stream.close()
        other.close()
    assert httpx.get(f"{live_server_url}/events/", headers=cookie, timeout=5).status_code == 403

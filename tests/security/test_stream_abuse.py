"""/events/ on a running ASGI server: the abuse cases tests/integration/test_streams.py
does not already cover (there: anonymous, forged cookie or token, ?channel=,
?channels=, a Channel header, /events/<id>/, logout and deactivation cut-offs).

Here: a token anywhere but the Authorization header, revoked tokens and sessions
invalidated by a password change, malformed Last-Event-IDs (one used to be a 500),
other ways of naming another user that are not refused outright but must still
yield only the caller's own notifications, and methods other than GET.
"""

import httpx
import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from devtools.sse import SSEClient
from notifications.models import Notification
from tests.factories import CleanerFactory, ClientFactory

pytestmark = pytest.mark.integration

NOT_AUTHENTICATED = {"detail": "Authentication required.", "code": "not_authenticated"}
BAD_LAST_ID = {"detail": "Last-Event-ID must be a notification id.", "code": "invalid"}


def token_of(user) -> str:
    return Token.objects.get_or_create(user=user)[0].key


def notify(user, title):
    return Notification.objects.create(
        recipient=user, notification_type="system_alert", title=title, priority="urgent"
    )


@pytest.mark.parametrize("query", ["token", "auth_token", "access_token", "key", "authorization"])
def test_a_token_in_the_query_string_does_not_open_a_stream(live_server_url, query):
    user = ClientFactory()
    key = token_of(user)

    response = httpx.get(f"{live_server_url}/events/?{query}={key}", timeout=5)
    scheme_too = httpx.get(f"{live_server_url}/events/", params={query: f"Token {key}"}, timeout=5)

    assert (response.status_code, response.json()) == (403, NOT_AUTHENTICATED)
    assert (scheme_too.status_code, scheme_too.json()) == (403, NOT_AUTHENTICATED)


@pytest.mark.parametrize("header", ["X-Auth-Token", "Token", "X-Authorization"])
def test_a_token_in_another_header_does_not_open_a_stream(live_server_url, header):
    key = token_of(ClientFactory())

    response = httpx.get(f"{live_server_url}/events/", headers={header: f"Token {key}"}, timeout=5)

    assert (response.status_code, response.json()) == (403, NOT_AUTHENTICATED)


def test_a_token_in_a_cookie_does_not_open_a_stream(live_server_url):
    key = token_of(ClientFactory())

    for cookie in (f"token={key}", f"auth_token={key}", f"sessionid={key}"):
        response = httpx.get(f"{live_server_url}/events/", headers={"Cookie": cookie}, timeout=5)
        assert (response.status_code, response.json()) == (403, NOT_AUTHENTICATED), cookie


def test_a_revoked_token_is_refused(live_server_url):
    user = ClientFactory()
    key = token_of(user)
    with httpx.stream("GET", f"{live_server_url}/events/", headers={"Authorization": f"Token {key}"}, timeout=5) as ok:
        assert ok.status_code == 200

    Token.objects.filter(user=user).delete()

    response = httpx.get(f"{live_server_url}/events/", headers={"Authorization": f"Token {key}"}, timeout=5)
    assert (response.status_code, response.json()) == (403, NOT_AUTHENTICATED)


def test_a_session_from_before_a_password_change_is_refused(live_server_url):
    user = CleanerFactory()
    browser = Client()
    browser.force_login(user)
    cookie = {"Cookie": f"sessionid={browser.cookies['sessionid'].value}"}

    user.set_password("a-brand-new-password")
    user.save()

    response = httpx.get(f"{live_server_url}/events/", headers=cookie, timeout=5)
    assert (response.status_code, response.json()) == (403, NOT_AUTHENTICATED)


@pytest.mark.parametrize("raw", [
    b"\xb2",  # superscript two: str.isdigit() says yes, int() says no (this was a 500)
    "\u0663".encode("utf-8"),  # Arabic-Indic three, as UTF-8 bytes
    b"-1", b"+5", b"1e3", b"0x10", b"1.0", b"1 2", b"9" * 19, b"abc",
])
def test_a_malformed_last_event_id_header_is_a_400(live_server_url, raw):
    headers = [(b"Authorization", f"Token {token_of(ClientFactory())}".encode()), (b"Last-Event-ID", raw)]

    response = httpx.get(f"{live_server_url}/events/", headers=headers, timeout=5)

    assert (response.status_code, response.json()) == (400, BAD_LAST_ID)


@pytest.mark.parametrize("value", ["\u0663", "\u00b2", "\uff11", "-1", "1e3", "9" * 19])
def test_a_malformed_last_event_id_in_the_query_is_a_400(live_server_url, value):
    key = token_of(ClientFactory())

    response = httpx.get(f"{live_server_url}/events/", params={"lastEventId": value},
                         headers={"Authorization": f"Token {key}"}, timeout=5)

    assert (response.status_code, response.json()) == (400, BAD_LAST_ID)


def test_other_hints_at_another_user_still_yield_only_your_own_notifications(live_server_url):
    me, other = ClientFactory(), ClientFactory()
    mine = []
    for n in range(3):
        notify(other, f"secret {n}")
        mine.append(notify(me, f"mine {n}"))
        notify(other, f"secret {n}b")
    hints = f"user={other.pk}&user_id={other.pk}&uid={other.pk}&recipient={other.pk}&lastEventId=0"
    headers = {"Authorization": f"Token {token_of(me)}", "X-User-Id": str(other.pk), "X-Channel": f"sse:user:{other.pk}"}

    stream = SSEClient(f"{live_server_url}/events/?{hints}", headers)
    try:
        stream.wait_for(lambda events: any(e.event == "unread_count" for e in events))
        replayed = stream.of_type("notification")
        count = stream.of_type("unread_count")[-1].json()
    finally:
        stream.close()

    assert [e.json()["id"] for e in replayed] == [n.pk for n in mine]
    assert [e.json()["title"] for e in replayed] == ["mine 0", "mine 1", "mine 2"]
    assert count == {"count": 3}


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_get_is_served(live_server_url, method):
    key = token_of(ClientFactory())

    response = httpx.request(method, f"{live_server_url}/events/", headers={"Authorization": f"Token {key}"},
                             content=b"{}", timeout=5)

    assert (response.status_code, response.json()) == (405, {"detail": "Use GET.", "code": "method_not_allowed"})

"""Who gets a stream on /events/, called in-process (no server): cookies, caps, Redis down.

Streams here use the in-process hub (REDIS_URL=""), except where Redis is meant to be down.
"""

import asyncio

import pytest
from django.test import Client
from rest_framework.authtoken.models import Token

from devtools.processes import free_port
from notifications.sse.endpoint import stream_garbage
from notifications.sse.hub import hub
from tests.factories import ClientFactory
from tests.notifications.in_process_sse import InProcessStream

pytestmark = pytest.mark.django_db(transaction=True)


def token_headers(user) -> dict[str, str]:
    return {"Authorization": f"Token {Token.objects.get_or_create(user=user)[0].key}"}


@pytest.fixture
def in_process_hub(settings):
    settings.REDIS_URL = ""
    settings.GRIP_URL = ""


# --- item: cookies are parsed as Django parses them --------------------------------------


@pytest.mark.parametrize("before", [
    'consent={"ads":false}',
    "theme=dark mode",
    "flag",
    "ab@c=1",
    'consent={"ads":false}; theme=dark mode; flag; ab@c=1',
])
def test_a_cookie_django_accepts_does_not_hide_the_session_cookie(in_process_hub, before):
    browser = Client()
    browser.force_login(ClientFactory())
    session_key = browser.cookies["sessionid"].value

    async def scenario():
        stream = InProcessStream({"Cookie": f"{before}; sessionid={session_key}; after=1"})
        await stream.wait_open()
        status, body = stream.status, stream.body
        await stream.hang_up()
        return status, body

    status, body = asyncio.run(scenario())

    assert status == 200, body
    assert "event: stream_open" in body


def test_an_odd_cookie_without_a_session_is_a_403_not_a_500(in_process_hub):
    async def scenario():
        stream = InProcessStream({"Cookie": "ab@c=1; theme=dark mode"})
        await stream.task
        return stream.status, stream.body

    assert asyncio.run(scenario()) == (403, '{"detail": "Authentication required.", "code": "not_authenticated"}')


# --- item: streams per user and per process -----------------------------------------------


def test_one_stream_past_the_per_user_cap_closes_that_users_oldest_stream(in_process_hub, settings):
    settings.SSE_MAX_STREAMS_PER_USER = 3
    user, other = ClientFactory(), ClientFactory()
    headers, other_headers = token_headers(user), token_headers(other)

    async def scenario():
        others = InProcessStream(other_headers)
        await others.wait_open()
        streams = []
        for _ in range(3):
            streams.append(InProcessStream(headers, b"lastEventId=0"))
            await streams[-1].wait_open()
        assert not any(s.ended for s in streams)

        newest = InProcessStream(headers, b"lastEventId=0")
        await newest.wait_open()
        await streams[0].wait(lambda s: s.ended)
        await asyncio.sleep(0.05)
        result = {
            "newest": (newest.status, newest.ended),
            "oldest_tail": streams[0].body.rsplit("event: stream_open", 1)[1],
            "still_open": [s.ended for s in streams[1:]] + [others.ended],
            "listeners": len(hub.listeners.get(user.pk, ())),
        }
        for stream in [*streams, newest, others]:
            await stream.hang_up()
        return result

    result = asyncio.run(scenario())

    assert result["newest"] == (200, False)
    assert result["oldest_tail"].endswith(
        'event: stream_error\ndata: {"reason":"too many open streams","code":"too_many_streams"}\n\n'
    )
    assert result["still_open"] == [False, False, False]
    assert result["listeners"] == 3
    assert user.pk not in hub.listeners


def test_past_the_per_process_cap_a_new_stream_gets_a_503_with_retry_after(in_process_hub, settings):
    settings.SSE_MAX_STREAMS_PER_PROCESS = 2
    users = [ClientFactory() for _ in range(3)]
    headers = [token_headers(u) for u in users]
    before = stream_garbage.open_streams

    async def scenario():
        held = [InProcessStream(h) for h in headers[:2]]
        for stream in held:
            await stream.wait_open()
        refused = InProcessStream(headers[2])
        await refused.task
        for stream in held:
            await stream.hang_up()
        again = InProcessStream(headers[2])  # room again once the others left
        await again.wait_open()
        await again.hang_up()
        return refused, again.status

    refused, status_after = asyncio.run(scenario())

    assert refused.status == 503
    assert refused.headers[b"retry-after"] == b"10"
    assert refused.body == (
        '{"detail": "This server holds as many live streams as it can; retry shortly.", "code": "streams_full"}'
    )
    assert status_after == 200
    assert stream_garbage.open_streams == before
    assert not hub.listeners
    assert hub.open_streams == 0


# --- item: a failed open leaves nothing behind --------------------------------------------


def test_with_redis_down_each_open_is_a_503_and_the_hub_holds_nothing_afterwards(settings):
    settings.GRIP_URL = ""
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    user = ClientFactory()
    headers = token_headers(user)
    garbage_before = stream_garbage.open_streams

    async def scenario():
        refused = []
        for _ in range(5):
            stream = InProcessStream(headers, b"lastEventId=0")
            await asyncio.wait_for(stream.task, timeout=15)
            refused.append((stream.status, stream.headers.get(b"retry-after"), stream.body))
        return refused

    refused = asyncio.run(scenario())

    assert refused == [
        (503, b"5", '{"detail": "Live updates are unavailable right now; retry shortly.", "code": "stream_unavailable"}')
    ] * 5
    assert dict(hub.listeners) == {}
    assert list(hub._subscribed) == []
    assert hub._pubsub is None
    assert hub.open_streams == 0
    assert stream_garbage.open_streams == garbage_before


# --- a stream that arrives as the process stops ---------------------------------------------


def test_a_stream_opened_after_the_process_was_told_to_stop_ends_at_once(in_process_hub):
    # Found by bench_reconnect: streams accepted while the old process was stopping hung until
    # uvicorn's graceful timeout and were cancelled (a 500 to those still opening).
    headers = token_headers(ClientFactory())

    async def scenario():
        hub.stop_streams()
        try:
            stream = InProcessStream(headers)
            await asyncio.wait_for(stream.task, timeout=10)
            return stream.status, stream.ended, stream.frames()
        finally:
            hub.stopping = False

    status, ended, frames = asyncio.run(scenario())

    assert (status, ended) == (200, True)
    assert [event for _id, event, _data in frames] == ["stream_open", "unread_count"]
    assert dict(hub.listeners) == {}

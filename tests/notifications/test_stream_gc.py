"""The garbage-collector policy of open streams (notifications/sse/gc_policy.py)."""

import asyncio
import gc
import weakref

import pytest
from rest_framework.authtoken.models import Token

from notifications.sse.endpoint import sse_app, stream_garbage
from notifications.sse.gc_policy import StreamGarbagePolicy
from tests.factories import ClientFactory


class Cycle:
    """What a closed stream can leave behind: objects only a reference cycle keeps alive."""

    def __init__(self):
        self.me = self


@pytest.fixture(autouse=True)
def nothing_left_frozen():
    gc.unfreeze()
    yield
    gc.unfreeze()


def open_streams(policy, count):
    async def burst():
        for _ in range(count):
            policy.stream_opened()
        await asyncio.sleep(policy.settle_seconds * 3)

    asyncio.run(burst())


def test_a_settled_burst_of_streams_is_frozen_out_of_full_collections():
    policy = StreamGarbagePolicy(settle_seconds=0.01, burst=10)
    open_streams(policy, 10)
    assert gc.get_freeze_count() > 0
    assert policy.frozen_with == 10


def test_fewer_new_streams_than_a_burst_freeze_nothing():
    policy = StreamGarbagePolicy(settle_seconds=0.01, burst=10)
    open_streams(policy, 9)
    assert gc.get_freeze_count() == 0


def test_switched_off_it_never_freezes():
    policy = StreamGarbagePolicy(enabled=False, settle_seconds=0.01, burst=10)
    open_streams(policy, 50)
    assert gc.get_freeze_count() == 0


def test_once_half_the_frozen_streams_closed_everything_is_unfrozen():
    policy = StreamGarbagePolicy(settle_seconds=0.01, burst=10)
    open_streams(policy, 10)
    for _ in range(4):
        policy.stream_closed()
    assert gc.get_freeze_count() > 0
    policy.stream_closed()
    assert gc.get_freeze_count() == 0
    assert policy.open_streams == 5


def test_garbage_left_while_frozen_is_collected_after_the_unfreeze():
    policy = StreamGarbagePolicy(settle_seconds=0.01, burst=2)
    leftover = Cycle()
    alive = weakref.ref(leftover)
    open_streams(policy, 2)
    del leftover
    gc.collect()
    assert alive() is not None, "frozen: full collections skip it"

    policy.stream_closed()
    gc.collect()

    assert alive() is None


@pytest.mark.django_db(transaction=True)
def test_the_events_endpoint_counts_each_stream_while_it_is_open(settings):
    settings.REDIS_URL = ""  # the in-process hub: no Redis needed to hold a stream
    token = Token.objects.create(user=ClientFactory()).key
    before = stream_garbage.open_streams

    async def one_stream():
        sent, hang_up = [], asyncio.Event()

        async def receive():
            await hang_up.wait()
            return {"type": "http.disconnect"}

        async def send(message):
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": "/events/", "query_string": b"",
                 "headers": [(b"authorization", f"Token {token}".encode())]}
        stream = asyncio.create_task(sse_app(scope, receive, send))
        while not any(b"stream_open" in m.get("body", b"") for m in sent):
            await asyncio.sleep(0.01)
        open_while_streaming = stream_garbage.open_streams
        hang_up.set()
        await asyncio.wait_for(stream, timeout=5)
        return sent[0]["status"], open_while_streaming

    status, open_while_streaming = asyncio.run(one_stream())

    assert status == 200
    assert open_while_streaming == before + 1
    assert stream_garbage.open_streams == before

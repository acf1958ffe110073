"""The garbage-collector policy of open streams (notifications/sse/gc_policy.py)."""

import asyncio
import gc
import weakref

import pytest
from rest_framework.authtoken.models import Token

from notifications.catalog import NotificationType
from notifications.models import Notification
from notifications.sse import publishing
from notifications.sse.endpoint import sse_app, stream_garbage
from notifications.sse.gc_policy import StreamGarbagePolicy
from tests.factories import ClientFactory
from tests.notifications.in_process_sse import InProcessStream


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


@pytest.mark.django_db(transaction=True)
def test_a_stream_waits_for_each_event_without_a_task_of_its_own(settings):
    """What a waiting stream holds is what every full collection walks, and what is new since
    the freeze is not frozen: so the wait between two events makes no task (the wait used to
    be a task, a timer and a cancelled future for every event of every stream)."""
    settings.REDIS_URL = ""  # the in-process hub
    settings.GRIP_URL = ""
    user = ClientFactory()
    token = Token.objects.create(user=user).key

    async def scenario():
        stream = InProcessStream({"Authorization": f"Token {token}"})
        await stream.wait(lambda s: "event: unread_count" in s.body)
        waiting = asyncio.all_tasks()
        tasks_between_events = []
        for n in range(1, 4):
            notification = await asyncio.to_thread(
                Notification.objects.create, recipient=user, notification_type=NotificationType.SYSTEM_ALERT, title=f"#{n}",
            )
            await asyncio.to_thread(publishing.publish_notifications, Notification.objects.filter(pk=notification.pk))
            await stream.wait(lambda s: s.body.count("event: notification\n") == n)
            for _ in range(3):
                await asyncio.sleep(0)  # the stream writes, then waits again
            tasks_between_events.append(asyncio.all_tasks())
        await stream.hang_up()
        return waiting, tasks_between_events

    waiting, tasks_between_events = asyncio.run(scenario())

    assert tasks_between_events == [waiting] * 3

"""The hub's Redis subscriptions: streams opening together share one SUBSCRIBE, and each gets its frames."""

import asyncio
import os

import pytest
import redis

from notifications.sse.channels import user_channel
from notifications.sse.hub import Listener, StreamHub

REDIS_URL = os.environ.get("TEST_REDIS_URL", "redis://127.0.0.1:6379/15")
STREAMS = 50


@pytest.fixture
def redis_hub(settings):
    settings.REDIS_URL = REDIS_URL
    return StreamHub()


def subscribe_calls(client) -> int:
    return client.info("commandstats").get("cmdstat_subscribe", {}).get("calls", 0)


def test_streams_opening_together_share_one_subscribe_and_each_gets_its_own_frames(redis_hub):
    client = redis.Redis.from_url(REDIS_URL)
    listeners = [Listener(user_id=900_000 + i, session_key=None) for i in range(STREAMS)]

    async def scenario():
        await redis_hub._ensure_reader()  # the control channel's own SUBSCRIBE, once per process
        before = subscribe_calls(client)
        await asyncio.gather(*(redis_hub.attach(listener) for listener in listeners))
        calls = subscribe_calls(client) - before
        for listener in listeners:
            client.publish(user_channel(listener.user_id), f"frame for {listener.user_id}")
        frames = [await asyncio.wait_for(listener.queue.get(), timeout=5) for listener in listeners]
        await redis_hub.shutdown()
        return calls, frames

    calls, frames = asyncio.run(scenario())

    assert calls == 1
    assert frames == [f"frame for {listener.user_id}" for listener in listeners]


def test_a_stream_gone_before_its_batch_went_out_is_not_subscribed(redis_hub):
    client = redis.Redis.from_url(REDIS_URL)
    staying, leaving = Listener(user_id=910_001, session_key=None), Listener(user_id=910_002, session_key=None)

    async def scenario():
        await redis_hub._ensure_reader()
        leaving_open = asyncio.ensure_future(redis_hub.attach(leaving))
        await asyncio.sleep(0)  # it joined the batch; now the client goes away
        leaving_open.cancel()
        await redis_hub.detach(leaving)
        await redis_hub.attach(staying)
        channels = {c.decode() for c in client.pubsub_channels("sse:user:91000*")}
        await redis_hub.shutdown()
        return channels

    assert asyncio.run(scenario()) == {user_channel(staying.user_id)}

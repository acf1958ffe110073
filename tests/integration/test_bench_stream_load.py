"""bench.sse_clients.StreamLoad against a running server: the clients bench_streams and bench_e2e measure with."""

import time

import pytest
from rest_framework.authtoken.models import Token

from bench.sse_clients import StreamLoad
from notifications.sse import frames, publishing
from tests.factories import ClientFactory

pytestmark = pytest.mark.integration


def test_stream_load_opens_every_stream_reports_its_cpu_and_receives_the_events(live_server_url, settings, clean_redis):
    from tests.integration.conftest import REDIS_URL

    settings.REDIS_URL = REDIS_URL  # publish as a worker does, through the server's Redis
    users = [ClientFactory() for _ in range(6)]
    auths = [(user.pk, f"Authorization: Token {Token.objects.get_or_create(user=user)[0].key}") for user in users]
    load = StreamLoad(live_server_url, "/events/", auths, event="bench", key="seq", processes=2, concurrency=4, timeout=10)

    load.start(timeout=30)
    try:
        assert load.opened == len(users) and load.failed == {}
        assert sorted(load.opened_ids) == sorted(user.pk for user in users)
        assert load.client_cpu_s > 0  # the client processes' own CPU until their streams were open
        publishing.publish([frames.StreamEvent(user.pk, "bench", {"seq": i}) for i, user in enumerate(users)])
        time.sleep(1)
    finally:
        receipts = load.stop()

    assert sorted((uid, seq) for uid, seq, _at in receipts) == [(user.pk, i) for i, user in enumerate(users)]
    assert load.alive == len(users) and load.ended == {}

"""A web process told to stop (a deploy's SIGTERM) ends its open streams at once.

uvicorn waits for open responses (up to --timeout-graceful-shutdown) before the app's
lifespan shutdown; an SSE response never ends by itself, so every stream waited out that
timeout and was then cancelled, with a traceback each: at 10,000 streams the old process
took ~15 s to stop (the reconnect storm's first 15 s). Now each stream ends with its last
chunk as the signal arrives, and its browser reconnects after its own retry delay; the hub
does not unsubscribe the streams' channels one by one on the way out.
"""

import signal
import time

import pytest
from rest_framework.authtoken.models import Token

from devtools.sse import SSEClient
from tests.factories import ClientFactory
from tests.integration.conftest import service_env
from devtools import processes

pytestmark = pytest.mark.integration

STREAMS = 20


def unsubscribes(redis_client) -> int:
    stats = redis_client.info("commandstats").get("cmdstat_unsubscribe", {})
    return stats.get("calls", 0)


def test_sigterm_ends_every_open_stream_cleanly_and_the_process_exits_at_once(transactional_db, clean_redis, tmp_path):
    env = service_env()
    server, base = processes.start_web(tmp_path, env, name="web", graceful_shutdown=5)
    streams = []
    try:
        for user in ClientFactory.create_batch(STREAMS):
            streams.append(SSEClient(f"{base}/events/", {"Authorization": f"Token {Token.objects.create(user=user).key}"}))
        for stream in streams:
            stream.wait_for(lambda events: any(e.event == "stream_open" for e in events))

        unsubscribed_before = unsubscribes(clean_redis)
        started = time.monotonic()
        server.proc.send_signal(signal.SIGTERM)
        server.proc.wait(timeout=30)
        stopped_s = time.monotonic() - started

        assert all(stream.ended.wait(5) for stream in streams)
        log = server.output()
        assert stopped_s < 3, f"stopped in {stopped_s:.1f}s (the graceful timeout is 5 s)\n{log[-2000:]}"
        assert "timeout graceful shutdown exceeded" not in log and "Traceback" not in log, log[-3000:]
        # Not one UNSUBSCRIBE per stream on the way out (10,000 of them kept the loop busy for 10 s):
        # the subscriptions end with the connection.
        assert unsubscribes(clean_redis) - unsubscribed_before <= 1
    finally:
        server.stop()

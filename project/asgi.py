"""ASGI entry point: /events/ goes to the SSE app, /receipts/ to the receipts door, the rest to Django.

The SSE app runs outside Django's request cycle so that an open stream holds
no thread and no database connection (see notifications/sse/).
"""

import asyncio
import os
import signal
import threading

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core.handlers.asgi import ASGIHandler
from django.db import close_old_connections

from project.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
load_settings_or_exit()
django.setup(set_prefix=False)


class BoundedASGIHandler(ASGIHandler):
    """Django's ASGI handler with at most `limit` requests inside Django at once.

    Under ASGI every request runs its view on a thread of its own with a database
    connection of its own: a burst of requests would open one connection each and
    run PostgreSQL out of them (500s for everyone). Past the limit, requests wait
    here, on the event loop, for a free slot instead.
    """

    def __init__(self, limit: int):
        super().__init__()
        self.slots = asyncio.Semaphore(limit)

    async def get_response_async(self, request):
        async with self.slots:
            response = await super().get_response_async(request)
            # Hand the connection back before the slot (Django would close it only once the
            # response is sent); same thread, so it is this request's connection.
            await sync_to_async(close_old_connections)()
            return response


django_application = BoundedASGIHandler(settings.WEB_MAX_CONCURRENT_REQUESTS)

from demo import activity as demo_activity  # noqa: E402  (needs Django set up)
from project import embedded_beat, warmup  # noqa: E402
from notifications import receipts_door  # noqa: E402
from notifications.sse.endpoint import EVENTS_PATH, sse_app  # noqa: E402
from notifications.sse import database as stream_database  # noqa: E402
from notifications.sse.gc_pauses import probe as gc_pause_probe  # noqa: E402
from notifications.sse.hub import hub  # noqa: E402

EVENTS_PATHS = (EVENTS_PATH, EVENTS_PATH.rstrip("/"))


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] in EVENTS_PATHS:
        await sse_app(scope, receive, send)
    elif scope["type"] == "http" and scope["path"] == receipts_door.RECEIPTS_PATH:
        await receipts_door.receipts_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await django_application(scope, receive, send)


async def _lifespan(receive, send):
    demo = beat = gc_pauses = None
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            _end_streams_on_exit_signals(asyncio.get_running_loop())
            gc_pauses = asyncio.create_task(gc_pause_probe.run())
            demo = demo_activity.start_if_enabled()  # make run only; refused when DEBUG is off
            beat = embedded_beat.start_if_embedded()  # no Redis, no Celery beat: this process runs its schedule
            await asyncio.to_thread(warmup.web_process_warm)  # before the server accepts a request
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if demo is not None:
                await asyncio.to_thread(demo.stop)
            if beat is not None:
                await asyncio.to_thread(beat.stop)
            gc_pauses.cancel()
            await hub.shutdown()
            await asyncio.to_thread(stream_database.threads.close)
            await receipts_door.writer.close()
            await send({"type": "lifespan.shutdown.complete"})
            return


def _end_streams_on_exit_signals(loop) -> None:
    """On SIGTERM or SIGINT, end every open stream, then hand the signal to the server's own handler.

    uvicorn waits for open responses (up to --timeout-graceful-shutdown) before the lifespan
    shutdown, and an SSE response never ends by itself: every stream waited out that timeout
    and was then cancelled with a traceback (10,000 streams: 15 s to stop). Ended at once,
    each stream sends its last chunk and its browser reconnects after its own retry delay.
    The server's handlers are installed before the lifespan starts, in the main thread.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    for sig in (signal.SIGTERM, signal.SIGINT):
        server_handler = signal.getsignal(sig)
        if not callable(server_handler):
            continue

        def handler(signum, frame, server_handler=server_handler):
            loop.call_soon_threadsafe(hub.stop_streams)
            server_handler(signum, frame)

        signal.signal(sig, handler)

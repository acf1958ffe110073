"""ASGI entry point: /events/ goes to the SSE app, /receipts/ to the receipts door, the rest to Django.

The SSE app runs outside Django's request cycle so that an open stream holds
no thread and no database connection (see notifications/sse/).
"""

import asyncio
import contextvars
import os
import signal
import threading
from concurrent.futures import ThreadPoolExecutor

import django
from asgiref.sync import sync_to_async
from django.conf import settings
from django.core import signals
from django.core.exceptions import RequestAborted
from django.core.handlers.asgi import ASGIHandler, get_script_prefix
from django.db import close_old_connections
from django.http import FileResponse
from django.urls import set_script_prefix

from project.env import load_settings_or_exit

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
load_settings_or_exit()
django.setup(set_prefix=False)


class ThreadedRequestsHandler(ASGIHandler):
    """Django's requests run as under a threaded WSGI server: each one whole on one thread of a pool.

    Django's own ASGI handler sends a request across threads five times (the request_started
    signal, the middleware, the URL resolution back on the event loop, the view, the
    request_finished signal), each crossing waiting its turn on an event loop that also serves
    thousands of streams: under load that waiting, not the view, was most of a bid's latency.
    Here the event loop reads the body and sends the response; everything between runs in one
    call on one of `limit` threads. At most `limit` requests are inside Django at once (each
    holds a database connection); the rest wait their turn in the pool's queue.
    """

    def __init__(self, limit: int):
        super().__init__()
        self.load_middleware(is_async=False)  # the synchronous chain, as under WSGI
        self.threads = ThreadPoolExecutor(max_workers=limit, thread_name_prefix="django-request")

    async def handle(self, scope, receive, send):
        try:
            body_file = await self.read_body(receive)
        except RequestAborted:
            return
        loop = asyncio.get_running_loop()
        try:
            response = await loop.run_in_executor(self.threads, contextvars.copy_context().run, self._respond, scope, body_file)
            await self.send_response(response, send)
            if response.streaming:  # closed once its content has been sent
                await sync_to_async(response.close)()
        finally:
            body_file.close()

    def _respond(self, scope, body_file):
        set_script_prefix(get_script_prefix(scope))
        signals.request_started.send(sender=self.__class__, scope=scope)
        request, response = self.create_request(scope, body_file)
        if request is not None:
            response = self.get_response(request)
        response._handler_class = self.__class__
        if isinstance(response, FileResponse):
            response.block_size = self.chunk_size
        if response.streaming:
            close_old_connections()  # this thread's connection back; the content is read elsewhere
        else:
            response.close()  # request_finished on this thread: its connection goes back before the send
        return response


django_application = ThreadedRequestsHandler(settings.WEB_MAX_CONCURRENT_REQUESTS)

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
            await asyncio.to_thread(warmup.web_process_warm, django_application.threads)  # before the server accepts a request
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

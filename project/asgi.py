"""ASGI entry point: /events/ goes to the SSE app, everything else to Django.

The SSE app runs outside Django's request cycle so that an open stream holds
no thread and no database connection (see notifications/streams.py).
"""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")
django_application = get_asgi_application()

from notifications.streams import hub, sse_app  # noqa: E402  (needs Django set up)

EVENTS_PATHS = ("/events/", "/events")


async def application(scope, receive, send):
    if scope["type"] == "http" and scope["path"] in EVENTS_PATHS:
        await sse_app(scope, receive, send)
    elif scope["type"] == "lifespan":
        await _lifespan(receive, send)
    else:
        await django_application(scope, receive, send)


async def _lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await hub.shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return

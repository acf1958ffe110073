"""Django's requests under the ASGI server run whole on one thread (project/asgi.py::ThreadedRequestsHandler).

Each crossing between the event loop and a thread waits its turn on a loop that also serves
the streams; Django's stock handler made five per request. Here a request crosses once: the
signals, the middleware and the view run together, and the request's database connection
is handed back (request_finished) before its response is sent.
"""

import asyncio
import json
import threading

import pytest
from django.core import signals
from rest_framework.authtoken.models import Token

import project.health
from project.asgi import application
from tests.factories import ClientFactory
from tests.notifications.factories import NotificationFactory

pytestmark = pytest.mark.django_db(transaction=True)


def get(path: str, log: list, headers: tuple = ()) -> list[dict]:
    """The ASGI messages the app sends for a GET of `path`; each is also logged, in order, in `log`."""
    sent = []

    async def run():
        request_read = False

        async def receive():
            nonlocal request_read
            if not request_read:
                request_read = True
                return {"type": "http.request", "body": b"", "more_body": False}
            await asyncio.Event().wait()  # the client stays connected

        async def send(message):
            log.append((message["type"], threading.current_thread()))
            sent.append(message)

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "GET", "scheme": "http",
            "path": path, "raw_path": path.encode(), "query_string": b"", "root_path": "",
            "headers": [(b"host", b"localhost"), *headers], "client": ("127.0.0.1", 50000), "server": ("localhost", 80),
        }
        await application(scope, receive, send)

    asyncio.run(run())
    return sent


def body(messages: list[dict]) -> bytes:
    return b"".join(m.get("body", b"") for m in messages if m["type"] == "http.response.body")


@pytest.fixture
def log(monkeypatch):
    """(what happened, on which thread), in order: the request's signals, the health view's database check, the sends."""
    log = []

    def started(**kwargs):
        log.append(("request_started", threading.current_thread()))

    def finished(**kwargs):
        log.append(("request_finished", threading.current_thread()))

    check_database = project.health._check_database

    def logged_check_database():
        log.append(("view", threading.current_thread()))
        return check_database()

    monkeypatch.setattr(project.health, "_check_database", logged_check_database)
    signals.request_started.connect(started)
    signals.request_finished.connect(finished)
    yield log
    signals.request_started.disconnect(started)
    signals.request_finished.disconnect(finished)


def test_a_request_runs_whole_on_one_thread_and_ends_before_its_response_is_sent(log):
    messages = get("/healthz", log)

    assert messages[0]["status"] == 200
    assert json.loads(body(messages))["checks"]["database"] == "ok"
    assert [what for what, _ in log] == [
        "request_started", "view", "request_finished", "http.response.start", "http.response.body",
    ]
    django_threads = {thread for what, thread in log if not what.startswith("http.")}
    assert len(django_threads) == 1
    assert django_threads != {threading.current_thread()}, "not on the event loop's thread"


def test_threads_are_reused_across_requests(log, settings):
    # Not always the same thread: a pool thread may hand back its result before it counts
    # itself idle, and the pool then starts another, up to its bound. Never one per request.
    requests = 3 * settings.WEB_MAX_CONCURRENT_REQUESTS
    for _ in range(requests):
        get("/healthz", log)

    threads = {thread for what, thread in log if what == "view"}
    assert len([what for what, _ in log if what == "view"]) == requests
    assert len(threads) <= settings.WEB_MAX_CONCURRENT_REQUESTS


def test_a_streamed_response_is_sent_whole_and_ends_after_its_last_chunk(log):
    client = ClientFactory()
    NotificationFactory.create_batch(3, recipient=client)
    token = Token.objects.create(user=client)

    messages = get("/api/notifications/export/", log, headers=((b"authorization", f"Token {token.key}".encode()),))

    assert messages[0]["status"] == 200
    assert len(json.loads(body(messages))["notifications"]) == 3
    events = [what for what, _ in log]
    assert events.index("request_finished") > len(events) - 1 - events[::-1].index("http.response.body")

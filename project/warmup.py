"""A fresh process pays its one-time costs before it takes work, not on its first requests.

A new web process answered its first bids in 250-430 ms (~20 ms warm): the first request
imported every view (Django builds the URL map lazily), opened the pool's first connection
and compiled the bid's query shapes, while the bids of its first second queued behind it.
Each worker process's first event took ~300 ms the same way. After a deploy that is a burst
of late notifications every time. So the web process warms up in its lifespan startup,
before it accepts a request, and a worker warms up before it forks its pool processes
(they inherit what it built) and each pool process opens its own connections.

Warming up is an optimisation: a step that fails (the database is down) is logged and the
process starts anyway; /healthz says what is down.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Executor

from django.conf import settings
from django.db import connection
from django.urls import get_resolver

logger = logging.getLogger(__name__)

# Request threads each web process starts with, each with a pooled connection on which the
# API's statements are prepared: enough for a steady evening's requests (50 bids/s keep 1-3
# busy); a burst starts more, up to WEB_MAX_CONCURRENT_REQUESTS, and they warm as they go.
WEB_REQUEST_THREADS_AT_START = 4


def web_process_warm(request_threads: Executor) -> None:
    """Before a web process takes requests (blocking: run it off the event loop); `request_threads`
    runs the requests (project/asgi.py)."""
    count = min(WEB_REQUEST_THREADS_AT_START, settings.WEB_MAX_CONCURRENT_REQUESTS)
    try:
        _step("code", _code_warm)
        if _step("database connections", _database_connections_open, count):
            _step("request threads", _request_threads_prime, request_threads, count)  # not waited for twice
        _step("event transport", _transport_connect)
        _step("task queue", _task_queue_connect)
        _step("cache", _cache_connect)
    finally:
        connection.close()  # this thread's, back to the pool: no request will run on this thread


def worker_warm() -> None:
    """In a worker's main process, before it forks its pool: what every pool process inherits."""
    _step("code", _code_warm)


def worker_process_connect() -> None:
    """In each pool process, once it has its own (not inherited) connections to make."""
    if _step("database connection", _database_connections_open, 1):
        _step("event queries", _event_queries_prepare)
    _step("event transport", _transport_connect)


def _step(name: str, function, *args) -> bool:
    try:
        function(*args)
    except Exception:  # noqa: BLE001 - a process that cannot warm up still starts
        logger.warning("Warm-up step %r failed; the first requests will pay for it.", name, exc_info=True)
        return False
    return True


def _code_warm() -> None:
    # Imports every URLconf and view module and builds the URL map (the first reverse() or
    # resolve() would), then the serializer every frame and replayed row goes through.
    get_resolver().reverse_dict
    from notifications.sse.frames import payload_serializer_prepare

    payload_serializer_prepare()


def _database_connections_open(count: int) -> None:
    pool = getattr(connection, "pool", None)
    if pool is None:  # no pool (SQLite, DATABASE_POOL=0): this thread's connection
        connection.ensure_connection()
        return
    # Borrowed together, so that each is a new one, and handed back: they stay in the pool
    # while in use (up to its max_idle). Not pool.wait(): on a timeout it closes the pool for good.
    pool.open()
    borrowed = []
    try:
        for _ in range(count):
            borrowed.append(pool.getconn(timeout=5))
    finally:
        for conn in borrowed:
            pool.putconn(conn)


def _event_queries_prepare() -> None:
    # A pool process's first event compiled five query shapes and had PostgreSQL parse and plan
    # them on a cold session: 48 ms against 10 ms for the next one (in-process).
    from notifications import plans, rendering
    from notifications.outbox import direct, dispatch

    dispatch.event_lock_prepare()
    plans.named_queries_prepare()
    rendering.active_template_read_prepare()
    direct.rows_read_prepare()


def _request_threads_prime(threads: Executor, count: int) -> None:
    """Start `count` request threads, each preparing the API's statements on a connection of its own.

    A fresh PostgreSQL session plans its first statements at several times the cost (its
    catalog caches are cold) and each session prepares its own; the pool lends its connections
    in turn, so the first bids met up to 20 cold ones. Each thread holds its connection until
    all have one, so that they are `count` different ones.
    """
    together = threading.Barrier(count, timeout=10)

    def prime():
        try:
            _api_queries_prepare()
            together.wait()
        except Exception:
            together.abort()  # the others stop waiting
            raise
        finally:
            connection.close()  # back to the pool, warm

    for future in [threads.submit(prime) for _ in range(count)]:
        future.result()


def _api_queries_prepare() -> None:
    from jobs.authentication import token_query_prepare
    from jobs.selectors import job_for_bid_prepare

    token_query_prepare()
    job_for_bid_prepare()


def _task_queue_connect() -> None:
    # The first task sent finalized the Celery app (every task registered), imported the broker's
    # transport, built the producer pool, connected and declared the queues: 85 ms of the first
    # bid's 118. All of it but the send itself, here. Without a broker (tasks run in-process)
    # there is nothing to connect; with the broker down, fail at once rather than retry.
    from celery.result import AsyncResult  # noqa: F401 - imported by the first send otherwise

    from celery_app import app

    app.finalize(auto=True)
    app.backend  # noqa: B018 - looked up through the installed packages' entry points on first use
    if app.conf.task_always_eager:
        return
    with app.producer_or_acquire() as producer:
        producer.connection.ensure_connection(max_retries=1, interval_start=0)
        for queue in app.amqp.queues.values():
            producer.maybe_declare(queue)


def _cache_connect() -> None:
    from django.core.cache import cache

    cache.get("warm-up")  # its connection: the throttles read the cache on every write


def _transport_connect() -> None:
    from notifications.sse import transports

    transports.current().connect()

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

from django.conf import settings
from django.db import connection
from django.urls import get_resolver

logger = logging.getLogger(__name__)

# Connections each web process opens at start: enough for a steady evening's requests; a
# burst opens more, up to the pool's maximum.
WEB_CONNECTIONS_AT_START = 2


def web_process_warm() -> None:
    """Before a web process takes requests (blocking: run it off the event loop)."""
    try:
        _step("code", _code_warm)
        if _step("database connections", _database_connections_open, WEB_CONNECTIONS_AT_START):
            _step("API query shapes", _api_queries_prepare)  # needs the database: not waited for twice
        _step("event transport", _transport_connect)
    finally:
        connection.close()  # this thread's, back to the pool: no request will run on this thread


def worker_warm() -> None:
    """In a worker's main process, before it forks its pool: what every pool process inherits."""
    _step("code", _code_warm)


def worker_process_connect() -> None:
    """In each pool process, once it has its own (not inherited) connections to make."""
    _step("database connection", _database_connections_open, 1)
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


def _api_queries_prepare() -> None:
    from jobs.authentication import token_query_prepare
    from jobs.selectors import job_for_bid_prepare

    token_query_prepare()
    job_for_bid_prepare()


def _transport_connect() -> None:
    from notifications.sse import transports

    transports.current().connect()

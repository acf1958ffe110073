"""The Celery worker's metrics port (METRICS_WORKER_PORT), started in the worker's main process.

The pool's children run the tasks; with PROMETHEUS_MULTIPROC_DIR they write their values
there and this server sums them (prefork needs it: without it only the main process's
values, which no task touches, would show). Same lock as the web's /metrics.
"""

from __future__ import annotations

import logging
import os
import threading
from wsgiref.simple_server import WSGIRequestHandler, make_server

from django.conf import settings
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest, multiprocess
from prometheus_client.exposition import ThreadingWSGIServer

from project.metrics_access import metrics_access_allowed
from project.metrics_view import metrics_registry

logger = logging.getLogger(__name__)


def metrics_wsgi_app(environ, start_response):
    if environ.get("PATH_INFO", "/") not in ("/", "/metrics"):
        start_response("404 Not Found", [("Content-Type", "text/plain")])
        return [b"Not found.\n"]
    if not metrics_access_allowed(client_address=environ.get("REMOTE_ADDR"), authorization=environ.get("HTTP_AUTHORIZATION")):
        start_response("403 Forbidden", [("Content-Type", "text/plain")])
        return [b"Metrics need the bearer token (METRICS_TOKEN) or, without one, a loopback client.\n"]
    body = generate_latest(metrics_registry(with_backlog=False))
    start_response("200 OK", [("Content-Type", CONTENT_TYPE_LATEST), ("Content-Length", str(len(body)))])
    return [body]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format, *args):  # one line per scrape would flood the worker's log
        pass


def worker_metrics_serve() -> None:
    """Serve the worker's metrics on METRICS_WORKER_ADDR:METRICS_WORKER_PORT in a daemon thread (unset port: off)."""
    port = settings.METRICS_WORKER_PORT
    if not port:
        return
    server = make_server(settings.METRICS_WORKER_ADDR, port, metrics_wsgi_app, ThreadingWSGIServer, handler_class=_QuietHandler)
    threading.Thread(target=server.serve_forever, name="metrics-server", daemon=True).start()
    logger.info("Worker metrics on http://%s:%s/metrics", settings.METRICS_WORKER_ADDR, port)


def worker_process_exited(pid: int) -> None:
    """A pool child is gone: drop its live gauges from the sums (its counters stay counted)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)

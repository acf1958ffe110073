"""GET /metrics: the web processes' metrics and the outbox backlog, in the Prometheus text format.

Under uvicorn --workers N each worker process answers for all of them by reading
PROMETHEUS_MULTIPROC_DIR; without it (one process) the process's own registry is read.
"""

import os

from django.http import HttpResponse, HttpResponseForbidden
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest, multiprocess

from notifications.metrics import OutboxBacklogCollector
from project.metrics_access import metrics_access_allowed


def metrics_registry(*, with_backlog: bool) -> CollectorRegistry:
    """What a scrape reads: every process of the multiprocess directory, or this process alone."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_ProcessRegistry())
    if with_backlog:
        registry.register(OutboxBacklogCollector())
    return registry


class _ProcessRegistry:
    """The default registry (this process's metrics) as one collector of a scrape's registry."""

    def collect(self):
        return REGISTRY.collect()


@require_GET
def metrics(request):
    if not metrics_access_allowed(
        client_address=request.META.get("REMOTE_ADDR"), authorization=request.headers.get("Authorization")
    ):
        return HttpResponseForbidden("Metrics need the bearer token (METRICS_TOKEN) or, without one, a loopback client.")
    body = generate_latest(metrics_registry(with_backlog=True))
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)

"""Prometheus metrics of the notification pipeline: their definitions and the one-line hooks that move them.

Each hop calls one function here (outbox dispatch/delivery/failures, the SSE endpoint),
so the pipeline's modules name no metric. Counters are per chunk or per event, never per
notification row: a 5,000-recipient chunk costs a handful of increments.

With PROMETHEUS_MULTIPROC_DIR set (uvicorn --workers, Celery's prefork pool) every
process writes its values to files there and /metrics (project/metrics_view.py) or the
worker's port (project/metrics_server.py) sums them; the variable must be set before
this module is imported, and the directory emptied when the service starts.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import Count, Min
from django.utils import timezone
from prometheus_client import Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily

from .models import OutboxChunk, OutboxEvent, OutboxStatus

# Audiences: one cleaner to every cleaner of a big city.
RECIPIENT_BUCKETS = (0, 1, 10, 100, 1_000, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000)
# Seconds: a fan-out of one row to one of 100,000.
FANOUT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
# Seconds from the event's commit to a page's receipt.
DELIVERY_BUCKETS = (0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600)
# Seconds the garbage collector stopped a process: a young pass to a full one over 10,000 streams.
GC_PAUSE_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5)

events_total = Counter(
    "notification_events", "Outbox events finished (all their notifications stored and published), by type.", ["type"]
)
fanout_seconds = Histogram(
    "notification_fanout_duration_seconds",
    "Seconds from an outbox event's recording to its last chunk's delivery.",
    buckets=FANOUT_BUCKETS,
)
fanout_recipients = Histogram(
    "notification_fanout_recipients", "Notifications stored per finished outbox event.", buckets=RECIPIENT_BUCKETS
)
stored_total = Counter("notifications_stored", "Notification rows inserted by the fan-out.")
published_total = Counter("notifications_published", "Notification frames handed to the transport (Redis or in-process).")
chunk_retries_total = Counter("outbox_chunk_retries", "Failed attempts of outbox chunks (non-transient errors, retried).")
chunk_failures_total = Counter("outbox_chunk_failures", "Outbox chunks given up on after their last attempt.")
open_streams = Gauge("sse_open_streams", "Open /events/ streams.", multiprocess_mode="livesum")
stream_opens_total = Counter("sse_stream_opens", "/events/ streams opened.")
stream_closes_total = Counter("sse_stream_closes", "/events/ streams closed, by reason.", ["reason"])
delivery_seconds = Histogram(
    "notification_commit_to_delivered_seconds",
    "Seconds from the outbox event's commit to the first page's receipt of its notification.",
    buckets=DELIVERY_BUCKETS,
)
gc_pause_seconds = Histogram(
    "python_gc_pause_seconds", "Seconds the cyclic garbage collector stopped the web process, by generation.",
    ["generation"], buckets=GC_PAUSE_BUCKETS,
)
gc_pause_cpu_seconds = Counter(
    "python_gc_pause_cpu_seconds", "CPU seconds of the garbage collector's generation 1 and 2 pauses (see python_gc_pause_seconds).",
    ["generation"],
)
retention_deleted_total = Counter(
    "notifications_retention_deleted", "Notification rows removed by the retention purge, by type.", ["type"]
)

# Why a stream ended when the server did not close it (hub.Listener.closed_reason is None).
CLIENT_GONE = "client_gone"


def outbox_event_finished(*, event_type: str, recorded_at: datetime, recipient_count: int) -> None:
    events_total.labels(type=event_type).inc()
    fanout_recipients.observe(recipient_count)
    fanout_seconds.observe(max((timezone.now() - recorded_at).total_seconds(), 0.0))


def notifications_stored(count: int) -> None:
    stored_total.inc(max(count, 0))


def notifications_published(count: int) -> int:
    published_total.inc(count)
    return count


def outbox_chunk_attempt_failed(*, given_up: bool) -> None:
    chunk_retries_total.inc()
    if given_up:
        chunk_failures_total.inc()


def retention_deleted(counts: dict[str, int]) -> None:
    for notification_type, count in counts.items():
        retention_deleted_total.labels(type=notification_type).inc(count)


def stream_opened() -> None:
    stream_opens_total.inc()
    open_streams.inc()


def stream_closed(reason: str | None) -> None:
    stream_closes_total.labels(reason=reason or CLIENT_GONE).inc()
    open_streams.dec()


def gc_paused(*, generation: int, seconds: float, cpu_seconds: float | None) -> None:
    gc_pause_seconds.labels(generation=str(generation)).observe(seconds)
    if cpu_seconds is not None:
        gc_pause_cpu_seconds.labels(generation=str(generation)).inc(max(cpu_seconds, 0.0))


def delivery_latency_observe(seconds: float) -> None:
    """Commit-to-delivered: call once per notification when its first delivered receipt is stored."""
    delivery_seconds.observe(max(seconds, 0.0))


class OutboxBacklogCollector:
    """Gauges read from the database at scrape time: what the outbox has yet to deliver.

    Registered by the web's /metrics only (one reader is enough: every process sees the
    same rows). Both queries use the partial index of unfinished events.
    """

    def collect(self):
        unfinished = (OutboxStatus.PENDING, OutboxStatus.DISPATCHED)
        events = OutboxEvent.objects.filter(status__in=unfinished).aggregate(count=Count("pk"), oldest=Min("created_at"))
        chunks = OutboxChunk.objects.filter(event__status__in=unfinished, is_done=False, is_failed=False).count()
        backlog = GaugeMetricFamily("outbox_backlog", "Outbox work not yet delivered, by kind.", labels=["kind"])
        backlog.add_metric(["events"], events["count"])
        backlog.add_metric(["chunks"], chunks)
        yield backlog
        oldest = events["oldest"]
        age = (timezone.now() - oldest).total_seconds() if oldest else 0.0
        yield GaugeMetricFamily("outbox_oldest_pending_age_seconds", "Age of the oldest unfinished outbox event (0: none).", value=age)


channel_deliveries_total = Counter(
    "notification_channel_deliveries", "Email and push deliveries finished, by channel and state (sent, failed, cancelled, pending = retry).",
    ["channel", "state"],
)


def channel_deliveries_finished(*, channel: str, state: str, count: int) -> None:
    channel_deliveries_total.labels(channel=channel, state=state).inc(count)

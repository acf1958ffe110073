"""Celery tasks: thin wrappers that take ids, call a service, and retry transient errors.

All of them are idempotent; the services re-check the world before acting.
"""

from celery import shared_task

from . import services
from .outbox_failures import TRANSIENT_ERRORS  # a database restart or a Redis blip: retried with backoff

RETRYING = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(name="notifications.process_event", **RETRYING)
def process_outbox_event(event_id: int) -> None:
    services.outbox_event_process(event_id=event_id)


@shared_task(name="notifications.process_chunk", **RETRYING)
def process_outbox_chunk(chunk_id: int) -> None:
    services.outbox_chunk_process(chunk_id=chunk_id)


@shared_task(name="notifications.requeue_stale_outbox", **RETRYING)
def requeue_stale_outbox() -> dict:
    return services.outbox_requeue_stale()


@shared_task(name="notifications.schedule_due_reminders", **RETRYING)
def schedule_due_reminders() -> int:
    return services.reminders_schedule_due()

"""Giving up on outbox work that fails for a reason a retry will not fix.

Transient errors (a database restart, a Redis blip) are retried by Celery with
backoff and by the sweeper, without limit. Any other error is counted on the row
with its message; at the last allowed attempt the row is marked failed, which the
sweeper skips, the admin lists and /healthz reports, until staff retry it.
"""

import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial

from django.db import InterfaceError, OperationalError, transaction
from django.db.models import F
from django.utils import timezone
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from .. import metrics
from ..models import OutboxChunk, OutboxEvent, OutboxStatus

logger = logging.getLogger(__name__)

# A database restart or a Redis blip: retried without limit.
TRANSIENT_ERRORS = (OperationalError, InterfaceError, RedisConnectionError, RedisTimeoutError)
# Any other error: counted, and the row is failed at this attempt.
OUTBOX_MAX_ATTEMPTS = 10

# Options of every outbox task: transient errors retried by Celery with backoff and jitter.
RETRY_TRANSIENT = {
    "autoretry_for": TRANSIENT_ERRORS,
    "retry_backoff": 1,
    "retry_backoff_max": 60,
    "retry_jitter": True,
    "max_retries": 8,
}


@contextmanager
def counting_failed_attempts(record: Callable[..., None], **row) -> Iterator[None]:
    """Run one attempt of outbox work; a non-transient error is recorded on the row, then re-raised.

    `record` is outbox_event_attempt_failed or outbox_chunk_attempt_failed, `row` its id.
    """
    try:
        yield
    except TRANSIENT_ERRORS:
        raise
    except Exception as exc:
        record(**row, error=describe_error(exc), max_attempts=OUTBOX_MAX_ATTEMPTS)
        raise


def describe_error(exc: BaseException) -> str:
    return f"{exc.__class__.__name__}: {exc}"[:2000]


def outbox_failed_event_count() -> int:
    return OutboxEvent.objects.filter(status=OutboxStatus.FAILED).count()


@transaction.atomic
def outbox_event_attempt_failed(*, event_id: int, error: str, max_attempts: int) -> None:
    """Count an event's failed attempt and store its error (the attempt's own count rolled back with it)."""
    event = OutboxEvent.objects.select_for_update().filter(pk=event_id).first()
    if event is None or event.status != OutboxStatus.PENDING:
        return
    event.attempts += 1
    event.last_error = error
    if event.attempts >= max_attempts:
        event.status = OutboxStatus.FAILED
        logger.error("Outbox event %s failed after %s attempts: %s", event_id, event.attempts, error)
    event.save(update_fields=["attempts", "last_error", "status", "updated_at"])


@transaction.atomic
def outbox_chunk_attempt_failed(*, chunk_id: int, error: str, max_attempts: int) -> None:
    """Count a failed attempt of a chunk; at the last one fail the chunk and its event."""
    counted = OutboxChunk.objects.filter(pk=chunk_id, is_done=False, is_failed=False).update(
        attempts=F("attempts") + 1, last_error=error, updated_at=timezone.now()
    )
    chunk = OutboxChunk.objects.filter(pk=chunk_id).values("attempts", "event_id", "is_failed").first()
    if counted:
        transaction.on_commit(partial(metrics.outbox_chunk_attempt_failed, given_up=chunk["attempts"] >= max_attempts))
    if chunk is None or chunk["is_failed"] or chunk["attempts"] < max_attempts:
        return
    OutboxChunk.objects.filter(pk=chunk_id).update(is_failed=True)
    OutboxEvent.objects.filter(pk=chunk["event_id"]).exclude(status=OutboxStatus.DONE).update(
        status=OutboxStatus.FAILED, last_error=f"chunk {chunk_id}: {error}", updated_at=timezone.now()
    )
    logger.error("Outbox chunk %s failed after %s attempts: %s", chunk_id, chunk["attempts"], error)

"""The outbox's chunk counters move once per failed attempt and once per chunk given up on."""

import pytest
from prometheus_client import REGISTRY

from notifications.catalog import NotificationType
from notifications.models import OutboxChunk, OutboxEvent, OutboxStatus
from notifications.outbox import failures

pytestmark = pytest.mark.django_db(transaction=True)  # the counters move on commit


def counted() -> tuple[float, float]:
    return (
        REGISTRY.get_sample_value("outbox_chunk_retries_total") or 0.0,
        REGISTRY.get_sample_value("outbox_chunk_failures_total") or 0.0,
    )


def test_each_failed_attempt_is_a_retry_and_the_last_one_a_failure_counted_once():
    event = OutboxEvent.objects.create(event_type=NotificationType.SYSTEM_ALERT, payload={}, status=OutboxStatus.DISPATCHED)
    chunk = OutboxChunk.objects.create(event=event, first_recipient_id=1, last_recipient_id=2, recipient_ids=[1, 2])
    retries, failed = counted()

    failures.outbox_chunk_attempt_failed(chunk_id=chunk.pk, error="ValueError: bad", max_attempts=2)
    assert counted() == (retries + 1, failed)
    failures.outbox_chunk_attempt_failed(chunk_id=chunk.pk, error="ValueError: bad", max_attempts=2)
    assert counted() == (retries + 2, failed + 1)
    # A late duplicate report on a chunk already given up on counts nothing.
    failures.outbox_chunk_attempt_failed(chunk_id=chunk.pk, error="ValueError: bad", max_attempts=2)
    assert counted() == (retries + 2, failed + 1)
